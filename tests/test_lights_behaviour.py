"""What fcw does with the light: events, prompts, drawing, and the warning at a red light.

The end-to-end cases run the rendered ``stop_at_red`` scenario (brake to a stop 5 m behind a car
queued at a red light, which turns green; the car drives off) through the real CLI, and NHTSA's
``lead_stopped`` with a red light forced on, which must still warn in time.
"""
from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
import pytest
from clitools import fcw

from fcw.app import GroundTruthOptions, RunOptions, build_pipeline
from fcw.config import CameraConfig, Config, LightsConfig, load_config
from fcw.labels import labels_path_for, load_labels
from fcw.lights.prompts import EgoMotion, LightPrompts
from fcw.risk.braking import TauDotEstimator, braking_credited_ttc
from fcw.sinks.annotate import annotate
from fcw.sinks.events import read_events
from fcw.types import (
    Detections,
    Frame,
    FrameResult,
    LightState,
    Risk,
    Tracks,
    TrafficLight,
)

FPS = 30.0


# --- ego motion and prompts ---------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _texture() -> np.ndarray:
    rng = np.random.default_rng(0)
    t = cv2.GaussianBlur(rng.normal(120, 40, (450, 640)).astype(np.float32), (0, 0), 1.5)
    return np.clip(t, 0, 255).astype(np.uint8)


def _road_frame(i: int, shift_px: float, noise_seed: int) -> Frame:
    """A 640x360 frame of a texture moved down by i * shift_px (the road passing under a
    moving car), with fresh sensor noise every frame."""
    y = int(round(i * shift_px)) % 90
    img = np.repeat(_texture()[90 - y:450 - y, :, None], 3, axis=2).astype(np.int16)
    img += np.random.default_rng([noise_seed, i]).normal(0, 2.0, img.shape).astype(np.int16)
    return Frame(i, i / FPS, np.clip(img, 0, 255).astype(np.uint8))


def test_ego_motion_tells_standing_from_rolling():
    still, rolling = (EgoMotion(CameraConfig(), still_level=1.5, min_still_s=1.0) for _ in range(2))
    no_boxes = np.zeros((0, 4))
    s = [still.update(_road_frame(i, 0.0, 1), no_boxes) for i in range(45)]
    r = [rolling.update(_road_frame(i, 3.0, 1), no_boxes) for i in range(45)]
    assert not any(r) and rolling.last_difference > 3.0
    assert not any(s[:30]) and all(s[31:]) and still.last_difference < 1.5


def test_ego_motion_ignores_a_vehicle_moving_in_front():
    ego = EgoMotion(CameraConfig(), still_level=1.5, min_still_s=0.5)
    box = np.array([[200.0, 215.0, 440.0, 360.0]])
    stopped = []
    for i in range(30):
        f = _road_frame(i, 0.0, 2)
        img = f.image.copy()
        img[215:360, 200:440] = _road_frame(i, 5.0, 3).image[215:360, 200:440]  # a car driving off
        stopped.append(ego.update(Frame(i, f.t_s, img), box))
    assert stopped[-1]


def _tracks(rate: float) -> Tracks:
    return Tracks(np.array([1]), np.float32([[250, 200, 390, 300]]), np.float32([0.9]),
                  np.int32([2]), np.array([True]), np.array([rate]), np.array([1e-4]),
                  np.array([0.0]))


def _prompt_run(cfg: LightsConfig) -> list[tuple[str, int]]:
    """Red for 1 s, then green; the ego stands still throughout, the lead drives off at 3 s."""
    prompts = LightPrompts(cfg, CameraConfig())
    out = []
    for i in range(150):
        t = i / FPS
        state = LightState.RED if t < 1.0 else LightState.GREEN
        rate = -0.3 if t >= 3.0 else 0.0
        ev = prompts.update(_road_frame(i, 0.0, 4), TrafficLight(state, 0.9), _tracks(rate),
                            Risk(lead_id=1))
        out += [(e.type, e.frame) for e in ev]
    return out


def test_prompts():
    events = _prompt_run(LightsConfig())
    assert events == [("red_light_ahead", 0), ("light_turned_green", 90)]  # once the lead recedes


def test_prompts_switch_off():
    assert _prompt_run(LightsConfig(red_light_prompt=False, green_prompt=False)) == []


def test_annotated_frame_shows_the_light():
    img = np.full((720, 1280, 3), 90, np.uint8)
    light = TrafficLight(LightState.RED, 0.87, np.float32([600, 100, 620, 140]))
    out = annotate(FrameResult(Frame(0, 0.0, img), Detections.empty(), light=light), ("car",))
    red = (out[..., 2] > 200) & (out[..., 1] < 80) & (out[..., 0] < 80)
    assert red[:120, 900:].sum() > 500          # the state label, top right
    assert red[99:102, 600:621].sum() >= 15     # the governing head's box
    plain = annotate(FrameResult(Frame(0, 0.0, img), Detections.empty()), ("car",))
    assert not ((plain[..., 2] > 200) & (plain[..., 1] < 80)).any()


def test_annotated_frame_shows_unknown_without_a_box():
    img = np.full((720, 1280, 3), 90, np.uint8)
    heads = np.float32([[600, 100, 620, 140], [700, 100, 720, 140]])
    light = TrafficLight(LightState.UNKNOWN, 0.7, None, heads, (LightState.RED, LightState.GREEN))
    out = annotate(FrameResult(Frame(0, 0.0, img), Detections.empty(), light=light), ("car",))
    grey = (np.abs(out.astype(int) - 200).max(axis=2) <= 10)
    assert grey[:120, 900:].sum() > 300         # the "LIGHT UNKNOWN" label, top right
    assert not grey[95:145, 595:725].any()      # no head is drawn as the governing one


# --- crediting the ego's braking under a red light ---------------------------------------------

def test_braking_credit():
    assert braking_credited_ttc(2.5, 0.2, -1.0, 2.0) == (2.5, 0.2)      # not braking: no credit
    assert braking_credited_ttc(2.5, 0.2, -1.3, 2.0) == (2.5, 0.2)
    assert braking_credited_ttc(2.5, 0.2, -0.4, 2.0) == (None, None)    # a normal stop
    ttc, sigma = braking_credited_ttc(2.5, 0.2, -0.9, 2.0)              # braking a little
    assert 2.5 < ttc < 3.0 and sigma == pytest.approx(0.2 * ttc / 2.5)
    assert braking_credited_ttc(2.5, 0.2, -0.9, 1.0)[0] < ttc            # less credit


def test_tau_dot_is_robust_to_jumps():
    est = TauDotEstimator(window_s=1.0)
    rng = np.random.default_rng(0)
    out = None
    for i in range(60):
        t = i / FPS
        ttc = 4.0 - 0.4 * t + rng.normal(0, 0.03) + (1.5 if i in (40, 41, 50) else 0.0)
        out = est.update(t, 7, ttc)
    assert out == pytest.approx(-0.4, abs=0.05)
    assert est.update(2.0, 8, 3.0) is None  # a new lead starts over


def test_tau_dot_is_known_early_only_when_its_readings_agree():
    """A clean braking track gives tau-dot after 0.5 s; one whose TTC swings by a second (a
    15 px car through a wide lens) only after ``wait_s``, and the hold ends then too."""
    clean, swinging = TauDotEstimator(wait_s=1.0), TauDotEstimator(wait_s=1.0)
    got_clean, got_swinging = {}, {}
    for i in range(int(1.2 * FPS)):
        t = i / FPS
        got_clean[i] = clean.update(t, 1, 4.0 - 0.4 * t)
        got_swinging[i] = swinging.update(t, 1, 4.0 - 0.4 * t + 0.5 * np.sin(2 * np.pi * t))
    first_clean = min(i for i, v in got_clean.items() if v is not None)
    first_swinging = min(i for i, v in got_swinging.items() if v is not None)
    assert first_clean == round(0.5 * FPS) and got_clean[first_clean] == pytest.approx(-0.4)
    assert first_swinging == round(1.0 * FPS)
    assert swinging.hold(29 / FPS) and not swinging.hold(30 / FPS)
    # A missing reading is skipped, not a reason to start over.
    assert clean.update(1.2, 1, None) is None and clean.update(1.25, 1, 3.5) is not None


def test_detector_drops_a_wide_phantom_around_a_near_car():
    from fcw.perception.detector import drop_enclosing

    vehicles = np.array([2, 3, 5, 7])
    car = [491, 338, 818, 549]
    phantom = [432, 340, 1066, 572]      # weaker, encloses the car, reaches lower: not real
    truck_behind = [380, 250, 900, 530]  # encloses the car's top but ends above its bottom
    light = [430, 60, 460, 120]
    dets = Detections(np.float32([car, phantom, light]), np.float32([0.74, 0.49, 0.9]),
                      np.int32([7, 7, 9]))
    assert drop_enclosing(dets, vehicles).xyxy.tolist() == [car, light]
    dets = Detections(np.float32([car, truck_behind]), np.float32([0.74, 0.49]), np.int32([2, 7]))
    assert len(drop_enclosing(dets, vehicles)) == 2


class _RedLight:
    def update(self, frame, detections, geometry=None):
        return TrafficLight(LightState.RED, 0.9), []


def test_red_light_does_not_mute_a_real_warning(rendered, models_dir):
    """NHTSA's stopped-lead approach with a red light forced on: the ego does not brake, so no
    credit is given and the warning still comes in time."""
    video = rendered("lead_stopped")
    labels = load_labels(labels_path_for(video))
    pipe = build_pipeline(load_config(), RunOptions(
        str(video), status=False, models_dir=models_dir,
        ground_truth=GroundTruthOptions(labels_path_for(video), 2.0, 0.05, 0.05, seed=0)))
    pipe.lights = _RedLight()
    first = None
    with pipe.source:
        for frame in pipe.source:
            r = pipe.process(frame)
            if any(e.type == "fcw" and e.fields["level"] == "warning" for e in r.events):
                first = labels.frames[frame.index].lead.ttc_s
                break
    assert first is not None and first >= labels.expect.required_ttc_s


# --- end to end: the CLI on stop_at_red ---------------------------------------------------------

def test_stop_at_red_through_the_cli(rendered, models_dir, tmp_path):
    video = rendered("stop_at_red")
    labels = load_labels(labels_path_for(video))
    events_file = tmp_path / "e.jsonl"
    proc = fcw("run", "--source", video, "--headless", "--no-status", "--events", events_file,
               "--gt-boxes", labels_path_for(video), "--seed", 0, "--models-dir", models_dir)
    assert proc.returncode == 0, proc.stderr
    records = list(read_events(events_file))
    start = records[0]
    assert start["lights"]["crop_model"] == "tl_crop"
    assert start["lights"]["frame_model"] == "nexar_tl"
    got = [(r["type"], r.get("state")) for r in records
           if r["type"] in ("traffic_light", "red_light_ahead", "light_turned_green")]
    assert got == [("traffic_light", "red"), ("red_light_ahead", None), ("traffic_light", "green"),
                   ("light_turned_green", None)]
    by_type = {r["type"]: r for r in records}
    green_at = next(f.t_s for f in labels.frames if f.light == "green")
    assert by_type["red_light_ahead"]["t"] < 0.2
    green = [r for r in records if r.get("state") == "green"][0]
    assert 0.0 <= green["t"] - green_at < 0.5 and 0.0 < green["confidence"] <= 1.0
    # The lead starts to drive off at 8.7 s; the prompt comes once its box shrinks.
    assert 8.7 < by_type["light_turned_green"]["t"] < 10.0
    assert not any(r["type"] == "fcw" and r["level"] == "warning" for r in records)


def test_lights_off_in_the_config(models_dir):
    cfg = Config(lights=LightsConfig(enabled=False))
    pipe = build_pipeline(cfg, RunOptions(str(Path(__file__).resolve().parent.parent
                                              / "sample_videos" / "steady_follow.mp4"),
                                          status=False, max_frames=2, models_dir=models_dir))
    assert pipe.lights is None and pipe.prompts is None
    pipe.source.close()
