import math
from dataclasses import replace

import numpy as np
import pytest

from fcw.scenarios.camera import CAMERAS, PinholeCamera, get_camera
from fcw.scenarios.render import render_empty_road, render_still


def test_focal_from_fov():
    cam = PinholeCamera(1280, 720, 60.0)
    assert cam.focal_px == pytest.approx(640 / math.tan(math.radians(30)))
    assert (cam.cx, cam.cy) == (640.0, 360.0)


def test_project_and_ground_range():
    cam = PinholeCamera()
    uv = cam.project(np.array([[0, 0, 10.0], [1.0, cam.height_m, 20.0]]))
    assert uv[0] == pytest.approx([640, 360])
    assert uv[1, 0] == pytest.approx(640 + cam.focal_px / 20)
    assert cam.ground_range_m(uv[1, 1]) == pytest.approx(20.0)
    assert np.isinf(cam.ground_range_m(100.0))


def test_behind_camera_rejected():
    with pytest.raises(ValueError):
        PinholeCamera().project(np.array([[0, 0, -1.0]]))
    with pytest.raises(ValueError):
        PinholeCamera(hfov_deg=0.0)


# --- the mount: pitch, roll, yaw, lateral offset, wide angle ---------------------------------

def test_presets():
    wind, wide = CAMERAS["windscreen"], CAMERAS["wide"]
    assert CAMERAS["centred"] == PinholeCamera()
    assert (wind.pitch_deg, wind.roll_deg, wind.yaw_deg, wind.height_m) == (2.5, 1.0, 1.5, 1.45)
    assert 0.2 <= wind.offset_m <= 0.4
    assert 100 <= wide.hfov_deg <= 120
    assert get_camera("wide", 640, 360).focal_px == pytest.approx(wide.focal_px / 2)
    with pytest.raises(KeyError, match="windscreen"):
        get_camera("dash")


def test_pitch_raises_the_horizon_by_f_tan_pitch():
    cam = PinholeCamera(pitch_deg=2.5)
    far_ahead = cam.project(np.array([[0.0, 0.0, 1e6]]))[0]
    assert far_ahead == pytest.approx([cam.cx, cam.cy - cam.focal_px * math.tan(math.radians(2.5))],
                                      abs=1e-3)
    assert cam.horizon_v(cam.cx) == pytest.approx(far_ahead[1], abs=1e-3)


def test_roll_tilts_the_horizon_yaw_moves_the_vanishing_point():
    rolled = PinholeCamera(roll_deg=1.0)
    v = rolled.horizon_v(np.array([0.0, rolled.width]))
    # Positive roll: the horizon rises to the right, at the roll's slope, through the centre.
    assert (v[0] - v[1]) / rolled.width == pytest.approx(math.tan(math.radians(1.0)))
    assert rolled.horizon_v(rolled.cx) == pytest.approx(rolled.cy)
    yawed = PinholeCamera(yaw_deg=1.5)
    vp = yawed.project(np.array([[0.0, 0.0, 1e6]]))[0]
    assert vp[0] == pytest.approx(yawed.cx - yawed.focal_px * math.tan(math.radians(1.5)), abs=1e-3)


@pytest.mark.parametrize("name", list(CAMERAS))
def test_points_on_the_horizon_plane_map_to_the_horizon_line(name):
    cam = CAMERAS[name]
    rng = np.random.default_rng(0)
    pts = np.stack([rng.uniform(-30, 30, 50), np.zeros(50), rng.uniform(5, 300, 50)], axis=1)
    uv = cam.project(pts)
    assert uv[:, 1] == pytest.approx(cam.horizon_v(uv[:, 0]), abs=1e-6)
    # ... and road points (Y = height) lie below it.
    road = cam.project(pts + [0.0, cam.height_m, 0.0])
    assert np.all(road[:, 1] > cam.horizon_v(road[:, 0]))


def test_lateral_offset_moves_the_lane_centre_left():
    cam = PinholeCamera(offset_m=0.3)
    uv = cam.project(np.array([[0.0, cam.height_m, 20.0]]))[0]
    assert uv[0] == pytest.approx(cam.cx - cam.focal_px * 0.3 / 20.0)
    assert cam.ground_range_m(uv[1]) == pytest.approx(20.0)
    assert cam.ground_x_m(uv[0], 20.0) == pytest.approx(0.0)


@pytest.mark.parametrize("name", ["windscreen", "wide"])
def test_level_canvas_homography_is_the_mount(name):
    """The renderer draws on a level canvas and warps it: that must be the mounted projection."""
    cam = CAMERAS[name]
    canvas, h = cam.level_canvas()
    assert canvas.is_level and canvas.focal_px == pytest.approx(cam.focal_px)
    rng = np.random.default_rng(1)
    pts = np.stack([rng.uniform(-5, 5, 40), rng.uniform(-1, 1.4, 40), rng.uniform(4, 120, 40)], 1)
    a = canvas.project(pts)
    mapped = (h @ np.c_[a, np.ones(len(a))].T).T
    assert mapped[:, :2] / mapped[:, 2:] == pytest.approx(cam.project(pts), abs=1e-6)
    # The canvas covers the whole mounted image.
    corners = np.array([[0, 0, 1], [cam.width, cam.height, 1], [0, cam.height, 1],
                        [cam.width, 0, 1.0]])
    back = (np.linalg.inv(h) @ corners.T).T
    back = back[:, :2] / back[:, 2:]
    assert np.all(back >= 0) and np.all(back <= [canvas.width, canvas.height])


@pytest.mark.parametrize("name", ["windscreen", "wide"])
def test_label_box_bounds_the_drawn_car_under_the_mount(name):
    """Ground truth stays exact: the pixels the car changes are inside its label box, and fill
    it (a car drawn where the labels do not say fails this)."""
    cam = get_camera(name, 640, 360)
    with_car, box = render_still(15.0, 0.5, style=2, seed=0, cam=cam)
    empty = render_empty_road(seed=0, cam=cam)
    diff = np.abs(with_car.astype(int) - empty.astype(int)).max(axis=2) > 40
    ys, xs = np.nonzero(diff)
    drawn = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)
    assert drawn == pytest.approx(box, abs=3.0), (drawn, box)


def test_mount_validation():
    with pytest.raises(ValueError, match="pitch_deg"):
        PinholeCamera(pitch_deg=45.0)
    with pytest.raises(ValueError, match="ground_range_m"):
        replace(CAMERAS["windscreen"]).ground_range_m(500.0)
