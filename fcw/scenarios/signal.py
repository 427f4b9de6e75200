"""A traffic-light head on a mast arm over the road, drawn like the vehicles from 3D points.

The head is a dark housing with three lamps (red on top, yellow, green) of which the lit one is
bright, with a soft glow as a camera sees an LED lamp; a pole at the roadside carries it on a mast
arm. Camera coordinates as in ``camera.py`` (the road is the plane Y = camera height).
"""
from __future__ import annotations

import cv2
import numpy as np

from fcw.scenarios.camera import PinholeCamera
from fcw.scenarios.kinematics import SignalHead

HOUSING_W_M, HOUSING_H_M = 0.42, 1.1
_LAMP_R_M = 0.14
_LAMP_DH_M = {"red": 0.34, "yellow": 0.0, "green": -0.34}  # lamp centre over the head's centre
_POLE_OFFSET_M = 8.0      # on the verge, 2 m beyond the shoulder
_POLE_W_M, _ARM_W_M = 0.25, 0.15
_MIN_RANGE_M = 3.0
# BGR: lit lamps as a camera records LED signals (the green is blue-green), unlit lenses, metal.
_LIT = {"red": (60, 50, 255), "yellow": (40, 200, 255), "green": (200, 240, 90)}
_CORE = {"red": (190, 190, 255), "yellow": (170, 240, 255), "green": (235, 255, 200)}
_UNLIT = (46, 44, 44)
_HOUSING = (30, 30, 28)
_METAL = (70, 72, 72)


def _point(cam: PinholeCamera, x_m: float, h_m: float, z_m: float) -> np.ndarray:
    return cam.project(np.array([[x_m, cam.height_m - h_m, z_m]]))[0]


def _quad(cam: PinholeCamera, x0: float, x1: float, h0: float, h1: float, z: float) -> np.ndarray:
    return np.array([_point(cam, x0, h0, z), _point(cam, x1, h0, z), _point(cam, x1, h1, z),
                     _point(cam, x0, h1, z)])


def _fill(img: np.ndarray, uv: np.ndarray, colour: tuple[int, int, int]) -> None:
    cv2.fillPoly(img, [np.round(uv * 16).astype(np.int32)], colour, cv2.LINE_AA, shift=4)


def signal_box(cam: PinholeCamera, head: SignalHead, range_m: float) -> np.ndarray | None:
    """(4,) pixel box of the housing, or None when it is behind the camera or out of the frame."""
    if range_m < _MIN_RANGE_M:
        return None
    hw, hh = HOUSING_W_M / 2, HOUSING_H_M / 2
    q = _quad(cam, head.offset_m - hw, head.offset_m + hw, head.height_m - hh,
              head.height_m + hh, range_m)
    box = np.array([q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max()])
    if box[2] <= 0 or box[3] <= 0 or box[0] >= cam.width or box[1] >= cam.height:
        return None
    return box


def draw_signal(img: np.ndarray, cam: PinholeCamera, head: SignalHead, range_m: float,
                state: str) -> None:
    """Draw the pole, mast arm and head ``range_m`` ahead, with the ``state`` lamp lit."""
    if signal_box(cam, head, range_m) is None:
        return
    z, x, h = range_m, head.offset_m, head.height_m
    top = h + HOUSING_H_M / 2
    side = 1.0 if x <= 0 else -1.0  # the pole stands on the far side from the head's lane
    pole_x = -side * _POLE_OFFSET_M
    _fill(img, _quad(cam, pole_x - _POLE_W_M / 2, pole_x + _POLE_W_M / 2, 0.0, top + 0.3, z),
          _METAL)
    _fill(img, _quad(cam, min(pole_x, x), max(pole_x, x), top + 0.05, top + 0.05 + _ARM_W_M, z),
          _METAL)
    hw, hh = HOUSING_W_M / 2, HOUSING_H_M / 2
    _fill(img, _quad(cam, x - hw, x + hw, h - hh, h + hh, z), _HOUSING)
    r_px = cam.focal_px * _LAMP_R_M / z
    for colour, dh in _LAMP_DH_M.items():
        c = _point(cam, x, h + dh, z)
        centre = tuple(int(v) for v in np.round(c * 16))
        if colour != state:
            cv2.circle(img, centre, int(round(r_px * 16)), _UNLIT, -1, cv2.LINE_AA, shift=4)
            continue
        # The glow: a blurred disc added over the housing and the sky around the lamp.
        pad = int(np.ceil(r_px * 3)) + 2
        x0, y0 = max(int(c[0]) - pad, 0), max(int(c[1]) - pad, 0)
        x1, y1 = min(int(c[0]) + pad + 1, img.shape[1]), min(int(c[1]) + pad + 1, img.shape[0])
        if x1 <= x0 or y1 <= y0:
            continue
        glow = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
        local = (centre[0] - x0 * 16, centre[1] - y0 * 16)
        cv2.circle(glow, local, int(round(r_px * 1.4 * 16)), _LIT[colour], -1, cv2.LINE_AA, shift=4)
        glow = cv2.GaussianBlur(glow, (0, 0), max(r_px * 0.6, 0.6))
        roi = img[y0:y1, x0:x1].astype(np.float32)
        img[y0:y1, x0:x1] = np.clip(roi * (1 - 0.6 * glow / 255) + 0.6 * glow,
                                    0, 255).astype(np.uint8)
        cv2.circle(img, centre, int(round(r_px * 16)), _LIT[colour], -1, cv2.LINE_AA, shift=4)
        cv2.circle(img, centre, int(round(r_px * 0.55 * 16)), _CORE[colour], -1, cv2.LINE_AA,
                   shift=4)
