"""The warning state machine over named manoeuvres, and the risk stage around it."""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from fcw.config import CameraConfig, CorridorConfig, WarningConfig
from fcw.risk.stage import RiskStage
from fcw.risk.warning import WarningStateMachine
from fcw.types import CameraGeometry, Frame, Tracks, WarningLevel

FPS = 30.0
# caution 4 s, warning 3 s, clear margin 0.5 s, debounce 2, hold 1 s, cooldown 2 s
CFG = WarningConfig()


@dataclass(frozen=True)
class Reading:
    ttc_s: float | None
    sigma_s: float | None = None
    closing: bool = True
    lead_id: int | None = 1


def sure(ttc_s: float) -> Reading:
    return Reading(ttc_s, 0.02 * ttc_s)


def drive(readings: list[Reading], cfg: WarningConfig = CFG):
    """Feed one reading per frame; return the level per frame and all events."""
    sm = WarningStateMachine(cfg)
    levels, events = [], []
    for k, r in enumerate(readings):
        level, ev = sm.update(k / FPS, k, r.lead_id, r.ttc_s, r.sigma_s, r.closing)
        levels.append(level)
        events.extend(ev)
    return levels, events


def seconds(n_s: float, fn: Callable[[float], Reading]) -> list[Reading]:
    return [fn(k / FPS) for k in range(int(round(n_s * FPS)))]


def ramp(ttc0_s: float, ttc1_s: float, dur_s: float) -> list[Reading]:
    return seconds(dur_s, lambda t: sure(ttc0_s + (ttc1_s - ttc0_s) * t / dur_s))


def steady(ttc_s: float, dur_s: float) -> list[Reading]:
    return seconds(dur_s, lambda t: sure(ttc_s))


def frames(ttcs: list[float]) -> list[Reading]:
    return [sure(t) for t in ttcs]


# name, readings, expected sequence of event levels
MANOEUVRES = [
    ("ttc_ramp_8_to_1", ramp(8.0, 1.0, 7.0), ["caution", "warning"]),
    ("single_frame_dip", steady(10, 1) + frames([2.0]) + steady(10, 1), []),
    ("dip_as_long_as_debounce", steady(10, 1) + frames([2.0, 2.0]) + steady(10, 2),
     ["warning", "none"]),
    ("oscillating_around_warning",
     steady(6, 1) + seconds(5, lambda t: sure(3.0 + 0.3 * (-1) ** int(t * 10))),
     ["caution", "warning"]),
    ("oscillating_around_caution",
     steady(6, 1) + seconds(5, lambda t: sure(4.0 + 0.3 * (-1) ** int(t * 10))),
     ["caution"]),
    ("not_closing_never_warns",
     seconds(3, lambda t: Reading(1.0, 0.01, closing=False)), []),
    ("no_lead_never_warns", seconds(3, lambda t: Reading(1.0, 0.01, lead_id=None)), []),
    ("unsure_reading_never_raises", seconds(3, lambda t: Reading(2.0, 0.6)), []),
    ("uncertainty_raises_earlier", seconds(2, lambda t: Reading(3.2, 0.6)), ["warning"]),
    ("steady_following", steady(12.0, 5.0), []),
    ("approach_settling_at_safe_gap", ramp(8.0, 4.5, 3.0) + ramp(4.5, 20.0, 3.0), []),
    ("lead_pulling_away", seconds(3, lambda t: Reading(None, None, closing=False)), []),
    ("warning_then_lead_pulls_away",
     steady(2.5, 1.5) + seconds(3, lambda t: Reading(None, None, closing=False)),
     ["warning", "none"]),
    ("warning_steps_down_through_caution", steady(2.5, 1.5) + steady(3.8, 1.5) + steady(10, 1.5),
     ["warning", "caution", "none"]),
]


@pytest.mark.parametrize("name, readings, expected", MANOEUVRES, ids=[m[0] for m in MANOEUVRES])
def test_manoeuvre(name, readings, expected):
    levels, events = drive(readings)
    assert [e.fields["level"] for e in events] == expected
    # Every change of level is an event, and only those.
    changes = sum(a != b for a, b in zip([WarningLevel.NONE] + levels, levels))
    assert changes == len(events)


def test_ramp_timing_follows_thresholds_and_debounce():
    readings = ramp(8.0, 1.0, 7.0)
    levels, events = drive(readings)
    caution, warning = events
    for event, threshold_s in ((caution, CFG.caution_ttc_s), (warning, CFG.warning_ttc_s)):
        first_below = next(k for k, r in enumerate(readings)
                            if r.ttc_s - CFG.sigma_k * r.sigma_s <= threshold_s)
        assert event.frame == first_below + CFG.debounce_frames - 1
        assert event.fields["ttc_s"] == pytest.approx(readings[event.frame].ttc_s)
        assert event.fields["track_id"] == 1


def test_min_hold_keeps_a_short_warning_up():
    readings = steady(10, 1) + frames([2.5] * 3) + steady(10, 3)
    levels, events = drive(readings)
    raised, cleared = events
    assert raised.fields["level"] == "warning" and cleared.fields["level"] == "none"
    assert cleared.t_s - raised.t_s >= CFG.min_hold_s
    assert cleared.t_s - raised.t_s < CFG.min_hold_s + 0.2


def test_cooldown_blocks_a_second_warning_but_not_caution():
    first = steady(2.5, 1.5) + steady(10, 0.5)
    levels, events = drive(first + steady(2.5, 1.5) + steady(10, 0.5) + steady(2.5, 1.5))
    labels = [e.fields["level"] for e in events]
    ended = events[1]
    assert labels[:3] == ["warning", "none", "caution"]
    assert events[2].t_s - ended.t_s < CFG.cooldown_s
    rewarn = next(e for e in events[3:] if e.fields["level"] == "warning")
    assert rewarn.t_s - ended.t_s >= CFG.cooldown_s


def test_cooldown_zero_allows_immediate_rewarning():
    cfg = CFG.model_copy(update={"cooldown_s": 0.0})
    _, events = drive(steady(2.5, 1.5) + steady(10, 0.5) + steady(2.5, 1.5), cfg)
    assert [e.fields["level"] for e in events] == ["warning", "none", "warning"]


def test_lead_change_restarts_debounce():
    # Alternating leads each below threshold for one frame: no lead is ever debounced.
    readings = [Reading(2.0, 0.04, lead_id=1 + k % 2) for k in range(30)]
    assert drive(readings)[1] == []


# --- RiskStage --------------------------------------------------------------------------------

W, H = 1280, 720
IMAGE = np.zeros((H, W, 3), np.uint8)


def tracks(rows) -> Tracks:
    """rows of (id, box, confirmed, class_id, scale_rate, scale_rate_var)."""
    n = len(rows)

    def col(i: int, dt: type) -> np.ndarray:
        return np.array([r[i] for r in rows], dt)

    return Tracks(col(0, np.int64), np.array([r[1] for r in rows], np.float32).reshape(n, 4),
                  np.ones(n, np.float32), col(3, np.int32), col(2, bool), col(4, np.float64),
                  col(5, np.float64), col(4, np.float64) ** 2)


def on_road(Z_m: float, x_px: float = 640.0, width_m: float = 1.8) -> list[float]:
    """The box of a car Z_m ahead on a flat road, camera 1.3 m high, f = 1000 px, horizon 396."""
    w, h, y_b = 1000.0 * width_m / Z_m, 1000.0 * 1.5 / Z_m, 396.0 + 1000.0 * 1.3 / Z_m
    return [x_px - w / 2, y_b - h, x_px + w / 2, y_b]


def test_stage_uses_new_lead_after_cut_in_and_computes_range():
    cam = CameraConfig(vanishing_point_y=0.55, focal_px=1000.0, height_m=1.3, ego_speed_mps=20.0)
    stage = RiskStage(cam, CorridorConfig(), WarningConfig())
    def Z_far(t: float) -> float:
        return 16.25 - 1.625 * t

    def Z_cut(t: float) -> float:
        return 10.0 - 5.0 * t

    far = (1, on_road(Z_far(0.0)), True, 2, 0.1, 1e-4)
    risk, _ = stage.update(Frame(0, 0.0, IMAGE), tracks([far]))
    assert risk.lead_id == 1
    assert risk.range_m == pytest.approx(1000 * 1.3 / 80)
    # One reading of the rate (the tracker's) is not confirmed: shown, but it raises nothing.
    assert risk.ttc_s == pytest.approx(10.0) and risk.ttc2_s == pytest.approx(10.0)
    assert not risk.plausible and risk.implausible_reason == "unconfirmed_rate"
    assert risk.closing_speed_mps == pytest.approx(risk.range_m * 0.1)
    assert risk.headway_s == pytest.approx(risk.range_m / 20.0)

    levels, reasons = [], []
    for k in range(1, 15):
        t = k / FPS
        far = (1, on_road(Z_far(t)), True, 2, 0.1, 1e-4)
        cut_in = (2, on_road(Z_cut(t), 650.0), True, 2, 5.0 / Z_cut(t), 1e-4)
        risk, _ = stage.update(Frame(k, t, IMAGE), tracks([far, cut_in]))
        levels.append(risk.level)
        reasons.append(risk.implausible_reason)
    # Its bottom edge is there from the third box, but reads closing a sigma above zero only
    # after about 0.4 s of boxes (the real pipeline's tracks are 0.5 s old before they count);
    # then it confirms the tracker's rate and the cut-in warns.
    assert reasons[8] == "unconfirmed_rate" and reasons[-1] is None
    assert risk.lead_id == 2 and risk.ttc_s == pytest.approx(Z_cut(14 / FPS) / 5.0)
    assert risk.plausible and levels[-1] == WarningLevel.WARNING


def test_range_is_measured_from_the_geometry_stages_horizon():
    # A mount pitched down 2.3 deg puts the horizon 40 px above the configured 396 (0.55 x 720):
    # a car 16.25 m ahead stands 80 px below the true horizon, 40 px below the configured one.
    cam = CameraConfig(vanishing_point_y=0.55, focal_px=1000.0, height_m=1.3)
    stage = RiskStage(cam, CorridorConfig(), WarningConfig())
    box = on_road(16.25)
    box[1] -= 40.0
    box[3] -= 40.0
    car = (1, box, True, 2, 0.1, 1e-4)
    pitched = CameraGeometry(horizon_y_px=356.0, vp_x_px=640.0, camera_height_m=1.3,
                             horizon_sigma_px=5.0, source="motion")
    risk, _ = stage.update(Frame(0, 0.0, IMAGE), tracks([car]), geometry=pitched)
    assert risk.range_m == pytest.approx(16.25)
    # Without the estimate the configured horizon gives twice the range.
    risk, _ = RiskStage(cam, CorridorConfig(), WarningConfig()).update(Frame(0, 0.0, IMAGE),
                                                                      tracks([car]))
    assert risk.range_m == pytest.approx(1000 * 1.3 / 40)
    # A rolled horizon is read at the lead's column: 5 deg over 60 px is 5.2 px lower there.
    roll_rad = float(np.radians(5.0))
    box = on_road(16.25, x_px=700.0)
    box[1] -= 40.0
    box[3] -= 40.0
    rolled = CameraGeometry(horizon_y_px=356.0 - np.tan(roll_rad) * 60.0, vp_x_px=640.0,
                            camera_height_m=1.3, roll_rad=roll_rad)
    stage = RiskStage(cam, CorridorConfig(), WarningConfig())
    risk, _ = stage.update(Frame(0, 0.0, IMAGE), tracks([(1, box, True, 2, 0.1, 1e-4)]),
                           geometry=rolled)
    assert risk.range_m == pytest.approx(16.25)


def test_stage_without_geometry_or_closing():
    stage = RiskStage(CameraConfig(vanishing_point_y=0.55), CorridorConfig(), WarningConfig())
    opening = (1, [610, 430, 670, 476], True, 2, -0.2, 1e-4)
    risk, events = stage.update(Frame(0, 0.0, IMAGE), tracks([opening]))
    assert risk.lead_id == 1 and risk.ttc_s is None and risk.ttc2_s is None
    assert risk.range_m is None and events == []
    risk, _ = stage.update(Frame(1, 0.1, IMAGE), Tracks.empty())
    assert risk.lead_id is None and risk.level == WarningLevel.NONE
