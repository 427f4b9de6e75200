"""The ego corridor and the choice of the lead vehicle in it.

The corridor is the image of the ego lane ahead under a flat road: a triangle whose apex is the
vanishing point and that widens linearly with the image row to +-bottom_half_width at the
bottom row (a trapezoid once clipped to the frame). A vehicle is in it when the middle of the
bottom edge of its box, the point where it touches the road, is inside.

With the geometry stage's estimate (fcw/geometry/) the apex is the estimated vanishing point
and, on a curve, the corridor's centre line bends with the road: at row y it lies
``bend_px2 / (y - horizon)`` beside the straight line, so that on a bend the cars on the other
carriageway near the vanishing point fall outside it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fcw.config import CameraConfig, CorridorConfig
from fcw.geometry.ground import bend_offset_px
from fcw.types import CameraGeometry, Tracks


@dataclass(frozen=True)
class Corridor:
    vp_x_px: float
    vp_y_px: float
    bottom_y_px: float
    bottom_half_width_px: float
    #: the road's bend (px^2, CameraGeometry.bend_px2) and the most its centre may stray aside
    bend_px2: float = 0.0
    max_bend_offset_px: float = 0.0

    @classmethod
    def from_config(cls, camera: CameraConfig, corridor: CorridorConfig, width_px: int,
                    height_px: int) -> Corridor:
        return cls(camera.vanishing_point_x * width_px, camera.vanishing_point_y * height_px,
                   float(height_px), corridor.bottom_half_width_frac * width_px)

    @classmethod
    def from_geometry(cls, geometry: CameraGeometry, corridor: CorridorConfig, width_px: int,
                      height_px: int, max_bend_offset_frac: float = 0.15) -> Corridor:
        """The corridor under the estimated horizon and vanishing point, bent with the road."""
        return cls(geometry.vp_x_px, geometry.horizon_y_px, float(height_px),
                   corridor.bottom_half_width_frac * width_px, geometry.bend_px2,
                   max_bend_offset_frac * width_px)

    def centre_x_px(self, y_px: np.ndarray) -> np.ndarray:
        """The corridor's centre line at image row y (the vanishing point's column on a
        straight road)."""
        if self.bend_px2 == 0.0:
            return np.full(np.shape(y_px), self.vp_x_px, dtype=float)
        return self.vp_x_px + bend_offset_px(y_px, self.vp_y_px, self.bend_px2,
                                             self.max_bend_offset_px)

    def half_width_px(self, y_px: np.ndarray) -> np.ndarray:
        """Half-width at image row y (0 at and above the vanishing point)."""
        depth = max(self.bottom_y_px - self.vp_y_px, 1e-6)
        frac = (np.asarray(y_px, dtype=float) - self.vp_y_px) / depth
        return self.bottom_half_width_px * np.clip(frac, 0.0, None)

    def contains(self, x_px: np.ndarray, y_px: np.ndarray) -> np.ndarray:
        """Whether the road points (x, y) are in the corridor; rows below the frame extend it."""
        y = np.asarray(y_px, dtype=float)
        off = np.abs(np.asarray(x_px, dtype=float) - self.centre_x_px(y))
        inside = off <= self.half_width_px(y)
        return inside & (y > self.vp_y_px)


def select_lead(tracks: Tracks, corridor: Corridor) -> int | None:
    """Track id of the nearest confirmed track (a vehicle) in the corridor, or None.

    Nearest is the lowest box bottom (largest y2): on a flat road that is the shortest range.
    There is no memory: a cut-in is the lead from the first frame its bottom centre is in the
    corridor, and a cut-out stops being the lead the frame it leaves.
    """
    if len(tracks) == 0:
        return None
    xyxy = np.asarray(tracks.xyxy, dtype=float)
    # A box with a non-finite corner (a track diverging this frame) is never the lead.
    finite = np.isfinite(xyxy).all(axis=1)
    xyxy = np.where(finite[:, None], xyxy, 0.0)
    x_bottom = 0.5 * (xyxy[:, 0] + xyxy[:, 2])
    y_bottom = xyxy[:, 3]
    ok = finite & np.asarray(tracks.confirmed, bool) & corridor.contains(x_bottom, y_bottom)
    if not ok.any():
        return None
    candidates = np.nonzero(ok)[0]
    return int(tracks.track_id[candidates[np.argmax(y_bottom[candidates])]])
