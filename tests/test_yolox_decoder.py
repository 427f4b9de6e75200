"""YOLOX-Nano: pre-processing and the vectorised decoder against slow references, on real frames.

Both references are written from the model's description in shared/README.md and YOLOX's own
``preproc`` / ``demo_postprocess`` (github.com/Megvii-BaseDetection/YOLOX,
yolox/data/data_augment.py and yolox/utils/demo_utils.py), one anchor point at a time in float64,
not from fcw's code.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from dettools import assert_matches_reference

from engines.backends import create_backend
from engines.input_size import with_input_size
from engines.spec import load_spec
from engines.store import resolve_model
from fcw.boxes import iou_matrix
from fcw.config import CameraConfig, DetectorConfig, FarCropConfig
from fcw.perception.decoders import make_decoder
from fcw.perception.detector import Detector
from fcw.perception.yolox import YoloxDecoder
from fcw.types import Frame

KEEP = np.array([2, 3, 5, 7, 9])  # car, motorbike, bus, truck, traffic light
LABELS = json.loads(
    (Path(__file__).parent / "data" / "udacity_far_cars.json").read_text())["frames"]


def reference_preproc(img, input_h, input_w):
    """YOLOX's ``preproc`` (swap=(2, 0, 1), no mean/std since YOLOX 0.2): letterbox top-left."""
    padded = np.ones((input_h, input_w, 3), dtype=np.uint8) * 114
    r = min(input_h / img.shape[0], input_w / img.shape[1])
    resized = cv2.resize(img, (int(img.shape[1] * r), int(img.shape[0] * r)),
                         interpolation=cv2.INTER_LINEAR).astype(np.uint8)
    padded[: int(img.shape[0] * r), : int(img.shape[1] * r)] = resized
    return np.ascontiguousarray(padded.transpose(2, 0, 1), dtype=np.float32), r


def reference_decode(out, thr, input_w, input_h, r, width, height, keep=None):
    """[(x1, y1, x2, y2, score, cls)] for every anchor point above ``thr``, in image pixels."""
    rows, i = [], 0
    for stride in (8, 16, 32):
        for gy in range(input_h // stride):
            for gx in range(input_w // stride):
                p = [float(v) for v in out[i]]
                i += 1
                cls = p[5:]
                k = max(range(len(cls)), key=lambda c: cls[c])
                score = p[4] * cls[k]
                if score <= thr or (keep is not None and k not in keep):
                    continue
                cx, cy = (p[0] + gx) * stride, (p[1] + gy) * stride
                bw, bh = math.exp(p[2]) * stride, math.exp(p[3]) * stride
                box = [(cx - bw / 2) / r, (cy - bh / 2) / r, (cx + bw / 2) / r, (cy + bh / 2) / r]
                box = [min(max(v, 0.0), lim) for v, lim in zip(box, (width, height, width, height))]
                rows.append((*box, score, k))
    assert i == len(out)  # every anchor point visited once: the grids add up to the output
    return rows


@pytest.fixture(scope="module")
def yolox_path(models_dir):
    return resolve_model(load_spec("yolox_nano"), models_dir, download=False)


@pytest.fixture(scope="module", params=[(416, 416), (416, 256)], ids=["416x416", "416x256"])
def backend(request, yolox_path, tmp_path_factory):
    """The real model at its own size and at a 16:9-friendly rewritten size."""
    spec, path = with_input_size(load_spec("yolox_nano"), yolox_path, request.param,
                                 tmp_path_factory.mktemp("derived"))
    b = create_backend("onnxruntime", spec, path)
    yield b
    b.close()


@pytest.fixture(scope="module")
def real_outputs(backend, highway_images, dlib_image):
    """(name, image, the model input fcw made, raw output) for the highway frames and dlib's
    street."""
    images = dict(highway_images, dlib=dlib_image)
    out = []
    for name, img in images.items():
        x = backend.prepare([img])
        out.append((name, img, x, backend.run(x)[0]))
    return out


def test_preprocessing_is_the_authors(backend, real_outputs):
    spec = backend.spec.input
    for name, img, x, _ in real_outputs:
        ref, _ = reference_preproc(img, spec.height, spec.width)
        np.testing.assert_array_equal(x[0], ref, err_msg=name)
    # dlib's 928x478 street pads the bottom rows; the 16:9 highway frames fill 416x234 of 416x256
    _, img, x, _ = real_outputs[-1]
    assert (x[0, :, -1, :] == 114).all() and (x[0, :, 0, :] != 114).any()


def _compare(dets, ref):
    assert_matches_reference(dets, ref, box_atol_px=2e-3)


@pytest.mark.parametrize("thr", [0.1, 0.35])
def test_matches_reference_on_real_frames(backend, real_outputs, thr):
    decode, spec, total = make_decoder(backend.spec), backend.spec.input, 0
    for _name, img, _, out in real_outputs:
        h, w = img.shape[:2]
        _, r = reference_preproc(img, spec.height, spec.width)
        ref = reference_decode(out, thr, spec.width, spec.height, r, w, h)
        _compare(decode(out, thr, w, h, None), ref)
        total += len(ref)
    assert total >= 20  # the frames hold cars: the comparison is not vacuous


def test_matches_reference_with_keep_classes(backend, real_outputs):
    decode, spec, kept, removed = make_decoder(backend.spec), backend.spec.input, 0, 0
    for _name, img, _, out in real_outputs:
        h, w = img.shape[:2]
        _, r = reference_preproc(img, spec.height, spec.width)
        ref_all = reference_decode(out, 0.1, spec.width, spec.height, r, w, h)
        ref = reference_decode(out, 0.1, spec.width, spec.height, r, w, h, keep=set(KEEP.tolist()))
        _compare(decode(out, 0.1, w, h, KEEP), ref)
        kept, removed = kept + len(ref), removed + len(ref_all) - len(ref)
    assert kept > 0 and removed > 0  # the filter was exercised both ways


def test_detector_boxes_the_labelled_near_cars(backend, highway_images):
    # Hand labels (tests/data/udacity_far_cars.json), not this code's output: every near car is
    # found by exactly one box, tight (IoU > 0.6), with the default thresholds and merging.
    det = Detector(backend, DetectorConfig(far_crop=FarCropConfig(enabled=False)), CameraConfig())
    for name, labels in LABELS.items():
        near = np.array([b["xyxy"] for b in labels["near"]], float)
        dets = det.update(Frame(0, 0.0, highway_images[name]))
        iou = iou_matrix(near, dets.xyxy)
        assert (iou.max(axis=1) > 0.6).all(), (name, dets.xyxy)
        assert ((iou > 0.1).sum(axis=1) == 1).all(), (name, dets.xyxy)
        assert set(dets.class_id.tolist()) <= {2, 3, 5, 7, 9}


def test_hand_built_anchor_points():
    spec = load_spec("yolox_nano").input
    dec = YoloxDecoder(spec, (8, 16, 32))
    out = np.zeros((3549, 85), np.float32)
    # Stride 16, column 5, row 3: index 52*52 + 3*26 + 5. Centre (0.5 + 5, 0.25 + 3) * 16 =
    # (88, 52), size exp(ln 2) * 16 = 32 wide, exp(0) * 16 = 16 high; score 0.9 * 0.5.
    i = 52 * 52 + 3 * 26 + 5
    out[i, :5] = [0.5, 0.25, math.log(2.0), 0.0, 0.9]
    out[i, 5 + 2] = 0.5
    # A 1664x832 image is letterboxed at r = 0.25 (its width fills the 416 input): x4 back.
    d = dec(out, 0.3, 1664.0, 832.0)
    assert len(d) == 1 and d.class_id[0] == 2 and d.score[0] == pytest.approx(0.45)
    np.testing.assert_allclose(d.xyxy[0], np.array([72, 44, 104, 60]) * 4.0, atol=1e-3)
    assert len(dec(out, 0.3, 1664.0, 832.0, keep_classes=np.array([7]))) == 0
    assert len(dec(out, 0.46, 1664.0, 832.0)) == 0
    with pytest.raises(ValueError, match="anchor points"):
        dec(out[:100], 0.3, 1664.0, 832.0)


def test_traffic_lights_reach_the_lights_stage(yolox_path, dlib_image):
    # dlib's street holds red traffic lights; they come out as class 9 with the default config.
    b = create_backend("onnxruntime", load_spec("yolox_nano"), yolox_path)
    det = Detector(b, DetectorConfig(), CameraConfig(vanishing_point_y=0.45))
    dets = det.update(Frame(0, 0.0, dlib_image))
    lights = dets[dets.class_id == 9]
    assert len(lights) >= 2
    assert (lights.score > DetectorConfig().light_score_threshold).all()
    # heads are small and above the cars
    assert (lights.xyxy[:, 3] < 0.6 * dlib_image.shape[0]).all()
