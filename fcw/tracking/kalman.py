"""Kalman model of one vehicle box: centre, log-scale and log-aspect with their rates.

State x = [cx, cy, s, r, vcx, vcy, vs, vr, as]:
    cx, cy  box centre (px) and vcx, vcy its image velocity (px/s);
    s = ln(w) with w the box width (px), vs = ds/dt (1/s), as = d^2 s/dt^2 (1/s^2);
    r = ln(h / w), vr = dr/dt (1/s).
Measurement z = [cx, cy, ln w, ln(h / w)] of one detected box.

Working in log-scale makes the quantity FCW needs a state: vs = d ln w / dt = 1 / TTC. Even an
approach at constant speed has as = vs^2 > 0 (the box grows ever faster), so the scale carries an
acceleration driven by white jerk; the centre and aspect are constant-velocity. F and Q are built
from dt in seconds, so a dropped frame or a variable frame rate is just a larger dt.
"""
from __future__ import annotations

import numpy as np
from filterpy.common import Q_continuous_white_noise
from filterpy.kalman import KalmanFilter

from fcw.config import TrackerConfig

CX, CY, S, R_ASPECT, VCX, VCY, VS, VR, AS = range(9)
DIM_X, DIM_Z = 9, 4
_SCALE_BLOCK = (S, VS, AS)

# Prior standard deviations of the unobserved rates of a new track: wide enough to cover a lead
# at TTC 1 s (vs = 1/s) or a box sweeping across the image, so that the first few measurements,
# not the prior, decide them (vs settles within ~0.3-0.5 s at 30 fps). The scale acceleration
# prior is tighter: a new track's as is barely observable, and a wide prior turns box noise
# into spurious closing (as = vs^2 is only 0.1 1/s^2 at TTC 3 s).
INIT_CENTER_VEL_STD_PX_S = 200.0
INIT_SCALE_RATE_STD_PER_S = 1.0
INIT_SCALE_ACCEL_STD_PER_S2 = 0.5
INIT_ASPECT_RATE_STD_PER_S = 0.3

# The smallest width used to turn pixel noise into log noise, so that a degenerate box cannot
# produce an infinite R.
MIN_WIDTH_PX = 2.0

# Bounds that keep a diverging track finite: a coasting track whose scale keeps accelerating
# would overflow np.exp within seconds (issue 16: real clips ended with an OverflowError). No
# real box is outside them, so they never act on a healthy track.
STATE_LOW = np.array([-1e5, -1e5, np.log(0.5), -5.0, -1e5, -1e5, -20.0, -20.0, -100.0])
STATE_HIGH = np.array([1e5, 1e5, np.log(1e5), 5.0, 1e5, 1e5, 20.0, 20.0, 100.0])


def transition_matrix(dt_s: float, scale_rate_per_s: float = 0.0) -> np.ndarray:
    """F(dt): constant velocity for centre and aspect, constant acceleration for the scale.

    Given the current scale rate vs, the scale acceleration also follows the physics of a
    constant relative acceleration instead of staying constant: with s = -ln Z + const,
    d(as)/dt = 3 vs as - vs^3 (= 2 vs^3 at constant closing speed, where as = vs^2). Written as
    as' = as (1 + 3 vs dt) - vs^2 dt * vs, it is linear in the state for a known vs; without it
    the filter lags by ~10 % at TTC 1 s. vs = 0 gives the plain constant-acceleration F.
    """
    F = np.eye(DIM_X)
    for pos, vel in ((CX, VCX), (CY, VCY), (S, VS), (R_ASPECT, VR)):
        F[pos, vel] = dt_s
    F[S, AS] = 0.5 * dt_s * dt_s
    F[VS, AS] = dt_s
    F[AS, AS] = 1.0 + 3.0 * scale_rate_per_s * dt_s
    F[AS, VS] = -scale_rate_per_s**2 * dt_s
    return F


def process_noise(dt_s: float, q_center_px2_s3: float, q_scale_jerk_per_s5: float,
                  q_aspect_per_s3: float) -> np.ndarray:
    """Q(dt) for the state above; each q is the PSD of the white noise driving that block."""
    Q = np.zeros((DIM_X, DIM_X))
    for pos, vel, q in ((CX, VCX, q_center_px2_s3), (CY, VCY, q_center_px2_s3),
                        (R_ASPECT, VR, q_aspect_per_s3)):
        block = Q_continuous_white_noise(dim=2, dt=dt_s, spectral_density=q)
        Q[pos, pos], Q[pos, vel], Q[vel, pos], Q[vel, vel] = block.ravel()
    Q[np.ix_(_SCALE_BLOCK, _SCALE_BLOCK)] = Q_continuous_white_noise(
        dim=3, dt=dt_s, spectral_density=q_scale_jerk_per_s5)
    return Q


def process_noise_for(dt_s: float, cfg: TrackerConfig) -> np.ndarray:
    return process_noise(dt_s, cfg.q_center_px2_s3, cfg.q_scale_jerk_per_s5, cfg.q_aspect_per_s3)


def measurement_matrix() -> np.ndarray:
    """H: the measurement reads centre, log-width and log-aspect straight from the state."""
    H = np.zeros((DIM_Z, DIM_X))
    H[0, CX] = H[1, CY] = H[2, S] = H[3, R_ASPECT] = 1.0
    return H


def box_to_z(xyxy: np.ndarray) -> np.ndarray:
    """z = [cx, cy, ln w, ln(h / w)] of one box (x1, y1, x2, y2) in pixels."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    w = max(x2 - x1, 1e-3)
    h = max(y2 - y1, 1e-3)
    return np.array([0.5 * (x1 + x2), 0.5 * (y1 + y2), np.log(w), np.log(h / w)])


def state_to_box(x: np.ndarray) -> np.ndarray:
    """The (x1, y1, x2, y2) box described by a state vector."""
    x = np.asarray(x, dtype=float).reshape(-1)
    w = np.exp(x[S])
    h = w * np.exp(x[R_ASPECT])
    return np.array([x[CX] - 0.5 * w, x[CY] - 0.5 * h, x[CX] + 0.5 * w, x[CY] + 0.5 * h])


def measurement_noise(xyxy: np.ndarray, noise_px: float, noise_frac: float = 0.0) -> np.ndarray:
    """R = J diag(sigma^2) J^T, the independent noise of the four corners mapped into z.

    sigma = hypot(noise_px, noise_frac * box size): a detector's corner error grows with the
    box (a CNN places edges to a fraction of the object, not to a fixed pixel count).

    Pixel noise becomes log noise by dividing by the size (d ln w = dw / w), and because
    ln(h/w) shares the width with ln w their errors are anti-correlated; keeping that term
    lets the filter use the box height as a second reading of the scale.
    """
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    w = max(x2 - x1, MIN_WIDTH_PX)
    h = max(y2 - y1, MIN_WIDTH_PX)
    J = np.array([[0.5, 0.0, 0.5, 0.0],
                  [0.0, 0.5, 0.0, 0.5],
                  [-1.0 / w, 0.0, 1.0 / w, 0.0],
                  [1.0 / w, -1.0 / h, -1.0 / w, 1.0 / h]])
    sigma_px = np.hypot(noise_px, noise_frac * min(w, h))
    return sigma_px**2 * (J @ J.T)


def initial_covariance(R: np.ndarray) -> np.ndarray:
    """P0: the measured components as sure as the measurement, the rates from the priors."""
    P = np.zeros((DIM_X, DIM_X))
    P[:DIM_Z, :DIM_Z] = R
    for i, std in ((VCX, INIT_CENTER_VEL_STD_PX_S), (VCY, INIT_CENTER_VEL_STD_PX_S),
                   (VS, INIT_SCALE_RATE_STD_PER_S), (VR, INIT_ASPECT_RATE_STD_PER_S),
                   (AS, INIT_SCALE_ACCEL_STD_PER_S2)):
        P[i, i] = std**2
    return P


# Squared Mahalanobis distance of a 4-D innovation beyond which a box is treated as an
# outlier: the chi-square 99.9% point for 4 degrees of freedom.
OUTLIER_GATE_D2 = 18.47


class BoxKalman:
    """One track's filter: filterpy's KalmanFilter with F, Q and R rebuilt for every step."""

    def __init__(self, xyxy: np.ndarray, cfg: TrackerConfig) -> None:
        self._cfg = cfg
        self.kf = KalmanFilter(dim_x=DIM_X, dim_z=DIM_Z)
        self.kf.H = measurement_matrix()
        R = measurement_noise(xyxy, cfg.measurement_noise_px, cfg.measurement_noise_frac)
        x0 = np.zeros(DIM_X)
        x0[:DIM_Z] = box_to_z(xyxy)
        self.kf.x = x0.reshape(DIM_X, 1)
        self.kf.P = initial_covariance(R)

    def predict(self, dt_s: float, Q: np.ndarray | None = None) -> None:
        """``Q``: ``process_noise`` for this dt and config, when the caller already has it (all
        of a tracker's filters share one dt per frame, so it is built once, not per track)."""
        if dt_s <= 0.0:
            return
        if Q is None:
            Q = process_noise_for(dt_s, self._cfg)
        self.kf.predict(F=transition_matrix(dt_s, float(self.kf.x[VS, 0])), Q=Q)
        self._bound()

    def update(self, xyxy: np.ndarray) -> None:
        cfg = self._cfg
        R = measurement_noise(xyxy, cfg.measurement_noise_px, cfg.measurement_noise_frac)
        z = box_to_z(xyxy).reshape(DIM_Z, 1)
        # A detector now and then returns a box that jumps (a class flip, the far crop's box
        # winning over the full frame's); taken at face value one such box fakes a burst of
        # closing. An innovation beyond the gate inflates R instead, so the outlier moves the
        # state only as far as the gate allows (a Huber-like robust update).
        # H only picks the first DIM_Z state entries: slices give H x and H P H^T exactly.
        y = z - self.kf.x[:DIM_Z]
        S = self.kf.P[:DIM_Z, :DIM_Z] + R
        d2 = float((y.T @ np.linalg.solve(S, y)).item())
        if d2 > OUTLIER_GATE_D2:
            R = R * (d2 / OUTLIER_GATE_D2)
        self.kf.update(z, R=R)
        self._bound()

    def _bound(self) -> None:
        self.kf.x = np.clip(self.kf.x, STATE_LOW[:, None], STATE_HIGH[:, None])

    def is_finite(self) -> bool:
        """False once the state or its covariance holds a NaN or an infinity (the track is lost)."""
        return bool(np.isfinite(self.kf.x).all() and np.isfinite(self.kf.P).all())

    @property
    def x(self) -> np.ndarray:
        return self.kf.x.reshape(-1)

    @property
    def P(self) -> np.ndarray:
        return self.kf.P

    def box(self) -> np.ndarray:
        return state_to_box(self.kf.x)
