"""The physical plausibility of the lead (fcw/risk/plausibility.py) and its use by RiskStage.

Boxes are built with a pinhole camera over a flat road (the geometry the checks assume), so the
expected widths and rates follow from the scene, not from the code.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from fcw.config import (
    CameraConfig,
    CorridorConfig,
    PlausibilityConfig,
    TrackerConfig,
    WarningConfig,
)
from fcw.risk.plausibility import (
    RateEstimate,
    check_lead,
    combine_rates,
    cut_by_edge,
    ground_width_range_m,
    log_rate_now,
    others_read_closing,
)
from fcw.risk.stage import RiskStage
from fcw.tracking.tracker import Tracker
from fcw.types import CameraGeometry, Detections, Frame, WarningLevel

W_PX, H_PX = 1280, 720
F_PX, CAM_H_M, HORIZON_PX = 1000.0, 1.3, 360.0
CFG = PlausibilityConfig()


def box_at(Z_m: float, width_m: float = 1.8, height_m: float = 1.5, x_px: float = 640.0):
    w, h = F_PX * width_m / Z_m, F_PX * height_m / Z_m
    y_b = HORIZON_PX + F_PX * CAM_H_M / Z_m
    return np.array([x_px - w / 2, y_b - h, x_px + w / 2, y_b])


def test_ground_width_of_a_car_on_the_road():
    for Z_m in (8.0, 30.0, 90.0):
        w, y_b = _width_and_bottom(box_at(Z_m))
        lo, hi = ground_width_range_m(w, y_b, HORIZON_PX, 0.0, CAM_H_M, 2.0)
        assert lo == pytest.approx(1.8) and hi == pytest.approx(1.8)


def _width_and_bottom(box):
    return float(box[2] - box[0]), float(box[3])


def test_horizon_uncertainty_widens_the_width_range():
    w, y_b = _width_and_bottom(box_at(30.0))          # bottom 43 px below the horizon
    lo, hi = ground_width_range_m(w, y_b, HORIZON_PX, 10.0, CAM_H_M, 2.0)
    assert lo == pytest.approx(1.3 * w / (y_b - HORIZON_PX + 20)) and lo < 1.8 < hi
    assert hi == pytest.approx(1.3 * w / (y_b - HORIZON_PX - 20))
    lo, hi = ground_width_range_m(w, y_b, HORIZON_PX, 30.0, CAM_H_M, 2.0)
    assert hi == math.inf                               # the horizon may be below the box
    # A box well above the horizon cannot stand on the road.
    assert ground_width_range_m(w, HORIZON_PX - 100, HORIZON_PX, 10.0, CAM_H_M, 2.0) is None


def bottom_rate(t, y_b, sigma_px=0.0, noise_px=1.0, k_sigma=2.0):
    return log_rate_now("bottom_edge", t, y_b, HORIZON_PX, sigma_px, noise_px, k_sigma)


def test_bottom_edge_and_width_rates_equal_the_scale_rate_on_flat_ground():
    # A car closing at 10 m/s from 35 m: w and (y_b - y_h) both scale as 1/Z, so their log
    # rates are both -Zdot/Z, 10/25 s^-1 at the newest frame (Z = 25 m).
    t = np.arange(0.0, 1.0 + 1e-9, 1 / 30)
    boxes = np.array([box_at(35.0 - 10.0 * tk) for tk in t])
    expected = 10.0 / (35.0 - 10.0 * t[-1])
    # ln(1/Z) is not a parabola: over 1 s at TTC 2.5 s the fit's slope is within 5%.
    est = bottom_rate(t, boxes[:, 3])
    assert est.rate_per_s == pytest.approx(expected, rel=0.05)
    width = log_rate_now("box_width", t, boxes[:, 2] - boxes[:, 0])
    assert width.rate_per_s == pytest.approx(expected, rel=0.05)
    # Horizon uncertainty and jitter of the rows only add variance.
    assert bottom_rate(t, boxes[:, 3], sigma_px=10.0).var > est.var
    jitter = np.random.default_rng(0).normal(0.0, 4.0, len(t))
    assert bottom_rate(t, boxes[:, 3] + jitter).var > 4 * est.var
    assert bottom_rate(t[:3], boxes[:3, 3]) is None
    assert bottom_rate(t, boxes[:, 3] - 80.0) is None   # above the horizon
    # Within two horizon sigmas of the horizon the edge's rate is not known even roughly.
    assert bottom_rate(t, boxes[:, 3], sigma_px=40.0) is None


def test_rate_at_the_newest_frame_follows_a_braking_lead():
    # Gap 30 m, closing 5 m/s and the closing speed growing by 3 m/s^2 (the lead brakes): a
    # straight line over the window would report the mean rate, half a window late.
    t = np.arange(0.0, 1.0 + 1e-9, 1 / 30)
    Z = 30.0 - 5.0 * t - 1.5 * t * t
    y_b = HORIZON_PX + F_PX * CAM_H_M / Z
    expected = (5.0 + 3.0 * t[-1]) / Z[-1]
    assert bottom_rate(t, y_b).rate_per_s == pytest.approx(expected, rel=0.06)
    line = np.polyfit(t - t[-1], np.log(y_b - HORIZON_PX), 1)[0]
    assert abs(line - expected) > 3 * abs(bottom_rate(t, y_b).rate_per_s - expected)


def test_combined_rate_keeps_the_surest_estimator_and_its_sigma_grows_when_they_disagree():
    agree = combine_rates([RateEstimate("alignment", 0.30, 0.01**2),
                           RateEstimate("box_width", 0.31, 0.02**2)])
    assert agree.rate_per_s == 0.30 and agree.var == pytest.approx(0.01**2)
    assert agree.agree(3.0) and agree.sources == ("alignment", "box_width")
    # Road texture under the alignment: "1 s +- 0.02" against a box that is not growing.
    road = combine_rates([RateEstimate("alignment", 1.0, 0.02**2),
                          RateEstimate("box_width", 0.0, 0.05**2)])
    mean = (1.0 / 0.02**2) / (1 / 0.02**2 + 1 / 0.05**2)
    chi2 = (1.0 - mean) ** 2 / 0.02**2 + mean**2 / 0.05**2
    assert road.chi2_per_dof == pytest.approx(chi2)
    assert not road.agree(3.0)
    assert math.sqrt(road.var) == pytest.approx(0.02 * math.sqrt(chi2))  # ~0.37: the spread
    single = combine_rates([RateEstimate("a", 0.2, 0.01)])
    assert single.var == 0.01 and single.agree(0.1)


def test_cut_by_edge():
    assert cut_by_edge(np.array([0, 300, 200, 500]), W_PX, H_PX, 0.01)        # left edge
    assert cut_by_edge(np.array([1100, 300, 1279, 500]), W_PX, H_PX, 0.01)    # right edge
    assert cut_by_edge(np.array([500, 300, 800, 719]), W_PX, H_PX, 0.01)      # bottom
    assert not cut_by_edge(box_at(20.0), W_PX, H_PX, 0.01)


def test_a_close_lead_cut_only_by_the_bottom_edge_can_still_raise():
    # A queue: the lead 4 m ahead, its wheels below the frame (KITTI's stop-and-go drive).
    close = box_at(4.0)
    close[3] = H_PX - 1
    assert cut_by_edge(close, W_PX, H_PX, 0.01)
    assert check(close, estimates=[RateEstimate("alignment", 0.2, 0.02**2),
                                   RateEstimate("box_width", 0.21, 0.03**2)]).ok
    # ... but not one cut by a side too, nor a bottom-cut box too narrow to be a vehicle even
    # at the lowest the road could be.
    side = close.copy()
    side[0] = 0.0
    assert check(side).reason == "cut_by_edge"
    narrow = np.array([630.0, 500.0, 650.0, H_PX - 1.0])
    assert check(narrow).reason == "not_vehicle_width"


def check(box, since=0.0, age=2.0, estimates=None, sigma_px=5.0):
    est = estimates if estimates is not None else [RateEstimate("box_width", 0.3, 0.05**2),
                                                   RateEstimate("bottom_edge", 0.32, 0.05**2)]
    return check_lead(box, (W_PX, H_PX), since, age, HORIZON_PX, sigma_px, CAM_H_M, est, 0.5, CFG)


def test_check_lead_passes_a_car_and_names_each_failure():
    assert check(box_at(25.0)).ok
    assert check(box_at(25.0), since=0.4).reason == "coasting"
    assert check(box_at(25.0), age=0.2).reason == "young_track"
    assert check(box_at(4.0, x_px=200)).reason == "cut_by_edge"
    # A 12 px box at the vanishing point read as standing 40 px below the horizon: 0.4 m wide.
    far_speck = np.array([634.0, 388.0, 646.0, 400.0])
    assert check(far_speck).reason == "not_vehicle_width"
    # A road patch wide as a lane just below the horizon: 13 m "wide".
    assert check(np.array([400.0, 360.0, 900.0, 410.0])).reason == "not_vehicle_width"
    disagree = [RateEstimate("alignment", 1.0, 0.02**2), RateEstimate("box_width", 0.0, 0.05**2)]
    assert check(box_at(25.0), estimates=disagree).reason == "rates_disagree"
    assert check(box_at(25.0), estimates=[]).reason == "no_rate"
    box_only = [RateEstimate("box_width", 0.3, 0.05**2), RateEstimate("bottom_edge", 0.32, 0.05**2)]
    assert check(box_at(25.0), estimates=box_only[:1]).reason == "unconfirmed_rate"
    # With the alignment running, the box's two rates alone do not confirm a reading.
    def confirmed_with_alignment(estimates):
        return check_lead(box_at(25.0), (W_PX, H_PX), 0.0, 2.0, HORIZON_PX, 5.0, CAM_H_M,
                          estimates, 0.5, CFG, confirm_with="alignment")
    assert confirmed_with_alignment(box_only).reason == "unconfirmed_rate"
    assert confirmed_with_alignment([RateEstimate("alignment", 0.31, 0.02**2), *box_only]).ok
    # Unknown age and detector support (hand-built tracks) pass those checks.
    assert check(box_at(25.0), since=None, age=None).ok


def test_a_truck_and_a_narrow_car_are_vehicles_a_bicycle_width_is_not():
    assert check(box_at(25.0, width_m=2.55)).ok
    assert check(box_at(25.0, width_m=1.45)).ok
    assert check(box_at(25.0, width_m=0.7)).reason == "not_vehicle_width"


def test_a_flat_box_is_no_vehicle_a_low_car_and_a_lorry_are():
    # The road lit by the headlights at night, as wide as a car but 0.5 m "tall" (the 'tele'
    # perturbation of night_highway, benchmarks/real_perturbed.py).
    assert check(box_at(25.0, height_m=0.5)).reason == "not_vehicle_height"
    assert check(box_at(25.0, height_m=1.1)).ok      # a sports car
    assert check(box_at(25.0, height_m=4.0)).ok      # a lorry
    assert check(box_at(25.0, height_m=7.0)).reason == "not_vehicle_height"  # a tree, a pole
    # Far away the horizon's uncertainty allows more: a flat 0.7 m box 90 m ahead passes.
    assert check(box_at(90.0, height_m=0.7), sigma_px=5.0).ok
    # A close lead cut by the bottom edge has lost its footing and part of its height: not
    # judged (its width still is).
    close = box_at(4.0, height_m=0.6)
    close[3] = H_PX - 1
    assert check(close, estimates=[RateEstimate("alignment", 0.2, 0.02**2),
                                   RateEstimate("box_width", 0.21, 0.03**2)]).ok


def test_a_reading_is_confirmed_by_what_the_others_read_not_by_their_being_there():
    # A 17 px far car (the 'rolled' perturbation of the freeway): the alignment drifted to
    # 0.39/s while the box kept its width; within their sigmas they "agree".
    drift = [RateEstimate("alignment", 0.39, 0.06**2), RateEstimate("box_width", 0.03, 0.26**2),
             RateEstimate("bottom_edge", 1.13, 1.16**2)]
    assert not others_read_closing(drift, 1.0)
    assert others_read_closing(drift, 0.0)  # above zero, by less than a sigma
    assert check(box_at(25.0), estimates=drift).reason == "unconfirmed_rate"
    # A real approach: the box grows as the alignment says.
    grows = [RateEstimate("alignment", 0.39, 0.06**2), RateEstimate("box_width", 0.41, 0.15**2)]
    assert others_read_closing(grows, 1.0) and check(box_at(25.0), estimates=grows).ok
    assert not others_read_closing(grows[:1], 0.0)  # nothing besides the first


# --- through Tracker and RiskStage ------------------------------------------------------------

IMAGE = np.zeros((H_PX, W_PX, 3), np.uint8)


def run(boxes_of_t, fps=30.0, duration_s=6.0, geometry=None, camera=None):
    """Levels and reasons of a RiskStage fed by a Tracker with the boxes ``boxes_of_t(t)``."""
    tracker = Tracker(TrackerConfig(), vehicle_class_ids=(2,))
    stage = RiskStage(camera or CameraConfig(), CorridorConfig(), WarningConfig())
    out = []
    for k in range(int(duration_s * fps)):
        t = k / fps
        boxes = boxes_of_t(t)
        n = len(boxes)
        dets = Detections(np.array(boxes, np.float32).reshape(n, 4), np.ones(n, np.float32),
                          np.full(n, 2, np.int32))
        risk, _ = stage.update(Frame(k, t, IMAGE), tracker.update(t, dets), geometry=geometry)
        out.append(risk)
    return out


GEOMETRY = CameraGeometry(horizon_y_px=HORIZON_PX, vp_x_px=640.0, camera_height_m=CAM_H_M,
                          horizon_sigma_px=5.0)


def test_a_real_approach_warns_with_every_check_passed():
    risks = run(lambda t: [box_at(60.0 - 18.0 * t)], duration_s=3.0, geometry=GEOMETRY)
    assert max(r.level for r in risks) == WarningLevel.WARNING
    warned = next(r for r in risks if r.level == WarningLevel.WARNING)
    assert warned.plausible and warned.implausible_reason is None


def test_a_box_growing_without_its_bottom_moving_down_raises_nothing():
    # A patch of road texture that "grows" while staying where it is: no vehicle on a flat road
    # comes nearer without its contact row moving down the image.
    def grow_in_place(t):
        b = box_at(30.0)
        s = math.exp(0.5 * t)  # TTC 2 s by width alone
        cx, w = 0.5 * (b[0] + b[2]), (b[2] - b[0]) * s
        return [[cx - w / 2, b[3] - (b[3] - b[1]) * s, cx + w / 2, b[3]]]
    risks = run(grow_in_place, duration_s=3.0, geometry=GEOMETRY)
    assert all(r.level == WarningLevel.NONE for r in risks)
    # Each reading either fails a check or is too unsure to raise anything: the bottom edge's
    # disagreement has grown the sigma (the width alone says TTC 2 s with a sigma near 20%).
    closing = [r for r in risks[15:] if r.ttc_s is not None]
    assert closing and all(not r.plausible or r.ttc_sigma_s > 0.25 * r.ttc_s for r in closing)


def test_a_lead_the_detector_lost_raises_nothing_while_it_coasts():
    # The detector sees the approaching car for 1.5 s, then loses it; the track coasts.
    risks = run(lambda t: [box_at(40.0 - 12.0 * t)] if t < 1.5 else [], duration_s=2.0,
                geometry=GEOMETRY)
    coasting = [r for r, k in zip(risks, range(len(risks))) if k / 30 >= 1.7 and r.lead_id]
    assert coasting and all(r.implausible_reason == "coasting" for r in coasting)


def test_no_warning_from_a_track_younger_than_its_rate_needs():
    # A car already close and closing fast from the first frame (TTC 1.5 s): no warning within
    # min_track_age_s of the clip's start.
    risks = run(lambda t: [box_at(15.0 - 10.0 * t)], duration_s=0.9, geometry=GEOMETRY)
    min_age = WarningConfig().min_track_age_s
    assert all(r.level == WarningLevel.NONE for r, k in zip(risks, range(len(risks)))
               if k / 30 < min_age)
    assert any(r.implausible_reason == "young_track" for r in risks)
