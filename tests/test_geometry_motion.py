"""The road's bend from image motion (fcw/geometry/motion.py) where no lane markings are seen.

Expected values come from geometry written out here: a camera driven along a circular arc over
a flat road (pure math), the renderer's own curvature and lens (rendered roads without
markings), and a real freeway drive that runs straight.
"""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from fcw.config import CameraConfig, CorridorConfig, GeometryConfig
from fcw.geometry import GeometryStage
from fcw.geometry.motion import RoadFlow, RoadFlowTracker, bend_from_motion_px2, fit_ego_motion
from fcw.risk.lead import Corridor
from fcw.types import Frame, Tracks

F, H_M, CX, CY = 1000.0, 1.3, 640.0, 360.0
CAR = 2


def arc_flow(speed_mps: float, curvature_per_m: float, dt_s: float = 0.1, n: int = 150,
             noise_px: float = 0.15, outlier_frac: float = 0.0, seed: int = 0) -> RoadFlow:
    """Road points seen by a level camera (focal F, H_M up, principal point and horizon at
    (CX, CY)) before and after it drives dt along a circle of the given curvature, turning
    with it (+: right)."""
    rng = np.random.default_rng(seed)
    z = rng.uniform(6.0, 60.0, n)
    x = rng.uniform(-6.0, 6.0, n)
    s = speed_mps * dt_s
    theta = s * curvature_per_m
    # The camera's new place and heading in the old camera's ground frame (X right, Z ahead).
    if curvature_per_m == 0.0:
        cx_m, cz_m = 0.0, s
    else:
        cx_m, cz_m = (1 - math.cos(theta)) / curvature_per_m, math.sin(theta) / curvature_per_m
    dx, dz = x - cx_m, z - cz_m
    x1 = dx * math.cos(theta) - dz * math.sin(theta)
    z1 = dx * math.sin(theta) + dz * math.cos(theta)
    p0 = np.stack([CX + F * x / z, CY + F * H_M / z], axis=1)
    p1 = np.stack([CX + F * x1 / z1, CY + F * H_M / z1], axis=1)
    p0 += rng.normal(0, noise_px, p0.shape)
    p1 += rng.normal(0, noise_px, p1.shape)
    bad = rng.random(n) < outlier_frac
    p1[bad] += rng.uniform(-15, 15, (int(bad.sum()), 2))
    return RoadFlow(p0[:, 0], p0[:, 1], p1[:, 0], p1[:, 1], dt_s)


# ---- pure math -------------------------------------------------------------------------------

@pytest.mark.parametrize("curvature_per_m", [-1 / 300.0, 0.0, 1 / 500.0])
def test_fit_recovers_speed_and_bend_on_an_arc(curvature_per_m):
    speed = 20.0
    flow = arc_flow(speed, curvature_per_m, outlier_frac=0.2)
    m = fit_ego_motion(flow, CY, CX, 0.0, (CX, CY), F, 1.0, np.random.default_rng(1))
    assert m is not None
    # a = v / (f h); the lane model's bend c = f^2 h kappa / 2 (fcw/geometry/ground.py).
    assert m.speed_per_px_s * F * H_M == pytest.approx(speed, rel=0.03)
    true_bend = F * F * H_M * curvature_per_m / 2
    assert m.bend_px2() == pytest.approx(true_bend, abs=0.05 * abs(true_bend) + 60)
    assert m.bend_sigma_px2() < 0.1 * F * F * H_M / 2 / 500  # a tenth of a 500 m bend
    assert m.n_inliers >= 0.7 * len(flow)


def test_the_focus_of_expansion_is_found_from_a_wrong_start():
    flow = arc_flow(20.0, 1 / 400.0)
    m = fit_ego_motion(flow, CY - 25.0, CX + 30.0, 0.02, (CX, CY), F, 1.0,
                       np.random.default_rng(1), free_horizon=True, max_shift_px=100.0)
    assert m is not None
    assert m.horizon_y_px == pytest.approx(CY, abs=3.0)
    assert m.vp_x_px == pytest.approx(CX, abs=10.0)
    assert abs(m.tilt) < 0.005
    assert m.speed_per_px_s * F * H_M == pytest.approx(20.0, rel=0.03)


def test_standing_still_measures_no_speed():
    m = fit_ego_motion(arc_flow(0.0, 0.0), CY, CX, 0.0, (CX, CY), F, 1.0,
                       np.random.default_rng(1))
    assert m is not None and abs(m.speed_per_px_s * F) < 0.3  # under 0.3 camera heights a second
    assert math.isnan(bend_from_motion_px2(0.0, 5.0))  # nothing to divide by


def test_tracker_waits_for_the_gap_and_drops_a_stale_key():
    img = np.random.default_rng(0).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    img = cv2.GaussianBlur(img, (5, 5), 0)
    tr = RoadFlowTracker(gap_s=0.1, work_width_px=320, max_points=100)
    tr.start(1.0, img, 180.0, np.zeros((0, 4)))
    assert tr.waiting and tr.update(1.05, img, np.zeros((0, 4))) is None and tr.waiting
    flow = tr.update(1.1, img, np.zeros((0, 4)))  # 1.1 - 1.0 < 0.1 in floats: still the gap
    assert flow is not None and len(flow) > 20 and not tr.waiting
    assert np.abs(flow.x1_px - flow.x0_px).max() < 0.5 and flow.y0_px.min() > 180
    tr.start(2.0, img, 180.0, np.array([[0.0, 0.0, 640.0, 360.0]]))  # all of it a car
    assert not tr.waiting
    tr.start(3.0, img, 180.0, np.zeros((0, 4)))
    assert tr.update(2.5, img, np.zeros((0, 4))) is None and not tr.waiting  # sought back


def test_motion_config_is_validated():
    with pytest.raises(ValidationError, match="motion_gap_s"):
        GeometryConfig(motion_gap_s=0.0)
    with pytest.raises(ValidationError, match="motion_min_points"):
        GeometryConfig(motion_min_points=1)


# ---- rendered roads without markings ---------------------------------------------------------

def label_tracks(labels) -> Tracks:
    """The frame's true boxes as confirmed tracks (the geometry stage only needs boxes)."""
    n = len(labels.boxes)
    if n == 0:
        return Tracks.empty()
    z = np.zeros(n)
    return Tracks(np.array([b.track_id for b in labels.boxes], np.int64),
                  np.array([b.xyxy for b in labels.boxes], np.float32).reshape(n, 4),
                  np.ones(n, np.float32), np.full(n, CAR, np.int32), np.ones(n, bool),
                  z, z.copy(), z.copy())


def drive_unmarked(name: str, seconds: float, motion: bool = True, camera: str = "centred"):
    """The geometry stage over a scenario rendered without markings at 10 fps: the camera,
    the last geometry, the motion bend per frame, and per frame whether the first vehicle's
    road point is in the straight and in the bent corridor."""
    from fcw.scenarios.camera import get_camera
    from fcw.scenarios.kinematics import get_scenario
    from fcw.scenarios.render import iter_scenario
    from fcw.scenarios.world import RoadLayout

    cam = get_camera(camera)
    geo = GeometryConfig(motion_enabled=motion)
    stage = GeometryStage(CameraConfig(height_m=cam.height_m, focal_px=cam.focal_px,
                                       geometry=geo), (CAR,))
    straight = Corridor.from_config(CameraConfig(), CorridorConfig(), cam.width, cam.height)
    g, bends, inside = None, [], []
    frames = iter_scenario(get_scenario(name), cam, fps=10, layout=RoadLayout(markings=False))
    for i, (img, labels) in enumerate(frames):
        g = stage.update(Frame(i, i / 10, img), label_tracks(labels))
        bends.append(stage.motion_bend_px2)
        bent = Corridor.from_geometry(g, CorridorConfig(), cam.width, cam.height)
        if labels.boxes:
            x1, _, x2, y2 = labels.boxes[0].xyxy
            point = (np.array([0.5 * (x1 + x2)]), np.array([y2]))
            inside.append((bool(straight.contains(*point)[0]), bool(bent.contains(*point)[0])))
        if i >= seconds * 10:
            break
    return cam, stage, g, np.array(bends), inside


@pytest.mark.parametrize("camera", ["centred", "windscreen"])
def test_unmarked_curve_bends_the_corridor_from_motion_alone(camera):
    """parked_on_curve without markings: a left-hand bend of 400 m radius whose parked car
    (at the right kerb) is straight ahead in the image; only the motion can bend the corridor
    away from it. Also through the pitched, rolled and yawed windscreen mount, whose focus of
    expansion the motion must find itself."""
    cam, stage, g, bends, inside = drive_unmarked("parked_on_curve", 3.5, camera=camera)
    true_bend = cam.focal_px ** 2 * cam.height_m * (-1 / 400.0) / 2  # -2000 px^2 centred
    assert bends[-1] == pytest.approx(true_bend, rel=0.3)
    assert stage.motion_speed_hps == pytest.approx(12.5 / cam.height_m, rel=0.1)
    assert not any(b for _, b in inside)
    # The mount's roll from the same flow: the windscreen mount is rolled 1° (its horizon
    # rises to the right, a negative tilt in fcw's convention), the centred one not at all.
    assert math.degrees(g.roll_rad) == pytest.approx(-cam.roll_deg, abs=0.4)
    # A measured roll, not the level prior's 0 (which the centred mount's truth also is).
    assert stage.roll_samples >= stage.cfg.roll_min_samples
    # Through the windscreen mount the lane pass now and then takes low streaks of the rendered
    # asphalt for markings (an old weakness of the lane pass, not the motion's): there only the
    # motion's own bend is judged.
    if camera == "centred":
        assert "lanes" not in g.source  # nothing painted to find
        assert "motion" in g.source and g.bend_px2 == bends[-1]
        assert any(s for s, _ in inside), "never in the straight corridor: nothing tested"


def test_without_the_motion_the_unmarked_curve_stays_straight():
    _, _, g, bends, inside = drive_unmarked("parked_on_curve", 2.5, motion=False)
    assert g.bend_px2 == 0.0 and not bends.any()
    assert any(b for _, b in inside)  # the parked car is taken for the lead


def test_unmarked_straight_road_stays_straight():
    """steady_follow without markings: 20 m/s behind a car at a steady gap on a straight road."""
    cam, stage, g, bends, _ = drive_unmarked("steady_follow", 3.0)
    assert stage.motion_speed_hps == pytest.approx(20.0 / cam.height_m, rel=0.1)
    assert g.bend_px2 == 0.0 and not bends.any()


# ---- a real drive ----------------------------------------------------------------------------

def test_straight_real_freeway_gives_no_bend_from_motion(shared_dir: Path, models_dir: Path):
    """A real freeway that runs straight (highway_solid_white_right): the motion's bend,
    where it has one, stays under twice the smallest bend the lanes take (1.5% of the width
    5% of the height under the horizon), and it did measure the speed."""
    from engines.spec import load_spec
    from fcw.app import RunOptions, build_detector
    from fcw.config import load_config
    from fcw.tracking.tracker import Tracker

    video = shared_dir / "data" / "real-drives" / "highway_solid_white_right.mp4"
    if not video.is_file():
        pytest.skip(f"{video} not found (set FCW_SHARED_DIR)")
    cfg = load_config()
    spec = load_spec(cfg.detector.model)
    detector, _ = build_detector(cfg, spec, RunOptions(source="", models_dir=models_dir))
    stage = GeometryStage(cfg.camera, spec.class_ids(("car",)))
    tracker = Tracker(cfg.tracker, spec.vehicle_class_ids)
    cap = cv2.VideoCapture(str(video))
    bends, speeds = [], []
    for i in range(150):
        ok, img = cap.read()
        if not ok:
            break
        frame = Frame(i, i / 25.0, img)
        stage.update(frame, tracker.update(frame.t_s, detector.update(frame)))
        bends.append(stage.motion_bend_px2)
        speeds.append(stage.motion_speed_hps)
    cap.release()
    w, h = 960, 540
    min_bend = cfg.camera.geometry.min_bend_offset_frac * w * 0.05 * h
    assert max(speeds) > cfg.camera.geometry.motion_min_speed_hps  # it had samples
    assert np.abs(bends).max() < 2 * min_bend
