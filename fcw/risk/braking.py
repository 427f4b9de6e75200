"""Crediting the ego's braking while a red light governs its lane.

Slowing down behind a car queued at a red light drives the first-order TTC down to
2 * sqrt(gap / (2 * decel)) (2.2 s for a 5 m gap at 2 m/s^2) although no collision is coming.
What tells this from a collision course is that the ego brakes, and that shows in how fast the
TTC itself falls: tau-dot = d TTC / dt is -1 at a constant closing speed, and braking at d over
a range Z gives tau-dot = -1 + d / (Z v^2) (v = 1 / TTC). Lee (1976): tau-dot above -0.5 means
the current deceleration stops short of the lead, and drivers stopping normally hold it near
-0.5 (here -0.45 to -0.3 on the way down), right at that boundary.

So a driver who is braking is credited with braking ``decel_factor`` times as hard (2: braking
at 2 m/s^2, 4 m/s^2 would still be normal braking), and the TTC is taken under that
deceleration: none when it stops short (tau-dot above 1 / (2 decel_factor) - 1, -0.75 for 2),
else the second-order TTC, never shorter than the first-order one. No braking (tau-dot <= -1)
gets no credit: the first-order TTC stands, as without a light.

tau-dot comes from the Theil-Sen slope (median of pairwise slopes) of the lead's TTC over the
last ``window_s``: the scale acceleration of a single frame is far too noisy for a decision
this close to its boundary, and the median ignores the jumps a re-keyed or re-associated box
makes. It is fed only the readings that may decide (a plausible lead's): a young track's first
readings fall from tens of seconds to a few in a fraction of a second, which reads as no braking
at all. Until tau-dot is known the red light holds the warning back, for at most ``wait_s``
after the lead's first reading (``hold``): without the hold a lead that becomes plausible close
in (a far car through a wide lens) would warn before its braking could be seen.
"""
from __future__ import annotations

from collections import deque

import numpy as np

from fcw.risk.ttc import ttc_second_order


def braking_credited_ttc(ttc_s: float, ttc_sigma_s: float | None, tau_dot: float,
                         decel_factor: float) -> tuple[float | None, float | None]:
    """(TTC, sigma) to warn on under a red light; (None, None) when the credited braking stops
    short. The uncertainty is scaled with the TTC."""
    if tau_dot <= -1.0:
        return ttc_s, ttc_sigma_s
    v = 1.0 / ttc_s
    credited = ttc_second_order(v, v * v * (1.0 - decel_factor * (1.0 + tau_dot)))
    if credited is None:
        return None, None
    credited = max(credited, ttc_s)
    return credited, None if ttc_sigma_s is None else ttc_sigma_s * credited / ttc_s


class TauDotEstimator:
    """``update(t_s, lead_id, ttc_s) -> tau-dot | None`` of the current lead's TTC; a missing
    reading (None) is skipped, a new lead starts over. ``hold(t_s)``: whether a red light should
    still hold the warning back, waiting for tau-dot.

    tau-dot is known once the readings span ``min_span_s`` and agree on it (the slope's standard
    error, from the robust scatter about the fitted line, at most ``max_slope_se``), or once they
    span ``wait_s`` whatever their scatter: a clean track is decided on quickly, a noisy one (a
    car of 15 px through a wide lens, whose TTC swings by a second over a second) only once it has
    shown its trend, and the red light holds the warning at most ``wait_s`` in either case.
    """

    def __init__(self, window_s: float = 2.0, min_span_s: float = 0.5, min_points: int = 8,
                 wait_s: float = 1.0, max_slope_se: float = 0.15) -> None:
        self.window_s = window_s
        self.min_span_s = min_span_s
        self.min_points = min_points
        self.wait_s = wait_s
        self.max_slope_se = max_slope_se
        self._lead: int | None = None
        self._first_t_s: float | None = None
        self._points: deque[tuple[float, float]] = deque()

    def hold(self, t_s: float) -> bool:
        """True within ``wait_s`` of the current lead's first reading."""
        return self._first_t_s is not None and t_s - self._first_t_s < self.wait_s

    def update(self, t_s: float, lead_id: int | None, ttc_s: float | None) -> float | None:
        """``add`` this reading, then the ``estimate`` (None for a missing reading)."""
        self.add(t_s, lead_id, ttc_s)
        return None if ttc_s is None else self.estimate(t_s)

    def add(self, t_s: float, lead_id: int | None, ttc_s: float | None) -> None:
        """Keep this frame's reading of the lead (cheap: done every frame)."""
        if lead_id != self._lead:
            self._points.clear()
            self._lead = lead_id
            self._first_t_s = None
        if ttc_s is None:
            return
        if self._first_t_s is None:
            self._first_t_s = t_s
        self._points.append((t_s, ttc_s))
        while self._points and self._points[0][0] < t_s - self.window_s:
            self._points.popleft()

    def estimate(self, t_s: float) -> float | None:
        """tau-dot from the kept readings, or None while it is not known (the pairwise slopes
        cost O(n^2): asked for only where a red light governs)."""
        if not self._points:
            return None
        span_s = t_s - self._points[0][0]
        if len(self._points) < self.min_points or span_s < self.min_span_s:
            return None
        t, y = np.array(self._points).T
        i, j = np.triu_indices(len(t), 1)
        dt = t[j] - t[i]
        ok = dt > 0
        slope = float(np.median((y[j] - y[i])[ok] / dt[ok]))
        if span_s < self.wait_s and theil_sen_se(t, y, slope) > self.max_slope_se:
            return None
        return slope


def theil_sen_se(t: np.ndarray, y: np.ndarray, slope: float) -> float:
    """Standard error of a line's slope from the robust scatter (1.4826 MAD) of the residuals."""
    r = y - slope * t
    scatter = 1.4826 * float(np.median(np.abs(r - np.median(r))))
    spread = float(np.std(t)) * np.sqrt(len(t))
    return scatter / spread if spread > 0 else float("inf")
