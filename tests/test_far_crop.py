"""The far-range crop: it finds far cars the full-frame pass misses, without fragmenting near ones,
with FastestDet and with YOLOX-Nano at its default 416x256 (benchmarks/detector_sizes.py measures
it on the hand-labelled real frames: far-car recall against time per frame).

The tight crop (``detector.far_crop.tight``) for wide-angle lenses: a car 9-11.5 px wide through
a 110-degree lens, which the far crop misses, is found once the focal length says the lens is wide.

Labels in tests/data/udacity_far_cars.json were set by eye on upscaled crops of the frames.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fcw.boxes import containment, iou_matrix
from fcw.config import CameraConfig, DetectorConfig, FarCropConfig
from fcw.perception.detector import (
    CropWindow,
    Detector,
    drop_cut_boxes,
    drop_fragments,
    far_crop_window,
    far_crop_windows,
    hfov_deg,
    tight_crop_on,
)
from fcw.types import Detections, Frame

LABELS = json.loads(
    (Path(__file__).parent / "data" / "udacity_far_cars.json").read_text())["frames"]
FRAMES = sorted(LABELS)


def _labels(name, kind):
    return np.array([b["xyxy"] for b in LABELS[name][kind]], float)


@pytest.fixture(scope="module")
def yolox_backend(models_dir):
    """YOLOX-Nano as fcw runs it by default: at the spec's run size (416x256)."""
    from engines.backends import create_backend
    from engines.input_size import with_input_size
    from engines.spec import load_spec
    from engines.store import resolve_model

    spec = load_spec("yolox_nano")
    b = create_backend("onnxruntime", *with_input_size(spec, resolve_model(spec, models_dir,
                                                                           download=False), None))
    yield b
    b.close()


@pytest.fixture(scope="module", params=["fastestdet", "yolox_nano"])
def detections(request, highway_images):
    """{(frame, far crop on?): Detections} with otherwise default settings, for each model."""
    backend = request.getfixturevalue(f"{request.param.split('_')[0]}_backend")
    out = {}
    for crop in (False, True):
        det = Detector(backend, DetectorConfig(model=request.param,
                                               far_crop=FarCropConfig(enabled=crop)),
                       CameraConfig())
        for name in FRAMES:
            out[name, crop] = det.update(Frame(0, 0.0, highway_images[name]))
    return out


def _covers(dets: Detections, labels: np.ndarray) -> np.ndarray:
    """(n_labels,) a detection holds the label's centre and at least half of the label's area."""
    if not len(dets):
        return np.zeros(len(labels), bool)
    cx, cy = (labels[:, 0] + labels[:, 2]) / 2, (labels[:, 1] + labels[:, 3]) / 2
    x1, y1, x2, y2 = (dets.xyxy[:, i][None, :] for i in range(4))
    centre_in = ((x1 <= cx[:, None]) & (cx[:, None] <= x2)
                 & (y1 <= cy[:, None]) & (cy[:, None] <= y2))
    return (centre_in & (containment(labels, dets.xyxy) >= 0.5)).any(axis=1)


@pytest.mark.parametrize("name", FRAMES)
def test_full_frame_alone_misses_far_cars(detections, name):
    far, dets = _labels(name, "far"), detections[name, False]
    assert len(dets) >= 2  # the near cars are there: the pass ran
    assert (iou_matrix(far, dets.xyxy) <= 0.3).all()
    assert not _covers(dets, far).any()


@pytest.mark.parametrize("name", FRAMES)
def test_far_crop_finds_far_cars(detections, name):
    far, dets = _labels(name, "far"), detections[name, True]
    assert _covers(dets, far).all()
    assert (iou_matrix(far, dets.xyxy) > 0.1).any(axis=1).all()


@pytest.mark.parametrize("name", FRAMES)
def test_far_crop_localises_far_cars(detections, name):
    far, dets = _labels(name, "far"), detections[name, True]
    assert (iou_matrix(far, dets.xyxy) > 0.3).any(axis=1).all()


@pytest.mark.parametrize("name", FRAMES)
@pytest.mark.parametrize("crop", [False, True])
def test_near_cars_found_once(detections, name, crop):
    near, dets = _labels(name, "near"), detections[name, crop]
    iou = iou_matrix(near, dets.xyxy)
    assert (iou.max(axis=1) > 0.5).all()             # each near car is found ...
    assert ((iou > 0.1).sum(axis=1) == 1).all()      # ... by exactly one box, no fragments
    assert (containment(dets.xyxy, near) > 0.5).sum() == len(near)


def test_crop_on_keeps_full_frame_boxes(detections):
    for name in FRAMES:
        off, on = detections[name, False], detections[name, True]
        assert len(on) > len(off)
        assert (iou_matrix(off.xyxy, on.xyxy).max(axis=1) > 0.9).all()


# --- unit cases --------------------------------------------------------------------------------

def test_crop_window_around():
    assert CropWindow.around(640, 396, 512, 252, 1280, 720) == CropWindow(384, 270, 896, 522)
    assert CropWindow.around(10, 10, 100, 50, 200, 100) == CropWindow(0, 0, 100, 50)  # shifted in
    assert CropWindow.around(195, 95, 100, 50, 200, 100) == CropWindow(100, 50, 200, 100)
    assert CropWindow.around(100, 50, 300, 50, 200, 100) == CropWindow(0, 25, 200, 75)  # too wide
    # default config on a 1280x720 frame: 0.3 x 0.4 of it (384 x 288) around (640, 360)
    assert (far_crop_window(DetectorConfig(), CameraConfig(), 1280, 720)
            == CropWindow(448, 216, 832, 504))


def _d(rows):
    a = np.asarray(rows, np.float32).reshape(-1, 4)
    return Detections(a, np.full(len(a), 0.5, np.float32), np.full(len(a), 2, np.int32))


def test_drop_cut_boxes_inner_window():
    win = CropWindow(100, 50, 300, 150)  # every edge inside a 400x200 frame
    dets = _d([(150, 80, 200, 120),   # inside: kept
               (101, 80, 150, 120),   # touches the left edge: cut
               (104, 80, 150, 120),   # 4 px in: kept
               (250, 80, 298, 120),   # touches the right edge: cut
               (150, 52, 200, 120),   # top
               (150, 80, 200, 148)])  # bottom
    kept = drop_cut_boxes(dets, win, 400, 200)
    assert kept.xyxy.tolist() == [[150, 80, 200, 120], [104, 80, 150, 120]]


def test_drop_cut_boxes_frame_edges_are_not_cuts():
    win = CropWindow(0, 0, 200, 100)  # left and top edges are the frame's
    dets = _d([(0, 0, 50, 50), (0, 10, 50, 99), (120, 1, 199, 50)])
    assert drop_cut_boxes(dets, win, 400, 200).xyxy.tolist() == [[0, 0, 50, 50]]
    whole = CropWindow(0, 0, 400, 200)
    assert len(drop_cut_boxes(_d([(0, 0, 400, 200)]), whole, 400, 200)) == 1
    assert len(drop_cut_boxes(Detections.empty(), win, 400, 200)) == 0


def test_drop_fragments():
    full = _d([(0, 0, 100, 100)])
    crop = _d([(60, 0, 100, 50),     # a piece of the full-frame car (inside it, IoU 0.2): dropped
               (2, 2, 100, 100),     # a duplicate (IoU 0.96): left to NMS
               (200, 0, 250, 50),    # another car: kept
               (80, 0, 180, 100)])   # overlaps only 20 %: kept
    assert drop_fragments(crop, full, 0.45).xyxy.tolist() == [[2, 2, 100, 100], [200, 0, 250, 50],
                                                              [80, 0, 180, 100]]
    assert len(drop_fragments(crop, Detections.empty(), 0.45)) == 4
    assert len(drop_fragments(Detections.empty(), full, 0.45)) == 0


def test_drop_nested_removes_half_boxes_of_a_near_car():
    from fcw.perception.detector import drop_nested

    whole, half, other = [100, 100, 300, 200], [190, 105, 300, 200], [400, 100, 450, 140]
    dets = Detections(np.float32([whole, half, other]), np.float32([0.9, 0.5, 0.4]),
                      np.int32([2, 2, 2]))
    kept = drop_nested(dets)
    assert kept.xyxy.tolist() == [whole, other]
    # A nested box that scored higher than its container is kept: the container may be the error.
    dets = Detections(np.float32([whole, half]), np.float32([0.5, 0.9]), np.int32([2, 2]))
    assert len(drop_nested(dets)) == 2


# --- the tight crop, for wide-angle lenses -----------------------------------------------------

def test_hfov_from_focal_length():
    from fcw.scenarios.camera import get_camera

    # The renderer's own pinhole model (fcw/scenarios/camera.py) as the reference.
    for name in ("centred", "wide"):
        cam = get_camera(name)
        assert hfov_deg(cam.focal_px, cam.width) == pytest.approx(cam.hfov_deg, abs=1e-9)
    assert hfov_deg(640.0, 1280) == pytest.approx(90.0)  # f = half the width: 45 deg each side


def test_tight_crop_runs_for_a_known_wide_lens_only():
    auto = FarCropConfig()  # tight: auto, from 90 degrees
    assert not tight_crop_on(auto, None, 1280)           # focal length unknown
    assert not tight_crop_on(auto, 1108.5, 1280)         # 60 degrees
    assert tight_crop_on(auto, 448.1, 1280)              # 110 degrees
    assert tight_crop_on(auto, 640.0, 1280)              # 90 degrees: the bound is inclusive
    assert tight_crop_on(FarCropConfig(tight="on"), None, 1280)
    assert not tight_crop_on(FarCropConfig(tight="off"), 448.1, 1280)


def test_tight_crop_window():
    wide = CameraConfig(focal_px=448.1)
    far, tight = far_crop_windows(DetectorConfig(), wide, 1280, 720)
    assert tight == CropWindow(560, 310, 720, 411)       # 160 x 101 px around (640, 360)
    assert far == far_crop_window(DetectorConfig(), wide, 1280, 720)
    # both follow the vanishing point the geometry stage tells
    far, tight = far_crop_windows(DetectorConfig(), wide, 1280, 720, (700.0, 330.0))
    assert (tight.x0 + tight.x1) / 2 == 700
    assert (tight.y0 + tight.y1) / 2 == pytest.approx(330, abs=1)
    assert far_crop_windows(DetectorConfig(), CameraConfig(), 1280, 720) == (
        far_crop_window(DetectorConfig(), CameraConfig(), 1280, 720),)


@pytest.mark.parametrize("style", [0, 1, 2])
@pytest.mark.parametrize("range_m", [70.0, 90.0])
def test_tight_crop_finds_far_car_through_wide_lens(yolox_backend, style, range_m):
    """A car 9-11.5 px wide at 70-90 m through the 110-degree lens: the far crop misses it, the
    tight crop, on once the focal length says the lens is wide, boxes it."""
    from fcw.scenarios.camera import get_camera
    from fcw.scenarios.render import render_still

    cam = get_camera("wide")
    img, box = render_still(range_m, style=style, cam=cam)
    truth = np.asarray(box, float)[None]
    found = {}
    for focal_px in (None, cam.focal_px):
        det = Detector(yolox_backend, DetectorConfig(), CameraConfig(focal_px=focal_px))
        inp = det.prepare(Frame(0, 0.0, img))
        assert len(inp.windows) == (1 if focal_px is None else 2)
        dets = det.decode(Frame(0, 0.0, img), det.run(inp))
        found[focal_px] = iou_matrix(truth, dets.xyxy).max() if len(dets) else 0.0
    assert found[None] < 0.3
    assert found[cam.focal_px] >= 0.5
