"""The tracker on boxes synthesised from exact kinematics (car width 1.8 m, f = 1000 px)."""
import numpy as np
import pytest

from fcw.config import CameraConfig, CorridorConfig, TrackerConfig, WarningConfig
from fcw.risk.stage import RiskStage
from fcw.tracking.tracker import Tracker
from fcw.types import CameraGeometry, Detections, Frame, WarningLevel

F_PX, CAR_W_M, CAR_H_M, CAM_H_M, HORIZON_PX = 1000.0, 1.8, 1.5, 1.3, 396.0
IMAGE = np.zeros((720, 1280, 3), np.uint8)


def car_box(Z_m: float, x_px: float = 640.0) -> np.ndarray:
    """A car on a flat road at range Z, centred on image column x."""
    y_bottom = HORIZON_PX + F_PX * CAM_H_M / Z_m
    w, h = F_PX * CAR_W_M / Z_m, F_PX * CAR_H_M / Z_m
    return np.array([x_px - w / 2, y_bottom - h, x_px + w / 2, y_bottom])


def dets(*boxes, class_id: int = 2) -> Detections:
    n = len(boxes)
    return Detections(np.array(boxes, np.float32).reshape(n, 4), np.ones(n, np.float32),
                      np.full(n, class_id, np.int32))


def approach_errors(Z0_m, v_mps, times_s, noise_px, seed, min_age_s=1.5, signed=False):
    """Relative TTC errors while the true TTC is 1-6 s and the track is min_age_s old."""
    rng = np.random.default_rng(seed)
    tracker = Tracker(TrackerConfig())
    errors = []
    for t_s in times_s:
        Z_m = Z0_m - v_mps * t_s
        if Z_m < v_mps * 0.9:
            break
        tracks = tracker.update(t_s, dets(car_box(Z_m) + rng.normal(0, noise_px, 4)))
        assert len(tracks) == 1
        true_ttc_s = Z_m / v_mps
        if t_s >= min_age_s and 1.0 <= true_ttc_s <= 6.0:
            errors.append((1.0 / tracks.scale_rate_per_s[0] - true_ttc_s) / true_ttc_s)
    assert len(errors) > 10
    return np.array(errors) if signed else np.abs(errors)


APPROACHES = [(30.0, 10.0), (40.0, 12.0)]


@pytest.mark.parametrize("Z0_m, v_mps", APPROACHES)
@pytest.mark.parametrize("seed", [0, 1])
def test_ttc_converges_within_10_percent(Z0_m, v_mps, seed):
    errors = approach_errors(Z0_m, v_mps, np.arange(0, 8, 1 / 30), 1.0, seed)
    assert np.median(errors) < 0.05
    assert np.percentile(errors, 90) < 0.10


def test_slow_approach_converges_from_ttc_6_s():
    # At 7.5 m/s a TTC of 6 s is a 40 px box whose growth is within the noise of a single run,
    # so check the estimator itself: the median over runs is within 10 % on every frame.
    runs = [approach_errors(45.0, 7.5, np.arange(0, 8, 1 / 30), 1.0, seed, signed=True)
            for seed in range(5)]
    assert np.abs(np.median(runs, axis=0)).max() < 0.10


@pytest.mark.parametrize("seed", [0, 1])
def test_dropped_frames_keep_the_right_ttc(seed):
    times = np.arange(0, 8, 1 / 30)
    keep = np.ones(len(times), bool)
    keep[::7] = False                     # one frame in seven dropped
    keep[60:66] = False                   # and a 0.2 s gap
    errors = approach_errors(30.0, 10.0, times[keep], 1.0, seed)
    assert np.median(errors) < 0.05 and np.percentile(errors, 90) < 0.10


@pytest.mark.parametrize("seed", [0, 1])
def test_variable_frame_rate_keeps_the_right_ttc(seed):
    dts = np.random.default_rng(100 + seed).uniform(1 / 40, 1 / 20, 400)
    errors = approach_errors(30.0, 10.0, np.cumsum(dts) - dts[0], 1.0, seed)
    assert np.median(errors) < 0.05 and np.percentile(errors, 90) < 0.10


def test_lifecycle_is_time_based():
    cfg = TrackerConfig(min_hits=3, max_age_s=0.5)
    tracker = Tracker(cfg)
    box = car_box(20.0)
    confirmed = [bool(tracker.update(k / 30, dets(box)).confirmed[0]) for k in range(4)]
    assert confirmed == [False, False, True, True]
    # Coasting without detections: alive for max_age_s, then gone, whatever the frame rate.
    alive = [len(tracker.update(3 / 30 + k * 0.1, Detections.empty())) for k in range(1, 8)]
    assert alive == [1, 1, 1, 1, 1, 0, 0]


def test_tentative_track_dies_on_first_miss():
    tracker = Tracker(TrackerConfig(min_hits=3))
    tracker.update(0.0, dets(car_box(20.0)))
    assert len(tracker.update(1 / 30, Detections.empty())) == 0


def test_only_vehicle_classes_are_tracked():
    tracker = Tracker(TrackerConfig(), vehicle_class_ids=(2, 7))
    d = Detections.concat([dets(car_box(20.0), class_id=2), dets(car_box(30.0, 300), class_id=0)])
    tracks = tracker.update(0.0, d)
    assert tracks.class_id.tolist() == [2]


def test_ids_stay_stable_through_a_crossing():
    rng = np.random.default_rng(5)
    tracker = Tracker(TrackerConfig())
    ids_by_side = set()
    for k in range(90):
        t_s = k / 30
        # A near car drifting right and a farther one drifting left overlap mid-way.
        a = car_box(15.0, 400 + 300 * t_s) + rng.normal(0, 1.0, 4)
        b = car_box(18.0, 880 - 300 * t_s) + rng.normal(0, 1.0, 4)
        tracks = tracker.update(t_s, dets(a, b))
        assert len(tracks) == 2
        near = int(np.argmax(tracks.xyxy[:, 3]))
        ids_by_side.add((int(tracks.track_id[near]), int(tracks.track_id[1 - near])))
    assert ids_by_side == {(1, 2)}


def test_trackers_count_ids_independently():
    first, second = Tracker(TrackerConfig()), Tracker(TrackerConfig())
    assert first.update(0.0, dets(car_box(20.0), car_box(30.0, 300))).track_id.tolist() == [1, 2]
    assert second.update(0.0, dets(car_box(20.0))).track_id.tolist() == [1]
    first.update(0.1, dets(car_box(20.0), car_box(30.0, 300), car_box(25.0, 1000)))
    assert second.update(0.2, dets(car_box(20.0), car_box(25.0, 1000))).track_id.tolist() == [1, 2]


# --- end to end through Tracker and RiskStage, NHTSA FCW confirmation test -----------------------

def lead_braking(gap_m: float, v_mps: float, decel_mps2: float, start_s: float):
    def Z(t_s: float) -> float:
        tb = min(max(t_s - start_s, 0.0), v_mps / decel_mps2)
        lead_m = v_mps * tb - 0.5 * decel_mps2 * tb * tb
        return gap_m + lead_m - v_mps * max(t_s - start_s, 0.0)
    return Z


# The mount the boxes are drawn with, known to within a few pixels (the geometry stage's job):
# the bottom edge's rate then confirms the box width's.
GEOMETRY = CameraGeometry(horizon_y_px=HORIZON_PX, vp_x_px=640.0, camera_height_m=CAM_H_M,
                          horizon_sigma_px=5.0)


def first_warning_ttc_s(Z_of_t, seed, fps=30.0, duration_s=15.0, noise_px=2.0):
    """True TTC (range / closing speed) at the first WARNING frame, or None."""
    rng = np.random.default_rng(seed)
    tracker = Tracker(TrackerConfig(), vehicle_class_ids=(2,))
    stage = RiskStage(CameraConfig(), CorridorConfig(), WarningConfig())
    for k in range(int(duration_s * fps)):
        t_s = k / fps
        Z_m = Z_of_t(t_s)
        if Z_m < 2.0:
            return None
        tracks = tracker.update(t_s, dets(car_box(Z_m) + rng.normal(0, noise_px, 4)))
        risk, _ = stage.update(Frame(k, t_s, IMAGE), tracks, geometry=GEOMETRY)
        if risk.level == WarningLevel.WARNING:
            closing_mps = (Z_m - Z_of_t(t_s + 1e-3)) / 1e-3
            return Z_m / closing_mps if closing_mps > 0 else float("inf")
    return None


NHTSA = [
    # name, range Z(t), latest allowed warning TTC (s)
    ("lead_stopped", lambda t: 150.0 - 20.1 * t, 2.1),
    ("lead_slower", lambda t: 150.0 - (20.1 - 8.9) * t, 2.0),
    ("lead_braking_0.3g", lead_braking(30.0, 20.1, 0.3 * 9.81, 1.0), 2.4),
]


@pytest.mark.parametrize("name, Z_of_t, latest_ttc_s", NHTSA, ids=[n[0] for n in NHTSA])
@pytest.mark.parametrize("fps", [25.0, 30.0])
def test_nhtsa_warning_in_time(name, Z_of_t, latest_ttc_s, fps):
    ttc_at_warning = first_warning_ttc_s(Z_of_t, seed=int(fps), fps=fps)
    assert ttc_at_warning is not None
    assert latest_ttc_s <= ttc_at_warning <= 5.0     # in time, and not a far-away false alarm


def settling_approach(Z0_m: float, v_mps: float, Z_end_m: float):
    decel = v_mps**2 / (2 * (Z0_m - Z_end_m))
    t_end = v_mps / decel
    return lambda t: Z0_m - v_mps * min(t, t_end) + 0.5 * decel * min(t, t_end) ** 2


BENIGN = [
    ("steady_following", lambda t: 25.0),
    ("lead_pulling_away", lambda t: 20.0 + 3.0 * t),
    ("approach_settling_at_safe_gap", settling_approach(40.0, 8.0, 15.0)),
]


@pytest.mark.parametrize("name, Z_of_t", BENIGN, ids=[b[0] for b in BENIGN])
@pytest.mark.parametrize("seed", [0, 1])
def test_benign_driving_never_warns(name, Z_of_t, seed):
    assert first_warning_ttc_s(Z_of_t, seed=seed, duration_s=8.0) is None
