"""The lead's scale change measured by aligning its image, as Mobileye's monocular FCW does.

Detector boxes wander by a few per cent of their size from frame to frame, while a car 50 m
ahead at 20 m/s closing grows by less than 1.5% a frame: from box widths alone the scale rate
is buried in noise until the car is near. Aligning the lead's pixels between consecutive frames
(ECC, Evangelidis & Psarakis 2008, with an affine warp) measures the ratio of sizes directly, to
a fraction of a per cent, because every edge inside the vehicle votes and not only its outline.

``LeadScaleFilter`` integrates those ratios in a small Kalman filter on s = ln(image scale) with
its rate and acceleration, so TTC = 1 / ds/dt and the second-order TTC come with a covariance.
"""
from __future__ import annotations

import cv2
import numpy as np
from filterpy.kalman import KalmanFilter

from fcw.config import LeadScaleConfig

_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-5)
# Below this many pixels across, a patch holds too little texture to align reliably.
MIN_PATCH_PX = 12.0
# Warps whose scale differs from 1 by more than this between two frames are failed alignments
# (a real vehicle would need a TTC of a couple of frames).
MAX_STEP_LOG_SCALE = 0.15


def _gray_patch(image: np.ndarray, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    return cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY).astype(np.float32)


def patch_log_scale(prev_image: np.ndarray, image: np.ndarray, prev_box: np.ndarray,
                    margin: float = 0.25, inset: float = 0.0) -> float | None:
    """ln(size now / size before) of the object in ``prev_box``, or None when alignment fails.

    Both frames are cut to the previous box grown by ``margin`` so the object can move and grow
    inside the window; only the pixels of the previous box shrunk by ``inset`` on each side
    drive the alignment: detector boxes run wide, and road or sky caught in the mask does not
    scale with the vehicle, so it would pull the ratio towards 1 (a TTC too long).
    """
    x1, y1, x2, y2 = (float(v) for v in prev_box)
    w, h = x2 - x1, y2 - y1
    if min(w, h) < MIN_PATCH_PX:
        return None
    H, W = image.shape[:2]
    X0, Y0 = int(max(0, x1 - margin * w)), int(max(0, y1 - margin * h))
    X1, Y1 = int(min(W, x2 + margin * w)), int(min(H, y2 + margin * h))
    template = _gray_patch(prev_image, X0, Y0, X1, Y1)
    current = _gray_patch(image, X0, Y0, X1, Y1)
    mask = np.zeros(template.shape, np.uint8)
    mx, my = inset * w, inset * h
    mask[int(y1 + my - Y0):int(np.ceil(y2 - my - Y0)), int(x1 + mx - X0):int(np.ceil(x2 - mx - X0))] = 1
    warp = np.eye(2, 3, dtype=np.float32)
    try:
        _, warp = cv2.findTransformECC(template, current, warp, cv2.MOTION_AFFINE,
                                       _ECC_CRITERIA, mask, 5)
    except cv2.error:  # no convergence: a blurred or texture-less patch
        return None
    det = float(np.linalg.det(warp[:, :2]))
    if det <= 0:
        return None
    log_scale = 0.5 * np.log(det)
    return float(log_scale) if abs(log_scale) <= MAX_STEP_LOG_SCALE else None


class LeadScaleFilter:
    """Kalman filter on x = [s, ds/dt, d2s/dt2] with s = ln(image scale) of one vehicle.

    Each alignment measures the step of s over the last frame interval, i.e. the mean rate over
    that interval: z = step / dt = ds/dt - (dt / 2) d2s/dt2, with noise sigma / dt. Feeding the
    steps rather than their running sum keeps the measurement noise white.
    """

    def __init__(self, cfg: LeadScaleConfig) -> None:
        self.cfg = cfg
        self.kf = KalmanFilter(dim_x=3, dim_z=1)
        self.measurements = 0

    def reset(self, rate_per_s: float, rate_var: float, accel_per_s2: float = 0.0) -> None:
        """Start over for a new lead, from the tracker's box-based estimate."""
        self.kf.x = np.array([[0.0], [rate_per_s], [accel_per_s2]])
        self.kf.P = np.diag([1e-6, max(rate_var, 1e-6), self.cfg.init_accel_std_per_s2 ** 2])
        self.measurements = 0

    def update(self, dt_s: float, log_scale_step: float | None) -> None:
        if dt_s > 0:
            F = np.array([[1.0, dt_s, 0.5 * dt_s * dt_s], [0.0, 1.0, dt_s], [0.0, 0.0, 1.0]])
            # Continuous white jerk of spectral density q.
            q = self.cfg.q_jerk_per_s5
            Q = q * np.array([[dt_s**5 / 20, dt_s**4 / 8, dt_s**3 / 6],
                              [dt_s**4 / 8, dt_s**3 / 3, dt_s**2 / 2],
                              [dt_s**3 / 6, dt_s**2 / 2, dt_s]])
            self.kf.predict(F=F, Q=Q)
        if log_scale_step is not None and dt_s > 0:
            self.kf.update(np.array([[log_scale_step / dt_s]]),
                           R=np.array([[(self.cfg.measurement_noise / dt_s) ** 2]]),
                           H=np.array([[0.0, 1.0, -0.5 * dt_s]]))
            self.measurements += 1

    @property
    def rate_per_s(self) -> float:
        return float(self.kf.x[1, 0])

    @property
    def rate_var(self) -> float:
        return float(self.kf.P[1, 1])

    @property
    def accel_per_s2(self) -> float:
        return float(self.kf.x[2, 0])
