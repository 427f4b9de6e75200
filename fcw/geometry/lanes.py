"""Lane-marking segments below the horizon: a cheap edge and Hough pass on a small image.

Lane markings are the longest straight bright edges on the road and, seen from the lane, lean
towards the vanishing point: left of it they rise to the right, right of it to the left. The
pass runs on the road part of the frame scaled to a few hundred pixels wide (about 1 ms), a few
times a second.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# The top-hat's width as a share of the work image's: wider than a near marking (15 cm at 4 m
# is about 1.5% of the width of a 60-100 degree lens), narrower than a car.
_STRIPE_KERNEL_FRAC = 0.04


@dataclass(frozen=True)
class LaneSegments:
    """Segments that may be lane markings.

    xyxy: (N, 4) float64, x1, y1, x2, y2 in full-frame pixels, y1 < y2 (top end first).
    length_px: (N,) float64, their lengths in full-frame pixels.
    """

    xyxy: np.ndarray
    length_px: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.length_px)
        if self.xyxy.shape != (n, 4):
            raise ValueError(f"LaneSegments.xyxy must have shape {(n, 4)}, got {self.xyxy.shape}")

    def __len__(self) -> int:
        return len(self.length_px)

    def __getitem__(self, index: np.ndarray) -> LaneSegments:
        """Select by boolean mask or index array."""
        return LaneSegments(self.xyxy[index], self.length_px[index])

    @classmethod
    def empty(cls) -> LaneSegments:
        return cls(np.zeros((0, 4)), np.zeros(0))


def find_lane_segments(image: np.ndarray, horizon_y_px: float, vp_x_px: float, work_width_px: int,
                       top_margin_frac: float, bottom_margin_frac: float,
                       min_lean_deg: float, max_lean_deg: float,
                       edge_low: float = 1.0) -> LaneSegments:
    """Straight edges on the road below ``horizon_y_px`` that lean towards ``vp_x_px``.

    ``top_margin_frac`` / ``bottom_margin_frac`` of the frame height are left out under the
    horizon (too far to resolve) and at the bottom (the bonnet, the dashboard). A segment's lean
    is its angle from the horizontal; markings seen from the lane lean 20-70 degrees."""
    h, w = image.shape[:2]
    y0 = int(np.clip(horizon_y_px + top_margin_frac * h, 0, h - 2))
    y1 = int(np.clip(h * (1 - bottom_margin_frac), y0 + 2, h))
    roi = image[y0:y1]
    scale = min(1.0, work_width_px / w)
    small = cv2.resize(roi, (max(1, int(w * scale)), max(1, int((y1 - y0) * scale))),
                       interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    # Markings are thin bright stripes: a top-hat across the rows keeps what is brighter than
    # the road on both sides and narrower than the kernel, and drops the step edges of car
    # bodies, kerbs and shadows, which are the other long straight lines under the horizon.
    k = max(3, int(round(_STRIPE_KERNEL_FRAC * small.shape[1])) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (k, 1))
    ridges = cv2.morphologyEx(gray, cv2.MORPH_TOPHAT, kernel)
    # Thresholds relative to the stripes' own contrast (night, dusk and glare differ 10-fold);
    # the 3x3 Sobel inside Canny answers a step about 4-fold.
    hi = float(np.percentile(ridges, 99.5))
    edges = cv2.Canny(ridges, max(20.0, edge_low * hi), max(40.0, 2 * edge_low * hi))
    min_len = max(8, int(0.04 * small.shape[1]))
    found = cv2.HoughLinesP(edges, 1, np.pi / 180, threshold=max(8, min_len // 2),
                            minLineLength=min_len, maxLineGap=max(2, min_len // 3))
    if found is None:
        return LaneSegments.empty()
    seg = found.reshape(-1, 4).astype(float) / scale + np.array([0, y0, 0, y0], float)
    top_first = seg[:, 1] > seg[:, 3]
    seg[top_first] = seg[top_first][:, [2, 3, 0, 1]]
    dx, dy = seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1]
    lean = np.degrees(np.arctan2(dy, np.abs(dx)))
    # Rising towards the vanishing point: below-left of it, the top end is further right.
    xm = 0.5 * (seg[:, 0] + seg[:, 2])
    towards = np.where(xm < vp_x_px, dx < 0, dx > 0)
    keep = (lean >= min_lean_deg) & (lean <= max_lean_deg) & towards
    seg = seg[keep]
    return LaneSegments(seg, np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1]))
