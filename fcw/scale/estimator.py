"""The lead's scale rate and acceleration from image alignment: a measurement the risk stage uses.

``LeadScaleEstimator`` follows one lead at a time: each frame it aligns the lead's pixels with a
key image of it (fcw/scale/alignment.py) and feeds the aligned ln(scale) to ``LeadScaleFilter``,
a small Kalman filter on s = ln(image scale) with its rate and acceleration, so TTC = 1 / ds/dt
and the second-order TTC come with a covariance. It is injected into the risk stage
(fcw/risk/stage.py), which weighs it against the box-based rates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from filterpy.common import Q_continuous_white_noise
from filterpy.kalman import KalmanFilter

from fcw.config import LeadScaleConfig
from fcw.scale.alignment import KeyframeAligner, to_gray
from fcw.types import Frame, Tracks


@dataclass(frozen=True)
class ScaleRate:
    """The lead's d ln(w)/dt (1/s) and d2 ln(w)/dt2 (1/s^2), each with its variance."""

    rate_per_s: float
    rate_var: float
    accel_per_s2: float
    accel_var: float

    @property
    def usable(self) -> bool:
        """Finite, with a positive rate variance: a reading the risk stage may weigh."""
        values = (self.rate_per_s, self.rate_var, self.accel_per_s2, self.accel_var)
        return bool(np.isfinite(values).all()) and self.rate_var > 0.0


class LeadScaleFilter:
    """Kalman filter on x = [s, ds/dt, d2s/dt2] with s = ln(image scale) of one vehicle.

    Each alignment measures s itself (H = [1, 0, 0]); its error does not accumulate over frames,
    so the rate is as good as the span of frames the filter has seen.
    """

    def __init__(self, cfg: LeadScaleConfig) -> None:
        self.cfg = cfg
        self.kf = KalmanFilter(dim_x=3, dim_z=1)
        self.kf.H = np.array([[1.0, 0.0, 0.0]])
        self.measurements = 0

    def reset(self, rate_per_s: float, rate_var: float, accel_per_s2: float = 0.0) -> None:
        """Start over for a new lead, from the tracker's box-based estimate, at s = 0."""
        self.kf.x = np.array([[0.0], [rate_per_s], [accel_per_s2]])
        self.kf.P = np.diag([self.cfg.min_measurement_noise ** 2, max(rate_var, 1e-6),
                             self.cfg.init_accel_std_per_s2 ** 2])
        self.measurements = 0

    def predict(self, dt_s: float) -> None:
        if dt_s <= 0:
            return
        F = np.array([[1.0, dt_s, 0.5 * dt_s * dt_s], [0.0, 1.0, dt_s], [0.0, 0.0, 1.0]])
        # Continuous white jerk, as the tracker's scale block (fcw/tracking/kalman.py).
        self.kf.predict(F=F, Q=Q_continuous_white_noise(dim=3, dt=dt_s,
                                                        spectral_density=self.cfg.q_jerk_per_s5))

    def measurement_noise(self, width_px: float) -> float:
        """One-sigma error of s aligned on an object ``width_px`` wide: an alignment is good to
        a fraction of a pixel, which is a larger share of a small object."""
        return max(self.cfg.min_measurement_noise, self.cfg.alignment_noise_px / max(width_px, 1.0))

    def update(self, log_scale: float, width_px: float) -> bool:
        """Take one measurement of s; an outlier beyond ``gate_sigma`` is refused (False): an
        alignment that slipped to another optimum jumps by several per cent at once, and the
        caller takes a new key rather than follow it."""
        R = self.measurement_noise(width_px) ** 2
        S = float(self.kf.P[0, 0]) + R
        if abs(log_scale - self.log_scale) > self.cfg.gate_sigma * math.sqrt(S):
            return False
        self.kf.update(np.array([[log_scale]]), R=np.array([[R]]))
        self.measurements += 1
        return True

    @property
    def log_scale(self) -> float:
        return float(self.kf.x[0, 0])

    @property
    def rate_per_s(self) -> float:
        return float(self.kf.x[1, 0])

    @property
    def rate_var(self) -> float:
        return float(self.kf.P[1, 1])

    @property
    def accel_per_s2(self) -> float:
        return float(self.kf.x[2, 0])

    @property
    def accel_var(self) -> float:
        return float(self.kf.P[2, 2])


def fitted_braking_per_s2(t_s: np.ndarray, log_scale: np.ndarray,
                          var: np.ndarray) -> tuple[float, float] | None:
    """The braking part of the scale acceleration, -Zddot/Z = d2s/dt2 - (ds/dt)^2 (1/s^2, s =
    ln(scale); fcw/risk/ttc.py), and its variance, from a weighted parabola through (t_s,
    log_scale) with one-sigma^2 errors ``var`` (arrays of shape (n,)).

    A parabola has one second derivative: the window's mean acceleration, which lags a rising
    one. Its square-of-rate part rises fast as the lead nears, its braking part only as 1/Z, so
    the braking part is taken at the window's centre (rate and acceleration both there) and the
    caller adds the square of the rate now. The variance is scaled up by the fit's reduced
    chi-square when it exceeds one: an aligned scale wobbles with the lane dashes passing under
    the lead (period: dash spacing / ego speed, ~0.6 s at 20 m/s), an error that is not white
    and that the fit's scatter shows. None with fewer than four samples or a degenerate spread
    of times.
    """
    t, s, w = (np.asarray(a, float) for a in (t_s, log_scale, var))
    if len(t) < 4 or not (np.isfinite(t).all() and np.isfinite(s).all() and (w > 0).all()):
        return None
    tau = t - np.average(t, weights=1.0 / w)
    A = np.stack([np.ones_like(tau), tau, tau * tau], axis=1)
    Aw = A / w[:, None]
    try:
        cov = np.linalg.inv(A.T @ Aw)
    except np.linalg.LinAlgError:
        return None
    coef = cov @ (Aw.T @ s)
    chi2 = float(np.sum((s - A @ coef) ** 2 / w)) / (len(t) - 3)
    rate, accel = float(coef[1]), 2.0 * float(coef[2])
    # Propagated: d(braking) = d(accel) - 2 rate d(rate).
    grad = np.array([0.0, -2.0 * rate, 2.0])
    braking_var = float(grad @ cov @ grad) * max(1.0, chi2)
    if not (math.isfinite(braking_var) and braking_var > 0.0):
        return None
    return accel - rate * rate, braking_var


class LeadScaleEstimator:
    """``update(frame, tracks, i) -> ScaleRate | None`` for track i, the lead; ``reset()``.

    A new lead starts a new key image and restarts the filter from the tracker's box-based
    estimate; the reading is None until the filter has ``min_measurements`` alignments. With
    ``accel_window_s`` the acceleration is the braking part of a parabola fitted over that much
    frame time of the aligned scales (``fitted_braking_per_s2``) plus the filter's rate now
    squared, once they span most of it: steadier than the filter's, which follows the dashes'
    wobble.
    """

    def __init__(self, cfg: LeadScaleConfig) -> None:
        self.cfg = cfg
        self.reset()

    def reset(self) -> None:
        self._filter = LeadScaleFilter(self.cfg)
        self._aligner = KeyframeAligner(max_patch_px=self.cfg.max_patch_px,
                                        rekey_log_scale=self.cfg.rekey_log_scale)
        # (lead id, capture time) of the frame the filter last saw.
        self._prev: tuple[int, float] | None = None
        # (capture time, aligned ln(scale), its variance) of the current lead's alignments; a
        # new key starts where the filter puts the scale, so they run on across keys.
        self._aligned: list[tuple[float, float, float]] = []

    def update(self, frame: Frame, tracks: Tracks, i: int) -> ScaleRate | None:
        f, aligner, prev = self._filter, self._aligner, self._prev
        box_estimate = (float(tracks.scale_rate_per_s[i]), float(tracks.scale_rate_var[i]),
                        float(tracks.scale_accel_per_s2[i]))
        lead_id, box = int(tracks.track_id[i]), tracks.xyxy[i]
        gray = to_gray(frame.image)
        # Vehicles whose box reaches lower in the image are nearer and may hide part of the lead.
        occluders = tracks.xyxy[(tracks.xyxy[:, 3] > box[3]) & (tracks.track_id != lead_id)]
        if prev is None or prev[0] != lead_id:
            f.reset(*(box_estimate if np.isfinite(box_estimate).all() else (0.0, 1.0, 0.0)))
            aligner.start(gray, box, 0.0, occluders)
            self._aligned = []
        else:
            f.predict(frame.t_s - prev[1])
            s = aligner.measure(gray, box, occluders) if aligner.active else None
            width_px = float(box[2] - box[0])
            # A new key where the filter puts the scale now.
            if s is None or not f.update(s, width_px):
                aligner.start(gray, box, f.log_scale, occluders)
            else:
                self._aligned.append((frame.t_s, s, f.measurement_noise(width_px) ** 2))
        self._prev = (lead_id, frame.t_s)
        if f.measurements < self.cfg.min_measurements:
            return None
        accel, accel_var = f.accel_per_s2, f.accel_var
        window_s = self.cfg.accel_window_s
        if window_s > 0.0:
            while self._aligned and self._aligned[0][0] < frame.t_s - window_s:
                self._aligned.pop(0)
            if self._aligned and frame.t_s - self._aligned[0][0] >= 0.75 * window_s:
                fit = fitted_braking_per_s2(*np.array(self._aligned).T)
                if fit is not None:
                    accel, accel_var = fit[0] + f.rate_per_s ** 2, fit[1]
        return ScaleRate(f.rate_per_s, f.rate_var, accel, accel_var)
