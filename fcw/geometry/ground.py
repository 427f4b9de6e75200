"""Pure flat-road geometry: horizon, vanishing point and road curvature from image evidence.

Conventions: pixels of the full frame, rows grow downwards; ``u_px = y_px - horizon_y_px`` is
the height of an image row below the horizon. On a flat road a point at range Z (m) lies at
``u = f h / Z`` for a camera h metres up, so everything here is linear in 1/Z.

The road model is the classic one of lane-tracking work (a clothoid road seen by a pinhole, to
first order): a curve lying X(Z) = X0 + psi Z + kappa Z^2 / 2 to the side of the camera images
as ``x = vp_x + k u + c / u`` with ``k = X0 / h`` (which boundary), ``vp_x`` (the heading) and
``c = f^2 h kappa / 2`` (the bend, px^2, > 0 when the road turns right).
"""
from __future__ import annotations

import numpy as np


def horizon_from_vehicle_px(y_bottom_px: np.ndarray, width_px: np.ndarray, camera_height_m: float,
                            vehicle_width_m: float, overhang_m: float = 0.0,
                            focal_px: float = 1.0) -> np.ndarray:
    """Horizon row implied by vehicles standing on the road: y_b - y_h = h w / W.

    A vehicle W metres wide at range Z is w = f W / Z pixels wide and its bottom edge is
    f h / Z below the horizon, so the focal length and the range cancel. The box's bottom is
    where the rear wheels touch the road, ``overhang_m`` beyond the rear face whose width the
    box shows: y_b - y_h = f h / (Z + o) = h w / (W + o w / f). The correction is small (o w / f
    = o W / Z), so a rough focal length does."""
    w = np.asarray(width_px, float)
    return (np.asarray(y_bottom_px, float)
            - camera_height_m * w / (vehicle_width_m + overhang_m * w / focal_px))


def lateral_offset_m(x_centre_px: np.ndarray, vp_x_px: float, width_px: np.ndarray,
                     vehicle_width_m: float) -> np.ndarray:
    """A vehicle's lateral offset from the camera's line of sight to the vanishing point (m),
    with its own width as the scale: only a vehicle nearly straight ahead shows no side, so
    only its box width is its rear's width."""
    x = np.asarray(x_centre_px, float)
    return (x - vp_x_px) * vehicle_width_m / np.asarray(width_px, float)


def bottom_hidden(xyxy: np.ndarray) -> np.ndarray:
    """(N,) bool: a bottom corner of box i lies inside a box j that reaches lower (nearer on a
    flat road), which then hides where box i meets the road."""
    b = np.asarray(xyxy, float).reshape(-1, 4)
    hidden = np.zeros(len(b), bool)
    for corner_x in (b[:, 0], b[:, 2]):
        inside = ((corner_x[:, None] > b[None, :, 0]) & (corner_x[:, None] < b[None, :, 2])
                  & (b[:, None, 3] > b[None, :, 1]) & (b[:, None, 3] < b[None, :, 3]))
        hidden |= inside.any(axis=1)
    return hidden


def points_in_boxes(x_px: np.ndarray, y_px: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """(N,) bool: point i lies inside at least one of the (M, 4) boxes."""
    b = np.asarray(xyxy, float).reshape(-1, 4)
    x, y = np.asarray(x_px, float)[:, None], np.asarray(y_px, float)[:, None]
    inside = (x >= b[:, 0]) & (x <= b[:, 2]) & (y >= b[:, 1]) & (y <= b[:, 3])
    return np.asarray(inside.any(axis=1), bool)


def segment_lines(segments_px: np.ndarray) -> np.ndarray:
    """Unit-normal lines (a, b, c), a x + b y + c = 0, through (N, 4) segments x1, y1, x2, y2."""
    seg = np.asarray(segments_px, float).reshape(-1, 4)
    d = seg[:, 2:] - seg[:, :2]
    n = np.stack([d[:, 1], -d[:, 0]], axis=1)
    norm = np.linalg.norm(n, axis=1, keepdims=True)
    n = n / np.where(norm > 0, norm, 1.0)
    return np.concatenate([n, -(n * seg[:, :2]).sum(axis=1, keepdims=True)], axis=1)


def best_crossing_px(lines: np.ndarray, weights: np.ndarray, scale_px: float,
                     centre_px: tuple[float, float], max_dist_px: tuple[float, float]
                     ) -> tuple[float, float] | None:
    """The crossing of two of the lines that the most line weight passes within ``scale_px``
    of (a RANSAC over all pairs), among crossings within ``max_dist_px`` (x, y) of
    ``centre_px``; None without one."""
    lines = np.asarray(lines, float).reshape(-1, 3)
    i, j = np.triu_indices(len(lines), 1)
    pts = np.cross(lines[i], lines[j])
    ok = np.abs(pts[:, 2]) > 1e-9  # not parallel
    pts = pts[ok, :2] / pts[ok, 2:3]
    near = ((np.abs(pts[:, 0] - centre_px[0]) <= max_dist_px[0])
            & (np.abs(pts[:, 1] - centre_px[1]) <= max_dist_px[1]))
    pts = pts[near]
    if len(pts) == 0:
        return None
    dist = np.abs(pts @ lines[:, :2].T + lines[:, 2])  # (candidates, lines)
    score = (np.asarray(weights, float) * (dist < scale_px)).sum(axis=1)
    best = pts[int(np.argmax(score))]
    return float(best[0]), float(best[1])


def robust_intersection_px(lines: np.ndarray, weights: np.ndarray, start_px: tuple[float, float],
                           scale_px: float, iterations: int = 8,
                           min_eig: float = 0.05) -> tuple[float, float, np.ndarray] | None:
    """The point nearest to the lines in the weighted least-squares sense, with Tukey weights
    (lines farther than ``scale_px`` from the point stop counting), started at ``start_px``
    (:func:`best_crossing_px` finds a start among the lines themselves).

    Returns (x, y, inlier mask), or None when the inliers do not pin the point down in both
    directions (lines nearly parallel: one side of the road only): the normalised smaller
    eigenvalue of the normal matrix is below ``min_eig``."""
    lines = np.asarray(lines, float).reshape(-1, 3)
    w0 = np.asarray(weights, float)
    p = np.asarray(start_px, float)
    inl = np.zeros(len(lines), bool)
    for _ in range(iterations):
        r = lines[:, :2] @ p + lines[:, 2]
        z = np.clip(r / scale_px, -1.0, 1.0)
        w = w0 * (1 - z ** 2) ** 2
        inl = np.abs(r) < scale_px
        if w.sum() <= 0:
            return None
        a = (lines[:, :2] * w[:, None]).T @ lines[:, :2]
        b = -(lines[:, :2] * w[:, None]).T @ lines[:, 2]
        eig = np.linalg.eigvalsh(a)
        if eig[0] < min_eig * max(eig.sum(), 1e-12):
            return None
        p = np.linalg.solve(a, b)
    return float(p[0]), float(p[1]), inl


def horizon_crossings_px(segments_px: np.ndarray, horizon_y_px: float
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Where each segment's line crosses the horizon row (x, px) and how far below the horizon
    its midpoint lies (u, px); NaN for a flat segment.

    On the road model a boundary's tangent at depth u crosses the horizon at
    x_h = vp_x + 2 c / u (from x - vp_x = k u + c / u and dx/dy = k - c / u^2): all at the
    vanishing point on a straight road, fanning out with 1/u on a bend."""
    seg = np.asarray(segments_px, float).reshape(-1, 4)
    xm, ym = 0.5 * (seg[:, 0] + seg[:, 2]), 0.5 * (seg[:, 1] + seg[:, 3])
    dy = seg[:, 3] - seg[:, 1]
    flat = np.abs(dy) < 1e-6
    slope = (seg[:, 2] - seg[:, 0]) / np.where(flat, 1.0, dy)
    u = ym - horizon_y_px
    return np.where(flat, np.nan, xm - slope * u), u


def heading_and_bend(crossing_x_px: np.ndarray, u_px: np.ndarray, weights: np.ndarray,
                     scale_px: float, min_u_px: float, min_depth_ratio: float = 2.0,
                     iterations: int = 6) -> tuple[float, float] | None:
    """(vp_x, c): the road's heading column and bend (px^2) from the horizon crossings of the
    marking segments, x_h = vp_x + 2 c / u, by least squares with Tukey weights (``scale_px``).

    The bend needs segments at different depths: unless the deepest lies ``min_depth_ratio``
    times further below the horizon than the shallowest, c is 0 and vp_x their weighted
    median. None without a segment at least ``min_u_px`` below the horizon."""
    x, u, w0 = (np.asarray(a, float) for a in (crossing_x_px, u_px, weights))
    ok = np.isfinite(x) & (u >= min_u_px) & (w0 > 0)
    if not ok.any():
        return None
    x, inv_u, w0 = x[ok], 1.0 / u[ok], w0[ok]
    a = weighted_median(x, w0)
    if inv_u.max() < min_depth_ratio * inv_u.min():
        return a, 0.0
    b = 0.0
    design = np.stack([np.ones_like(inv_u), inv_u], axis=1)
    for _ in range(iterations):
        z = np.clip((x - a - b * inv_u) / scale_px, -1.0, 1.0)
        w = w0 * (1 - z ** 2) ** 2
        if np.count_nonzero(w) < 2:
            break
        sw = np.sqrt(w)
        (a, b), *_ = np.linalg.lstsq(design * sw[:, None], x * sw, rcond=None)
    return float(a), float(b) / 2.0


def bend_offset_px(y_px: np.ndarray, horizon_y_px: float, bend_px2_: float,
                   max_offset_px: float, min_u_px: float = 1.0) -> np.ndarray:
    """How far the road's centre at image row y lies beside its straight-road position (px):
    c / u, limited to +-``max_offset_px`` (the far end of a bend leaves the picture sideways;
    past that the corridor keeps its last direction); 0 above the horizon."""
    u = np.asarray(y_px, float) - horizon_y_px
    off = bend_px2_ / np.maximum(u, min_u_px)
    return np.where(u > 0, np.clip(off, -max_offset_px, max_offset_px), 0.0)


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value splitting the total weight in half (NaNs and zero weights ignored)."""
    v, w = np.asarray(values, float), np.asarray(weights, float)
    ok = np.isfinite(v) & (w > 0)
    if not ok.any():
        return float("nan")
    order = np.argsort(v[ok])
    v, cw = v[ok][order], np.cumsum(w[ok][order])
    return float(v[np.searchsorted(cw, 0.5 * cw[-1])])


def median_and_sigma(values: np.ndarray, floor: float) -> tuple[float, float]:
    """Median of the samples and the one-sigma uncertainty of that median (1.4826 MAD, times
    1.25 / sqrt(n) for a median), no better than ``floor`` (the method's own bias)."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return float("nan"), float("inf")
    med = float(np.median(v))
    spread = 1.4826 * float(np.median(np.abs(v - med))) if len(v) > 2 else float("inf")
    return med, max(1.25 * spread / np.sqrt(len(v)), floor)


def fuse(estimates: list[tuple[float, float]]) -> tuple[float, float]:
    """Inverse-variance mean of (value, sigma) pairs and its sigma; infinite sigmas are skipped."""
    ok = [(v, s) for v, s in estimates if np.isfinite(v) and np.isfinite(s) and s > 0]
    if not ok:
        return float("nan"), float("inf")
    w = np.array([1 / s ** 2 for _, s in ok])
    v = np.array([v for v, _ in ok])
    return float((w * v).sum() / w.sum()), float(1 / np.sqrt(w.sum()))


def step_towards(current: float, target: float, max_step: float) -> float:
    """``current`` moved towards ``target`` by at most ``max_step``."""
    return current + float(np.clip(target - current, -max_step, max_step))


def roll_from_points_rad(x_px: np.ndarray, horizon_y_px: np.ndarray, min_spread_px: float
                         ) -> float | None:
    """The horizon's tilt from horizon rows found at different columns: the median slope of
    all pairs at least ``min_spread_px`` apart (Theil-Sen), or None without such a pair."""
    x, y = np.asarray(x_px, float), np.asarray(horizon_y_px, float)
    i, j = np.triu_indices(len(x), 1)
    far = np.abs(x[j] - x[i]) >= min_spread_px
    if not far.any():
        return None
    slopes = (y[j] - y[i])[far] / (x[j] - x[i])[far]
    return float(np.arctan(np.median(slopes)))
