"""A road of constant curvature, in the camera's road frame (see ``camera.py``).

Road coordinates: ``x`` across from the ego lane's centre line (m, + right), ``s`` along that line
from the point beside the camera (m). On a curve of curvature k (1/m, + bending right) the centre
line is a circle of radius 1/k through the origin, tangent to Z; a straight road (k = 0) is the
identity. The picture is the same from anywhere on the curve, so the ego's travel only moves the
texture and the dashes along ``s``.
"""
from __future__ import annotations

import numpy as np

# Below this the curve is straight to well under a millimetre over the draw distance.
_STRAIGHT = 1e-9


def road_to_frame(x_m: np.ndarray, s_m: np.ndarray,
                  curvature_per_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Road (x, s) -> road-frame (X, Z) on the ground."""
    x, s = np.asarray(x_m, np.float64), np.asarray(s_m, np.float64)
    k = curvature_per_m
    if abs(k) < _STRAIGHT:
        return x + 0.0 * s, s + 0.0 * x
    radius = 1.0 / k
    a = s * k
    return radius - (radius - x) * np.cos(a), (radius - x) * np.sin(a)


def frame_to_road(x_m: np.ndarray, z_m: np.ndarray,
                  curvature_per_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Road-frame (X, Z) on the ground -> road (x, s); the inverse of ``road_to_frame`` ahead."""
    x, z = np.asarray(x_m, np.float64), np.asarray(z_m, np.float64)
    k = curvature_per_m
    if abs(k) < _STRAIGHT:
        return x + 0.0 * z, z + 0.0 * x
    radius = 1.0 / k
    rel_x = radius - x
    sign = np.sign(radius)
    r = np.hypot(rel_x, z)
    return radius - sign * r, np.arctan2(z * sign, rel_x * sign) * radius


def heading_rad(s_m: np.ndarray | float, curvature_per_m: float) -> np.ndarray:
    """Direction of the road at s, from Z towards +X (rad)."""
    return np.asarray(s_m, np.float64) * curvature_per_m


def place(points_xhd: np.ndarray, x_m: float, s_m: float, curvature_per_m: float,
          camera_height_m: float) -> np.ndarray:
    """(N, 3) body points (x across, h up, d forward from a reference point) of a rigid object
    whose reference point stands on the road at (x_m, s_m), aligned with the road there -> (N, 3)
    road-frame points."""
    p = np.asarray(points_xhd, np.float64).reshape(-1, 3)
    px, pz = road_to_frame(np.array(x_m), np.array(s_m), curvature_per_m)
    a = float(heading_rad(s_m, curvature_per_m))
    c, sn = np.cos(a), np.sin(a)
    return np.stack([px + p[:, 0] * c + p[:, 2] * sn, camera_height_m - p[:, 1],
                     pz - p[:, 0] * sn + p[:, 2] * c], axis=1)
