"""Risk stage: lead selection, TTC (and range when the camera geometry is known), warning.

Only a physically plausible lead (fcw/risk/plausibility.py) raises a level; any other is still
the lead, with its reading, and ``Risk.implausible_reason`` says why it raised nothing. The TTC
is read from the surest scale-rate estimate (the image alignment once it has a key, else the
tracker's box width), and its sigma grows when the others (box width, bottom edge) disagree.
"""
from __future__ import annotations

import logging
import math

import numpy as np

from fcw.config import (
    CameraConfig,
    CorridorConfig,
    PlausibilityConfig,
    WarningConfig,
)
from fcw.risk.braking import TauDotEstimator, braking_credited_ttc
from fcw.risk.lead import Corridor, select_lead
from fcw.risk.plausibility import (
    Plausibility,
    RateEstimate,
    check_lead,
    cut_by_bottom,
    log_rate_now,
)
from fcw.risk.ttc import (
    closing_speed_mps,
    headway_s,
    range_from_ground_m,
    ttc_first_order,
    ttc_second_order,
)
from fcw.risk.warning import WarningStateMachine
from fcw.scale.estimator import LeadScaleEstimator
from fcw.types import (
    CameraGeometry,
    Event,
    Frame,
    LightState,
    Risk,
    Tracks,
    TrafficLight,
)

log = logging.getLogger(__name__)


class RiskStage:
    """``update(frame, tracks, light, geometry) -> (Risk, events)``; ``reset()``.

    ``tracks`` are vehicles (the tracker keeps no other class). ``lead_scale``: the image
    alignment's estimate of the lead's scale rate (fcw/scale/), injected; None reads the rates
    from the boxes alone. ``red_light_decel_factor``: credit the ego's braking under a red
    light (fcw/risk/braking.py); None never does. ``red_light_wait_s``: how long a red light holds
    a new lead's warning back while its braking is not measurable yet; ``red_light_memory_s``: how
    long a red light read governs while no light is read.
    """

    def __init__(self, camera: CameraConfig, corridor: CorridorConfig, warning: WarningConfig,
                 lead_scale: LeadScaleEstimator | None = None,
                 red_light_decel_factor: float | None = None, red_light_wait_s: float = 1.0,
                 red_light_memory_s: float = 1.5,
                 plausibility: PlausibilityConfig | None = None) -> None:
        self.camera = camera
        self.plausibility_cfg = (plausibility if plausibility is not None
                                 else PlausibilityConfig.model_validate({}))
        self.red_light_decel_factor = red_light_decel_factor
        self.red_light_wait_s = red_light_wait_s
        self.red_light_memory_s = red_light_memory_s
        self.corridor_cfg = corridor
        self.warning_cfg = warning
        self.lead_scale = lead_scale
        self._corridor: Corridor | None = None
        self._corridor_size: tuple[int, int] | None = None
        self.reset()

    def reset(self) -> None:
        """Forget every lead, box history and warning, as a new stage would (a seek in a
        replay: a warning must not carry over a jump in time)."""
        self._last_reason: str | None = None
        # Per track id, (capture time, box width, bottom row) of the recent frames the detector
        # saw it in: kept for every track, so that a new lead (a cut-in) has its rates at once.
        self._history: dict[int, list[tuple[float, float, float]]] = {}
        self._tau_dot = TauDotEstimator(wait_s=self.red_light_wait_s)
        self._red_seen_t_s: float | None = None
        # (lead id, capture time) since which the lead's scale acceleration has shown braking.
        self._braking_since: tuple[int, float] | None = None
        self.state_machine = WarningStateMachine(self.warning_cfg)
        if self.lead_scale is not None:
            self.lead_scale.reset()

    def _corridor_for(self, frame: Frame, geometry: CameraGeometry | None = None) -> Corridor:
        """The ego corridor under the geometry stage's estimate (it follows the vanishing point
        and bends with the road), else the config's fixed one."""
        if geometry is not None:
            return Corridor.from_geometry(geometry, self.corridor_cfg, frame.width, frame.height,
                                          self.camera.geometry.max_bend_offset_frac)
        size = (frame.width, frame.height)
        if self._corridor is None or size != self._corridor_size:
            self._corridor = Corridor.from_config(self.camera, self.corridor_cfg, *size)
            self._corridor_size = size
        return self._corridor

    def update(self, frame: Frame, tracks: Tracks, light: TrafficLight | None = None,
               geometry: CameraGeometry | None = None) -> tuple[Risk, list[Event]]:
        """``light``: the traffic-light stage's reading of this frame, if it runs. ``geometry``:
        the geometry stage's horizon and camera height for this frame; None uses the config's
        prior (its vanishing point, with ``plausibility.prior_horizon_sigma_frac``)."""
        corridor = self._corridor_for(frame, geometry)
        if geometry is None:
            geometry = self.prior_geometry(frame)
        self._remember_boxes(frame.t_s, tracks)
        lead_id = select_lead(tracks, corridor)

        # Every quantity below is read from the current lead only, so after a cut-in or a
        # cut-out the new lead's TTC takes over from that frame on.
        ttc_s = ttc_sigma_s = ttc2_s = range_m = closing_mps = headway = None
        closing = plausible = braking = False
        reason = None
        if lead_id is not None:
            i = int(np.nonzero(tracks.track_id == lead_id)[0][0])
            check, accel, accel_var = self._judge_lead(frame, tracks, i, geometry)
            plausible, reason = check.ok, check.reason
            rate = check.rate
            closing = rate is not None and rate.rate_per_s > self.warning_cfg.min_closing_rate_per_s
            if closing and rate is not None:
                ttc_s, ttc_sigma_s = ttc_first_order(rate.rate_per_s, rate.var)
                ttc2_s = ttc_second_order(rate.rate_per_s, accel)
                # The lead brakes (a > v^2, see ttc_second_order) surely enough to decide on it.
                braking = (accel - rate.rate_per_s ** 2
                           > self.warning_cfg.second_order_k_sigma * math.sqrt(accel_var))
            if rate is not None:
                range_m, closing_mps, headway = self._geometry(tracks.xyxy[i], rate.rate_per_s,
                                                               geometry)
        braking = self._braking_held(frame.t_s, lead_id, braking)
        if reason != self._last_reason and reason is not None and closing:
            log.debug("t=%.3f s: lead %s raises nothing: %s", frame.t_s, lead_id, reason)
        self._last_reason = reason

        # An implausible lead keeps its reading for display but raises nothing.
        decide_ttc_s, decide_sigma_s = (ttc_s, ttc_sigma_s) if plausible else (None, None)
        if (self.warning_cfg.second_order and braking and decide_ttc_s is not None
                and ttc2_s is not None and ttc2_s < decide_ttc_s and decide_sigma_s is not None):
            # A braking lead: NHTSA times its test on the TTC that counts the lead's
            # deceleration, which the first-order TTC overestimates by up to 60% (LVD).
            decide_sigma_s *= ttc2_s / decide_ttc_s
            decide_ttc_s = ttc2_s
        decide_closing = closing and plausible
        self._tau_dot.add(frame.t_s, lead_id, ttc_s if plausible else None)
        if (self.red_light_decel_factor is not None and self._red_governs(frame.t_s, light)
                and decide_ttc_s is not None):
            tau_dot = self._tau_dot.estimate(frame.t_s)
            if tau_dot is not None:
                decide_ttc_s, decide_sigma_s = braking_credited_ttc(
                    decide_ttc_s, decide_sigma_s, tau_dot, self.red_light_decel_factor)
            elif self._tau_dot.hold(frame.t_s):
                decide_ttc_s = decide_sigma_s = None  # braking not measurable yet
            decide_closing = decide_ttc_s is not None
        level, events = self.state_machine.update(frame.t_s, frame.index, lead_id, decide_ttc_s,
                                                  decide_sigma_s, decide_closing)
        risk = Risk(lead_id=lead_id, ttc_s=ttc_s, ttc_sigma_s=ttc_sigma_s, ttc2_s=ttc2_s,
                    level=level, range_m=range_m, closing_speed_mps=closing_mps,
                    headway_s=headway, plausible=plausible, implausible_reason=reason)
        return risk, events

    def _red_governs(self, t_s: float, light: TrafficLight | None) -> bool:
        """A red light governs: read now, or read within ``red_light_memory_s`` with no light
        read since (a far head of a few pixels drops out of the classifiers for a second at a
        time; a light that changes is read changing, so only "none" bridges the gap)."""
        state = None if light is None else light.state
        if state is LightState.RED:
            self._red_seen_t_s = t_s
        elif state is not LightState.NONE:
            self._red_seen_t_s = None
        return (self._red_seen_t_s is not None
                and t_s - self._red_seen_t_s <= self.red_light_memory_s)

    def _braking_held(self, t_s: float, lead_id: int | None, braking: bool) -> bool:
        """Whether the lead has shown braking for ``second_order_hold_s`` of frame time without
        a break (a new lead starts over)."""
        if not braking or lead_id is None:
            self._braking_since = None
            return False
        if self._braking_since is None or self._braking_since[0] != lead_id:
            self._braking_since = (lead_id, t_s)
        return t_s - self._braking_since[1] >= self.warning_cfg.second_order_hold_s

    def prior_geometry(self, frame: Frame) -> CameraGeometry:
        """The geometry the config alone gives: the horizon through its vanishing point, with
        the uncertainty of an uncalibrated mount."""
        cam, cfg = self.camera, self.plausibility_cfg
        return CameraGeometry(
            horizon_y_px=cam.vanishing_point_y * frame.height,
            vp_x_px=cam.vanishing_point_x * frame.width,
            camera_height_m=(cam.height_m if cam.height_m is not None
                             else cam.geometry.prior_height_m),
            horizon_sigma_px=cfg.prior_horizon_sigma_frac * frame.height)

    def _judge_lead(self, frame: Frame, tracks: Tracks, i: int, geometry: CameraGeometry
                    ) -> tuple[Plausibility, float, float]:
        """The plausibility of track i, the lead, with its pooled scale rate; and the scale
        acceleration (1/s^2) for the second-order TTC, with its variance."""
        box = tracks.xyxy[i].astype(float)
        horizon_y_px = geometry.horizon_y_at(0.5 * float(box[0] + box[2]))
        # The alignment (when it runs) first: it is the surest, and the one the TTC reports.
        estimates, accel, accel_var = self._rate_estimates(frame, tracks, i)
        rate, var = float(tracks.scale_rate_per_s[i]), float(tracks.scale_rate_var[i])
        if np.isfinite([rate, var]).all() and var > 0.0:
            estimates.append(RateEstimate("box_width", rate, var))
        rows = self._history.get(int(tracks.track_id[i]))
        # A bottom row held by the frame's edge does not move as the lead nears.
        if rows and not cut_by_bottom(box, frame.height, self.plausibility_cfg.edge_margin_frac):
            cfg = self.plausibility_cfg
            t, w, y = np.array(rows).T
            bottom = log_rate_now("bottom_edge", t, y, horizon_y_px, geometry.horizon_sigma_px,
                                  float(np.hypot(cfg.box_noise_px, cfg.box_noise_frac * w[-1])),
                                  cfg.horizon_k_sigma)
            if bottom is not None:
                estimates.append(bottom)
        since = None if tracks.since_match_s is None else float(tracks.since_match_s[i])
        age = None if tracks.age_s is None else float(tracks.age_s[i])
        check = check_lead(box, (frame.width, frame.height), since, age, horizon_y_px,
                           geometry.horizon_sigma_px, geometry.camera_height_m, estimates,
                           self.warning_cfg.min_track_age_s, self.plausibility_cfg,
                           confirm_with="alignment" if self.lead_scale is not None else None)
        return check, accel, accel_var

    def _remember_boxes(self, t_s: float, tracks: Tracks) -> None:
        """Keep the last ``rate_window_s`` of each track's box widths and bottom rows, from the
        frames the detector saw it in (a coasting box is the tracker's guess, not a reading)."""
        window_s = self.plausibility_cfg.rate_window_s
        seen = set()
        for k, track_id in enumerate(tracks.track_id.tolist()):
            seen.add(track_id)
            rows = self._history.setdefault(track_id, [])
            x1, _, x2, y2 = (float(v) for v in tracks.xyxy[k])
            detected = tracks.since_match_s is None or tracks.since_match_s[k] == 0.0
            if detected and np.isfinite([x1, x2, y2]).all():
                rows.append((t_s, x2 - x1, y2))
            while rows and rows[0][0] < t_s - window_s:
                rows.pop(0)
        for gone in set(self._history) - seen:
            del self._history[gone]

    def _rate_estimates(self, frame: Frame, tracks: Tracks, i: int
                        ) -> tuple[list[RateEstimate], float, float]:
        """The image alignment's scale-rate estimate of track i once it has enough steps, and
        the scale acceleration (1/s^2) with its variance: the alignment's, else the tracker's
        (whose variance is not known: infinite)."""
        accel, accel_var = float(tracks.scale_accel_per_s2[i]), math.inf
        estimates = []
        aligned = self.lead_scale.update(frame, tracks, i) if self.lead_scale else None
        if aligned is not None and aligned.usable:
            estimates.append(RateEstimate("alignment", aligned.rate_per_s, aligned.rate_var))
            accel, accel_var = aligned.accel_per_s2, aligned.accel_var
        if not np.isfinite(accel):
            return estimates, 0.0, math.inf
        return estimates, accel, accel_var

    def _geometry(self, box_xyxy: np.ndarray, rate_per_s: float, geometry: CameraGeometry
                  ) -> tuple[float | None, float | None, float | None]:
        """Flat-ground range, closing speed and headway of the lead, for a camera whose focal
        length and height are stated; the horizon is the geometry stage's at the lead's column
        (a pitched mount's horizon is tens of pixels off the configured one, a 10-30% error in
        range at 30 m)."""
        cam = self.camera
        if cam.focal_px is None or cam.height_m is None:
            return None, None, None
        x1, _, x2, y2 = (float(v) for v in box_xyxy)
        range_m = range_from_ground_m(y2, geometry.horizon_y_at(0.5 * (x1 + x2)), cam.focal_px,
                                      cam.height_m)
        if range_m is None:
            return None, None, None
        headway = headway_s(range_m, cam.ego_speed_mps) if cam.ego_speed_mps is not None else None
        return range_m, closing_speed_mps(range_m, rate_per_s), headway
