"""A diverging track, a NaN or an infinite box never stops a run (issue 16).

Real clips ended with an OverflowError (np.exp of a coasting track's scale in the Kalman model),
an empty patch handed to OpenCV by the key-image aligner, or a NaN reaching int() in the light
prompts. Each stage is fed such input here; they must go on, keep every number finite and drop
what is lost.
"""
from __future__ import annotations

import logging

import numpy as np
import pytest

from fcw.config import (
    CameraConfig,
    CorridorConfig,
    LeadScaleConfig,
    LightsConfig,
    TrackerConfig,
    WarningConfig,
)
from fcw.lights.prompts import LightPrompts
from fcw.risk.stage import RiskStage
from fcw.scale.alignment import KeyframeAligner, to_gray
from fcw.scale.estimator import LeadScaleEstimator
from fcw.tracking.kalman import AS, VS, BoxKalman
from fcw.tracking.tracker import Tracker
from fcw.types import (
    Detections,
    Frame,
    LightState,
    Risk,
    Tracks,
    TrafficLight,
    WarningLevel,
)

BAD_BOXES = [
    [np.nan, 300, 700, 400],
    [600, np.inf, 700, 400],
    [-np.inf, -np.inf, np.inf, np.inf],
    [1e30, 1e30, 2e30, 2e30],
    [600, 300, 600, 300],          # zero size
    [700, 400, 600, 300],          # inverted
    [-5000, -5000, -4000, -4000],  # far outside the frame
]


def dets(*boxes) -> Detections:
    n = len(boxes)
    return Detections(np.array(boxes, np.float32).reshape(n, 4), np.ones(n, np.float32),
                      np.full(n, 2, np.int32))


def test_kalman_stays_finite_when_a_track_coasts_with_a_runaway_scale():
    kf = BoxKalman(np.array([600.0, 300.0, 700.0, 380.0]), TrackerConfig())
    kf.kf.x[VS, 0], kf.kf.x[AS, 0] = 5.0, 50.0   # what a few bad boxes left behind
    for _ in range(30 * 60):                      # a minute of coasting at 30 fps
        kf.predict(1 / 30)
    assert kf.is_finite()
    assert np.isfinite(kf.box()).all()


def test_tracker_ignores_non_finite_boxes_and_keeps_good_tracks():
    tracker = Tracker(TrackerConfig(), vehicle_class_ids=(2,))
    good = [600, 300, 700, 380]
    for k in range(20):
        boxes = [good] + ([BAD_BOXES[k % len(BAD_BOXES)]] if k % 2 else [])
        tracks = tracker.update(k / 30, dets(*boxes))
    assert np.isfinite(tracks.xyxy).all()
    assert np.isfinite(tracks.scale_rate_per_s).all() and np.isfinite(tracks.scale_rate_var).all()
    assert tracks.confirmed.any()


def test_tracker_drops_a_track_whose_filter_diverged(caplog):
    tracker = Tracker(TrackerConfig(), vehicle_class_ids=(2,))
    for k in range(5):
        tracks = tracker.update(k / 30, dets([600, 300, 700, 380], [100, 300, 200, 380]))
    lost = tracks.track_id[0]
    tracker._tracks[0].kf.kf.P[0, 0] = np.nan   # the covariance of one track is lost
    with caplog.at_level(logging.DEBUG, logger="fcw.tracking.tracker"):
        tracks = tracker.update(5 / 30, dets([100, 300, 200, 380]))
    assert lost not in tracks.track_id.tolist() and len(tracks) >= 1
    assert f"track {lost} dropped" in caplog.text


def test_tracker_survives_huge_boxes_then_recovers():
    tracker = Tracker(TrackerConfig(), vehicle_class_ids=(2,))
    for k in range(60):
        box = [1e30, 1e30, 2e30, 2e30] if 10 <= k < 20 else [600, 300, 700, 380]
        tracks = tracker.update(k / 30, dets(box))
        assert np.isfinite(tracks.xyxy).all()
    assert tracks.confirmed.any()


@pytest.mark.parametrize("box", BAD_BOXES, ids=range(len(BAD_BOXES)))
def test_aligner_refuses_bad_boxes_on_a_real_frame(highway_images, box):
    gray = to_gray(highway_images["test1.jpg"])
    aligner = KeyframeAligner()
    aligner.start(gray, np.array(box, float), 0.0, occluders=np.array([box], float))
    assert aligner.measure(gray, np.array(box, float), np.array([box], float)) is None or \
        aligner.active


@pytest.mark.parametrize("shape", [(1, 1), (8, 8), (40, 2000), (720, 1280)])
def test_aligner_on_degenerate_frames(shape):
    good = np.array([0.0, 0.0, 60.0, 40.0])
    aligner = KeyframeAligner()
    for gray in (np.zeros(shape, np.float32), np.full(shape, 255, np.float32)):
        aligner.start(gray, good, 0.0)
        aligner.measure(gray, good + 3.0)
        # A key on a real patch, then the object sliding off the frame.
        aligner.start(gray, good, 0.0)
        aligner.measure(gray, good - 500.0)


def _bad_tracks(box, rate=np.nan) -> Tracks:
    n = 1
    def f(v):
        return np.full(n, v, np.float64)
    return Tracks(np.array([1]), np.array([box], np.float32), np.ones(n, np.float32),
                  np.full(n, 2, np.int32), np.ones(n, bool), f(rate), f(np.inf), f(np.nan),
                  age_s=f(5.0), since_match_s=f(0.0))


@pytest.mark.parametrize("box", BAD_BOXES + [[600, 300, 700, 400]], ids=range(len(BAD_BOXES) + 1))
def test_risk_stage_raises_nothing_on_non_finite_readings(highway_images, box):
    stage = RiskStage(CameraConfig(), CorridorConfig(), WarningConfig(),
                      lead_scale=LeadScaleEstimator(LeadScaleConfig()))
    image = highway_images["test1.jpg"]
    for k in range(20):
        tracks = _bad_tracks(box, rate=[np.nan, 1e9][k % 2])
        risk, events = stage.update(Frame(k, k / 30, image), tracks)
        assert risk.level == WarningLevel.NONE and events == []
        assert risk.ttc_s is None or np.isfinite(risk.ttc_s)


@pytest.mark.parametrize("box", BAD_BOXES, ids=range(len(BAD_BOXES)))
def test_light_prompts_ignore_non_finite_boxes(box):
    prompts = LightPrompts(LightsConfig(), CameraConfig())
    image = np.full((360, 640, 3), 90, np.uint8)
    for k in range(5):
        prompts.update(Frame(k, k / 10, image), TrafficLight(LightState.GREEN, 0.9),
                       _bad_tracks(box), Risk(lead_id=1))
