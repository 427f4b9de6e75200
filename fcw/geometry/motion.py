"""The road's bend from the image's own motion, for roads whose markings are not seen.

A camera h metres over a flat road moves forward at v (m/s) and turns at the yaw rate w (rad/s,
> 0 turning right). Pixels: ``x = col - vp_x`` and ``u = row - horizon`` measured from the focus
of expansion (the heading, on the horizon), ``(xc, yc)`` from the principal point (the image
centre), f the focal length (px).

Translation. A road point at range Z and lateral X images at x = f X / Z, u = f h / Z, so
1/u = Z / (f h). Moving forward by v dt leaves X and takes v dt off Z: ``1/u - 1/u' = a dt``
with ``a = v / (f h)`` (1 / (px s)), while x / u = X / h is kept; hence

    u' - u = a dt u u'          x' - x = a dt x u'            (exact for any step)

With the camera rolled, 1 / Z follows the rows below the tilted horizon line,
``d = u - tilt x``, and d' takes the place of u' on the right.

Rotation. Turning by w dt moves every point, near or far, by the rotational flow of a pinhole:
``dx = -B dt (1 + xc^2 / f^2)``, ``du = -B dt xc yc / f^2`` with ``B = f w`` (px/s); a pitch
rate (P = f times it) adds ``P dt (xc yc / f^2, 1 + yc^2 / f^2)`` and a roll rate R adds
``R dt (yc, -xc)``. Bouncing pitch and roll are fitted and thrown away, so they do not leak into
a and B. On a bend the step runs along the chord, turned w dt / 2 from the heading: a sideways
step of v dt w dt / 2, which moves road points by ``-(a dt)(B dt) d' / 2`` in x, the same way as
the turn (unmodelled it overstates B by a dt u / 2, 10% near the car); the product is taken
from the previous iteration.

All the terms are linear in (a dt, B dt, P dt, R dt): a robust least-squares fit over the
tracked road points (two equations each) gives them. Where the focus of expansion is not known,
three more columns give its offsets to first order: a horizon E lower, ``-E (x, u + d')``; a
tilt G more, ``-G x' (x, u)``; the heading L to the left, ``L (d', 0)``, each times a dt.
Iterated, they find the mount's pitch, roll and yaw, which bias the bend 70% on the rendered
windscreen mount when the prior is used instead.

Curvature and bend. The path's curvature is kappa = w / v = (B / f) / (a f h), that is
``kappa = B / (a f^2 h)``. On the road model of fcw/geometry/ground.py a road bending with kappa
lies kappa Z^2 / 2 aside at range Z, which images f kappa Z / 2 = (f^2 h kappa / 2) / u beside
the straight line: the lane pass's ``c = f^2 h kappa / 2``. Substituting kappa:

    bend_px2 = c = B / (2 a)

f and h cancel (they only enter the small second-order rotation terms, where the prior focal
length does). Time cancels as well, so a clip played faster than real time gives the same bend.
The speed in camera heights a second is ``v / h = a f``: below a minimum a is too small to
divide by and there is no sample. This is the curvature of the path driven now: it lags a bend
that is only ahead, and a lane change reads as a bend while it lasts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from fcw.geometry.ground import points_in_boxes

# The LK window and pyramid (work-image pixels): motions up to about 15 px at 320 wide. Near
# the bottom the road moves and stretches more than that in a tenth of a second; those points
# fail the forward-backward check, and wider windows (4-6 times the cost) keep no more of them.
_LK_WIN = (9, 9)
_LK_LEVELS = 2
_LK_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 10, 0.01)
# A track is kept when tracking it back lands this close (work px) to where it started.
_FB_MAX_PX = 0.5
# Boxes are grown by this share of their size before their points are dropped: a car's
# shadow and blurred edges move with it.
_BOX_PAD_FRAC = 0.15
_RANSAC_TRIALS = 64
# Horizontal strips of the road band that find their corners apart.
_STRIPS = 3
# The steepest horizon fitted (rows per column, 6 degrees of roll).
_MAX_TILT = 0.1
# Capture times of frames a gap apart differ from it by rounding (0.7 - 0.6 < 0.1 in floats,
# container time stamps in ms): a frame this close to the gap counts as at it.
_TIME_SLACK_S = 1e-3


@dataclass(frozen=True)
class RoadFlow:
    """Road points tracked from one frame to a later one (full-frame pixels).

    x0_px, y0_px, x1_px, y1_px: (N,) float64, where each point was and where it went.
    dt_s: the frames' capture-time difference (s, > 0).
    """

    x0_px: np.ndarray
    y0_px: np.ndarray
    x1_px: np.ndarray
    y1_px: np.ndarray
    dt_s: float

    def __post_init__(self) -> None:
        n = len(self.x0_px)
        for name in ("y0_px", "x1_px", "y1_px"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"RoadFlow.{name} must have shape {(n,)}, "
                                 f"got {getattr(self, name).shape}")
        if not self.dt_s > 0:
            raise ValueError(f"RoadFlow.dt_s must be > 0, got {self.dt_s}")

    def __len__(self) -> int:
        return len(self.x0_px)


@dataclass(frozen=True)
class EgoMotion:
    """The camera's motion between two frames, from the road's flow.

    speed_per_px_s: a = v / (f h) (1 / (px s)); ``a f`` is the speed in camera heights a second.
    yaw_px_per_s: B = f w (px/s, > 0 turning right).
    cov: (2, 2) float64, the covariance of (a, B).
    n_inliers: road points that agreed with the fit.
    horizon_y_px, vp_x_px, tilt: the focus of expansion the fit used (the horizon's row at
        the heading's column, that column, the horizon's rows per column): fitted or given.
    """

    speed_per_px_s: float
    yaw_px_per_s: float
    cov: np.ndarray
    n_inliers: int
    horizon_y_px: float
    vp_x_px: float
    tilt: float

    def __post_init__(self) -> None:
        if self.cov.shape != (2, 2):
            raise ValueError(f"EgoMotion.cov must have shape (2, 2), got {self.cov.shape}")

    def bend_px2(self) -> float:
        """The lane pass's bend c = f^2 h kappa / 2 of the path driven: B / (2 a)."""
        return bend_from_motion_px2(self.speed_per_px_s, self.yaw_px_per_s)

    def bend_sigma_px2(self) -> float:
        """One sigma of :meth:`bend_px2`, propagated from the fit's covariance of (a, B)."""
        a, b = self.speed_per_px_s, self.yaw_px_per_s
        if not a > 0:
            return float("inf")
        grad = np.array([-b / (2 * a * a), 1 / (2 * a)])
        return float(math.sqrt(max(float(grad @ self.cov @ grad), 0.0)))


def bend_from_motion_px2(speed_per_px_s: float, yaw_px_per_s: float) -> float:
    """bend (px^2) = B / (2 a): see the module's docstring; NaN unless moving forward."""
    if not speed_per_px_s > 0:
        return float("nan")
    return yaw_px_per_s / (2.0 * speed_per_px_s)


def motion_design(flow: RoadFlow, horizon_y_px: float, vp_x_px: float, tilt: float,
                  centre_px: tuple[float, float], focal_px: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The linear model of the module's docstring: the (2N, 7) design over
    (a, B, P, R, E, G, L) times dt, the (2N,) observed displacements (the N x rows first, then
    the N u rows) and the (2N,) column of the chord's sideways step."""
    x0, u0 = flow.x0_px - vp_x_px, flow.y0_px - horizon_y_px
    x1 = flow.x1_px - vp_x_px
    # Rows below the horizon line, which the roll tilts: what 1 / range is proportional to.
    d1 = flow.y1_px - horizon_y_px - tilt * x1
    # Rotation acts about the principal point, at the step's midpoint.
    xc = 0.5 * (flow.x0_px + flow.x1_px) - centre_px[0]
    yc = 0.5 * (flow.y0_px + flow.y1_px) - centre_px[1]
    f2 = focal_px * focal_px
    zero = np.zeros_like(d1)
    rows_x = np.stack([x0 * d1, -(1 + xc * xc / f2), xc * yc / f2, yc,
                       -x0, -x0 * x1, d1], axis=1)
    rows_u = np.stack([u0 * d1, -xc * yc / f2, 1 + yc * yc / f2, -xc,
                       -(u0 + d1), -u0 * x1, zero], axis=1)
    design = np.concatenate([rows_x, rows_u])
    observed = np.concatenate([flow.x1_px - flow.x0_px, flow.y1_px - flow.y0_px])
    return design, observed, np.concatenate([d1, zero])


def fit_ego_motion(flow: RoadFlow, horizon_y_px: float, vp_x_px: float, tilt: float,
                   centre_px: tuple[float, float], focal_px: float, inlier_px: float,
                   rng: np.random.Generator, free_horizon: bool = False,
                   max_shift_px: float = 0.0, iterations: int = 6) -> EgoMotion | None:
    """(a, B) and their covariance from the road's flow: RANSAC over quadruples of points,
    then least squares with Tukey weights of scale ``inlier_px`` (the tracking noise). None
    with fewer than 8 points below the horizon or a degenerate fit.

    With ``free_horizon`` the focus of expansion is fitted as well: the horizon line (its row
    at ``vp_x_px`` and its ``tilt``, rows per column) and the heading's column, moved by E / a,
    G / a and -L / a each time, at most ``max_shift_px`` from where they started (and the
    horizon above every point); else they are taken as given."""
    below = (flow.y0_px > horizon_y_px + 1) & (flow.y1_px > horizon_y_px + 1)
    flow = RoadFlow(flow.x0_px[below], flow.y0_px[below], flow.x1_px[below], flow.y1_px[below],
                    flow.dt_s)
    n = len(flow)
    if n < 8:
        return None
    k = 7 if free_horizon else 4
    lowest = float(np.minimum(flow.y0_px, flow.y1_px).min()) - 1.0
    y_h, x_v = horizon_y_px, vp_x_px

    def build() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        design, observed, chord = motion_design(flow, y_h, x_v, tilt, centre_px, focal_px)
        return design[:, :k], observed, chord

    design, observed, chord = build()
    # Each point's two rows stand or fall together.
    picks = rng.integers(0, n, (_RANSAC_TRIALS, 4))
    rows = np.concatenate([picks, picks + n], axis=1)
    sub_a, sub_b = design[rows], observed[rows]
    normal = np.einsum("tij,tik->tjk", sub_a, sub_a)
    ok = np.linalg.cond(normal) < 1e14
    if not ok.any():
        return None
    rhs = np.einsum("tij,ti->tj", sub_a[ok], sub_b[ok])
    params = np.linalg.solve(normal[ok], rhs[..., None])[..., 0]         # (trials, k)
    resid = np.abs(design @ params.T - observed[:, None])                # (2N, trials)
    point_err = np.maximum(resid[:n], resid[n:])
    best = params[int(np.argmax((point_err < 3 * inlier_px).sum(axis=0)))]
    weights = np.ones(2 * n)
    target = observed
    for _ in range(iterations):
        target = observed + 0.5 * best[0] * best[1] * chord
        r = design @ best - target
        z = np.clip(r / (4.685 * inlier_px), -1.0, 1.0)
        weights = np.minimum((1 - z[:n] ** 2) ** 2, (1 - z[n:] ** 2) ** 2)
        weights = np.concatenate([weights, weights])
        if np.count_nonzero(weights) < 16:
            return None
        sw = np.sqrt(weights)
        best, *_ = np.linalg.lstsq(design * sw[:, None], target * sw, rcond=None)
        if free_horizon and best[0] > 0:
            # E, G and L are a dt times the horizon's offset, its tilt and minus the
            # heading's offset: move them there.
            y_h = float(np.clip(y_h + best[4] / best[0], horizon_y_px - max_shift_px,
                                min(horizon_y_px + max_shift_px, lowest)))
            tilt = float(np.clip(tilt + best[5] / best[0], -_MAX_TILT, _MAX_TILT))
            x_v = float(np.clip(x_v - best[6] / best[0], vp_x_px - max_shift_px,
                                vp_x_px + max_shift_px))
            design, observed, chord = build()
            best[4:] = 0.0
    inl = weights > 0
    r = (design @ best - target)[inl]
    dof = max(int(inl.sum()) - k, 1)
    sigma2 = max(float(np.sum(weights[inl] * r ** 2) / dof), (0.1 * inlier_px) ** 2)
    normal_w = (design[inl] * weights[inl, None]).T @ design[inl]
    try:
        cov = sigma2 * np.linalg.inv(normal_w)
    except np.linalg.LinAlgError:
        return None
    dt = flow.dt_s
    return EgoMotion(float(best[0]) / dt, float(best[1]) / dt, cov[:2, :2] / dt ** 2,
                     int(np.count_nonzero(inl[:n])), y_h, x_v, tilt)


class RoadFlowTracker:
    """Tracks sparse corners of the road between a key frame and the first frame at least
    ``gap_s`` of capture time after it, on the road band scaled to ``work_width_px``.

    ``update`` is called on every frame; ``start`` marks the current frame as a key frame.
    """

    def __init__(self, gap_s: float, work_width_px: int, max_points: int,
                 top_margin_frac: float = 0.03, bottom_margin_frac: float = 0.1) -> None:
        self.gap_s, self.work_width_px, self.max_points = gap_s, work_width_px, max_points
        self.top_margin_frac, self.bottom_margin_frac = top_margin_frac, bottom_margin_frac
        self.reset()

    def reset(self) -> None:
        # (t_s, grey work image, its full-frame rows y0:y1, scale, corners (N, 2) work px)
        self._key: tuple[float, np.ndarray, int, int, float, np.ndarray] | None = None

    @property
    def waiting(self) -> bool:
        return self._key is not None

    def _band(self, image: np.ndarray, y0: int, y1: int, step: int) -> np.ndarray:
        # A whole-number step: OpenCV's block average, 3 times faster than a fractional one.
        small = cv2.resize(image[y0:y1], None, fx=1 / step, fy=1 / step,
                           interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small

    def start(self, t_s: float, image: np.ndarray, horizon_y_px: float,
              boxes_xyxy: np.ndarray) -> None:
        """Take this frame as the key frame: its corners on the road, outside the boxes."""
        h, w = image.shape[:2]
        y0 = int(np.clip(horizon_y_px + self.top_margin_frac * h, 0, h - 2))
        y1 = int(np.clip(h * (1 - self.bottom_margin_frac), y0 + 16, h))
        step = max(1, round(w / self.work_width_px))
        y1 = y0 + (y1 - y0) // step * step
        if y1 - y0 < 8 * step:  # the horizon at the bottom of the frame: no road to see
            self._key = None
            return
        scale = 1.0 / step
        grey = self._band(image, y0, y1, step)
        mask = np.full(grey.shape, 255, np.uint8)
        for x1, b1, x2, b2 in np.asarray(boxes_xyxy, float).reshape(-1, 4):
            px, py = _BOX_PAD_FRAC * (x2 - x1), _BOX_PAD_FRAC * (b2 - b1)
            c0, c1 = int((x1 - px) * scale), int(math.ceil((x2 + px) * scale))
            r0, r1 = int((b1 - py - y0) * scale), int(math.ceil((b2 + py - y0) * scale))
            mask[max(r0, 0):max(r1, 0), max(c0, 0):max(c1, 0)] = 0
        # Corners strip by strip, each against its own best: the near road's texture is the
        # strongest, but it moves and stretches too much to track at speed, while the far
        # road, fainter, moves little.
        found = []
        edges = np.linspace(0, grey.shape[0], _STRIPS + 1).astype(int)
        for r0, r1 in zip(edges[:-1], edges[1:]):
            c = cv2.goodFeaturesToTrack(grey[r0:r1], max(1, self.max_points // _STRIPS), 0.01, 3,
                                        mask=mask[r0:r1], blockSize=5)
            if c is not None:
                found.append(c.reshape(-1, 2) + np.array([0.0, r0], np.float32))
        corners = np.concatenate(found) if found else np.zeros((0, 2), np.float32)
        if len(corners) < 4:
            self._key = None
            return
        self._key = (t_s, grey, y0, y1, scale, corners.astype(np.float32))

    def update(self, t_s: float, image: np.ndarray, boxes_xyxy: np.ndarray) -> RoadFlow | None:
        """The flow from the key frame when this frame is ``gap_s`` or more after it (the key
        is then used up); None before that, or when the key is stale (a seek back, a long gap)."""
        if self._key is None:
            return None
        t0, grey0, y0, y1, scale, p0 = self._key
        if t_s < t0 or t_s - t0 > 4 * self.gap_s:
            self._key = None
            return None
        if t_s - t0 < self.gap_s - _TIME_SLACK_S:
            return None
        self._key = None
        grey1 = self._band(image, y0, y1, round(1 / scale))
        p1, st, _ = cv2.calcOpticalFlowPyrLK(grey0, grey1, p0, p0.copy(), winSize=_LK_WIN,
                                             maxLevel=_LK_LEVELS, criteria=_LK_CRITERIA)
        back, st_b, _ = cv2.calcOpticalFlowPyrLK(grey1, grey0, p1, p0.copy(), winSize=_LK_WIN,
                                                 maxLevel=_LK_LEVELS, criteria=_LK_CRITERIA)
        ok = ((st.ravel() == 1) & (st_b.ravel() == 1)
              & (np.linalg.norm(back - p0, axis=1) < _FB_MAX_PX))
        a, b = p0[ok].astype(np.float64) / scale, p1[ok].astype(np.float64) / scale
        a[:, 1] += y0
        b[:, 1] += y0
        # A point that ends on a car was on it or passed behind it: not the road.
        keep = ~points_in_boxes(b[:, 0], b[:, 1], _padded(boxes_xyxy))
        a, b = a[keep], b[keep]
        return RoadFlow(a[:, 0], a[:, 1], b[:, 0], b[:, 1], t_s - t0)


def _padded(boxes_xyxy: np.ndarray) -> np.ndarray:
    b = np.asarray(boxes_xyxy, float).reshape(-1, 4)
    pad = _BOX_PAD_FRAC * np.stack([b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)
    return np.concatenate([b[:, :2] - pad, b[:, 2:] + pad], axis=1)
