"""A pinhole dashcam over a flat road, for rendering scenarios and computing their ground truth.

Camera coordinates, metres: X to the right, Y down, Z forward along the road; the camera sits at
the origin ``height_m`` above the road (so the road is the plane Y = height_m) with zero pitch
and roll, hence the horizon is the image row ``cy``. Pixels: u to the right, v down, (0, 0) the
top-left corner of the top-left pixel.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PinholeCamera:
    width: int = 1280
    height: int = 720
    hfov_deg: float = 60.0
    height_m: float = 1.3

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera size must be positive, got {self.width}x{self.height}")
        if not 1.0 < self.hfov_deg < 179.0:
            raise ValueError(f"hfov_deg must be in (1, 179), got {self.hfov_deg}")
        if self.height_m <= 0:
            raise ValueError(f"height_m must be > 0, got {self.height_m}")

    @property
    def focal_px(self) -> float:
        """Focal length in pixels (square pixels, so the same for both axes)."""
        return (self.width / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)

    @property
    def cx(self) -> float:
        return self.width / 2.0

    @property
    def cy(self) -> float:
        return self.height / 2.0

    def project(self, points_m: np.ndarray) -> np.ndarray:
        """(N, 3) camera-frame points (all with Z > 0) -> (N, 2) float64 pixels (u, v)."""
        p = np.asarray(points_m, dtype=np.float64).reshape(-1, 3)
        if np.any(p[:, 2] <= 0):
            raise ValueError("project() needs points in front of the camera (Z > 0)")
        f = self.focal_px
        return np.stack([self.cx + f * p[:, 0] / p[:, 2], self.cy + f * p[:, 1] / p[:, 2]], axis=1)

    def ground_range_m(self, v_px: np.ndarray | float) -> np.ndarray:
        """Forward distance Z of the road point seen at image row v (rows below the horizon)."""
        dv = np.asarray(v_px, dtype=np.float64) - self.cy
        with np.errstate(divide="ignore"):
            return np.where(dv > 0, self.focal_px * self.height_m / np.where(dv > 0, dv, 1.0),
                            np.inf)
