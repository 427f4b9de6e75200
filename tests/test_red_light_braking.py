"""The braking credit under a red light (fcw/risk/braking.py) through the risk stage, as a table
of manoeuvres: a tracker and a RiskStage fed the boxes of a car on a flat road seen through a
pinhole camera, and the light state the light stage would read, frame by frame.

The kinematics are those of the rendered ``stop_at_red``: the ego brakes at 2 m/s^2 from 14 m/s to
stop 5 m behind a queued car, whose first-order TTC falls to 2.2 s although nothing is wrong.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from fcw.config import CameraConfig, CorridorConfig, TrackerConfig, WarningConfig
from fcw.risk.stage import RiskStage
from fcw.tracking.tracker import Tracker
from fcw.types import CameraGeometry, Detections, Frame, LightState, TrafficLight, WarningLevel

FPS = 30.0
W_PX, H_PX = 1280, 720
F_PX, CAM_H_M, HORIZON_PX = 1000.0, 1.3, 360.0
IMAGE = np.zeros((H_PX, W_PX, 3), np.uint8)
GEOMETRY = CameraGeometry(horizon_y_px=HORIZON_PX, vp_x_px=640.0, camera_height_m=CAM_H_M,
                          horizon_sigma_px=5.0)
RED, NONE, GREEN = LightState.RED, LightState.NONE, LightState.GREEN


def box_at(Z_m: float, width_m: float = 1.8, height_m: float = 1.5) -> list[float]:
    w, h = F_PX * width_m / Z_m, F_PX * height_m / Z_m
    y_b = HORIZON_PX + F_PX * CAM_H_M / Z_m
    return [640.0 - w / 2, y_b - h, 640.0 + w / 2, y_b]


def stopping(t_s: float) -> float | None:
    """Range (m) to the queued car while braking at 2 m/s^2 from 14 m/s (stops at 7 s, 5 m)."""
    t = min(t_s, 7.0)
    return 54.0 - 14.0 * t + t * t


def not_braking(t_s: float) -> float | None:
    """Range to a car stopped 42 m ahead at 14 m/s, the ego not braking (NHTSA's stopped lead)."""
    return 42.0 - 14.0 * t_s


def cut_in_at(t0_s: float) -> Callable[[float], float | None]:
    """A stopped car seen only from t0_s on (it was hidden), the ego not braking."""
    return lambda t: None if t < t0_s else not_braking(t)


def run(range_of_t: Callable[[float], float | None], light_of_t: Callable[[float], LightState],
        duration_s: float, wait_s: float = 1.0) -> float | None:
    """The capture time of the first warning, or None."""
    tracker = Tracker(TrackerConfig(), vehicle_class_ids=(2,))
    stage = RiskStage(CameraConfig(), CorridorConfig(), WarningConfig(), red_light_decel_factor=2.0,
                      red_light_wait_s=wait_s)
    for k in range(int(duration_s * FPS)):
        t = k / FPS
        z = range_of_t(t)
        boxes = [] if z is None or z < 3.0 else [box_at(z)]
        dets = Detections(np.array(boxes, np.float32).reshape(len(boxes), 4),
                          np.ones(len(boxes), np.float32), np.full(len(boxes), 2, np.int32))
        risk, _ = stage.update(Frame(k, t, IMAGE), tracker.update(t, dets),
                               TrafficLight(light_of_t(t), 0.9), GEOMETRY)
        if risk.level == WarningLevel.WARNING:
            return t
    return None


def always(state: LightState) -> Callable[[float], LightState]:
    return lambda t: state


def red_then(state: LightState, until_s: float, back_s: float | None = None
             ) -> Callable[[float], LightState]:
    """Red until ``until_s``, then ``state`` (until ``back_s``, red again after)."""
    return lambda t: RED if t < until_s or (back_s is not None and t >= back_s) else state


# (name, range, light, warns): a stop at a red light warns only without the red light governing.
MANOEUVRES = [
    ("stop, red all along", stopping, always(RED), False),
    ("stop, no light", stopping, always(NONE), True),
    # A far head drops out of the classifiers for a second: the red still governs...
    ("stop, red with a 1 s gap", stopping, red_then(NONE, 0.4, 1.4), False),
    # ... but not once the light is read in another state,
    ("stop, the light read green", stopping, red_then(GREEN, 0.4), True),
    # nor past its memory (1.5 s) with no light read.
    ("stop, red seen once", stopping, red_then(NONE, 0.4), True),
    ("stopped lead, not braking, red all along", not_braking, always(RED), True),
]


@pytest.mark.parametrize("name,range_of_t,light,warns", MANOEUVRES, ids=[m[0] for m in MANOEUVRES])
def test_manoeuvre(name, range_of_t, light, warns):
    assert (run(range_of_t, light, 7.0) is not None) is warns, name


def test_a_red_light_does_not_delay_the_warning_of_a_lead_seen_early():
    assert run(not_braking, always(RED), 3.0) == run(not_braking, always(NONE), 3.0)


@pytest.mark.parametrize("wait_s", [0.5, 1.0])
def test_a_lead_seen_late_under_a_red_light_is_held_at_most_the_wait(wait_s):
    """A stopped car revealed 1.2 s ahead of the warning, the ego not braking: the red light holds
    the warning while the braking is not measurable, never longer than ``red_light_wait_s``."""
    free = run(cut_in_at(0.6), always(NONE), 3.0)
    held = run(cut_in_at(0.6), always(RED), 3.0, wait_s=wait_s)
    assert free is not None and held is not None
    assert free <= held <= free + wait_s + 1.5 / FPS
