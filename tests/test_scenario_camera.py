import math

import numpy as np
import pytest

from fcw.scenarios.camera import PinholeCamera


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
