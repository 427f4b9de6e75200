"""Risk stage: lead selection, TTC (and range when the camera geometry is known), warning."""
from __future__ import annotations

import numpy as np

from fcw.config import CameraConfig, CorridorConfig, LeadScaleConfig, WarningConfig
from fcw.risk.braking import TauDotEstimator, braking_credited_ttc
from fcw.risk.lead import Corridor, select_lead
from fcw.risk.scale import KeyframeAligner, LeadScaleFilter, to_gray
from fcw.risk.ttc import (closing_speed_mps, headway_s, range_from_ground_m, ttc_first_order,
                          ttc_second_order)
from fcw.risk.warning import WarningStateMachine
from fcw.types import Event, Frame, LightState, Risk, Tracks, TrafficLight


class RiskStage:
    def __init__(self, camera: CameraConfig, corridor: CorridorConfig, warning: WarningConfig,
                 vehicle_class_ids: tuple[int, ...],
                 lead_scale: LeadScaleConfig | None = None,
                 red_light_decel_factor: float | None = None) -> None:
        """``red_light_decel_factor``: credit the ego's braking under a red light (see
        fcw/risk/braking.py); None never does."""
        self.camera = camera
        self.red_light_decel_factor = red_light_decel_factor
        self._tau_dot = TauDotEstimator()
        self.corridor_cfg = corridor
        self.warning_cfg = warning
        self.vehicle_class_ids = tuple(vehicle_class_ids)
        self.state_machine = WarningStateMachine(warning)
        self._corridor: Corridor | None = None
        self.lead_scale = lead_scale if lead_scale is not None and lead_scale.enabled else None
        self._scale_filter = LeadScaleFilter(self.lead_scale) if self.lead_scale else None
        self._aligner = (KeyframeAligner(max_patch_px=self.lead_scale.max_patch_px,
                                         rekey_log_scale=self.lead_scale.rekey_log_scale)
                         if self.lead_scale else None)
        # (lead id, capture time) of the frame the scale filter last saw.
        self._scale_prev: tuple[int, float] | None = None
        self._corridor_size: tuple[int, int] | None = None

    def _corridor_for(self, frame: Frame) -> Corridor:
        size = (frame.width, frame.height)
        if self._corridor is None or size != self._corridor_size:
            self._corridor = Corridor.from_config(self.camera, self.corridor_cfg, *size)
            self._corridor_size = size
        return self._corridor

    def update(self, frame: Frame, tracks: Tracks,
               light: TrafficLight | None = None) -> tuple[Risk, list[Event]]:
        """``light``: the traffic-light stage's reading of this frame, if it runs."""
        corridor = self._corridor_for(frame)
        vehicles = np.isin(tracks.class_id, self.vehicle_class_ids)
        lead_id = select_lead(tracks, corridor, vehicles)

        # Every quantity below is read from the current lead only, so after a cut-in or a
        # cut-out the new lead's TTC takes over from that frame on.
        ttc_s = ttc_sigma_s = ttc2_s = range_m = closing_mps = headway = None
        closing = False
        if lead_id is not None:
            i = tracks.index_of(lead_id)
            rate, rate_var, accel = self._scale_of_lead(frame, tracks, i)
            closing = rate > self.warning_cfg.min_closing_rate_per_s
            if closing:
                ttc_s, ttc_sigma_s = ttc_first_order(rate, rate_var)
                ttc2_s = ttc_second_order(rate, accel)
            range_m, closing_mps, headway = self._geometry(frame, float(tracks.xyxy[i, 3]), rate)

        decide_ttc_s, decide_sigma_s, decide_closing = ttc_s, ttc_sigma_s, closing
        tau_dot = self._tau_dot.update(frame.t_s, lead_id, ttc_s)
        if (self.red_light_decel_factor is not None and tau_dot is not None and light is not None
                and light.state is LightState.RED):
            decide_ttc_s, decide_sigma_s = braking_credited_ttc(ttc_s, ttc_sigma_s, tau_dot,
                                                                self.red_light_decel_factor)
            decide_closing = decide_ttc_s is not None
        level, events = self.state_machine.update(frame.t_s, frame.index, lead_id, decide_ttc_s,
                                                  decide_sigma_s, decide_closing)
        risk = Risk(lead_id=lead_id, ttc_s=ttc_s, ttc_sigma_s=ttc_sigma_s, ttc2_s=ttc2_s,
                    level=level, range_m=range_m, closing_speed_mps=closing_mps,
                    headway_s=headway)
        return risk, events

    def _scale_of_lead(self, frame: Frame, tracks: Tracks, i: int) -> tuple[float, float, float]:
        """(d ln w/dt, its variance, d2 ln w/dt2) of track i, the lead: from image alignment
        once it has enough steps, from the tracker's box filter until then."""
        box_estimate = (float(tracks.scale_rate_per_s[i]), float(tracks.scale_rate_var[i]),
                        float(tracks.scale_accel_per_s2[i]))
        if self._scale_filter is None:
            return box_estimate
        lead_id, box = int(tracks.track_id[i]), tracks.xyxy[i]
        f, aligner, prev = self._scale_filter, self._aligner, self._scale_prev
        gray = to_gray(frame.image)
        # Vehicles whose box reaches lower in the image are nearer and may hide part of the lead.
        occluders = tracks.xyxy[(tracks.xyxy[:, 3] > box[3]) & (tracks.track_id != lead_id)]
        if prev is None or prev[0] != lead_id:
            f.reset(*box_estimate)
            aligner.start(gray, box, 0.0, occluders)
        else:
            f.predict(frame.t_s - prev[1])
            s = aligner.measure(gray, box, occluders) if aligner.active else None
            if s is None or not f.update(s, float(box[2] - box[0])):  # a new key where the filter puts the scale now
                aligner.start(gray, box, f.log_scale, occluders)
        self._scale_prev = (lead_id, frame.t_s)
        if f.measurements < self.lead_scale.min_measurements:
            return box_estimate
        return f.rate_per_s, f.rate_var, f.accel_per_s2

    def _geometry(self, frame: Frame, y_bottom_px: float, rate_per_s: float
                  ) -> tuple[float | None, float | None, float | None]:
        cam = self.camera
        if cam.focal_px is None or cam.height_m is None:
            return None, None, None
        range_m = range_from_ground_m(y_bottom_px, cam.vanishing_point_y * frame.height,
                                      cam.focal_px, cam.height_m)
        if range_m is None:
            return None, None, None
        headway = headway_s(range_m, cam.ego_speed_mps) if cam.ego_speed_mps is not None else None
        return range_m, closing_speed_mps(range_m, rate_per_s), headway
