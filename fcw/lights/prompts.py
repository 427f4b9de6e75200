"""The driver prompts that use the light: "red light ahead" and "light turned green".

fcw has no speed feed, so "the ego car is stopped" is read from the image: the road just in front
of the bonnet does not change between frames (vehicle boxes masked out, so a car crossing or the
lead driving off does not count as ego motion). "The lead has moved off" is the lead's box
shrinking (its scale rate below ``-lead_receding_rate_per_s``) or no lead left in the corridor.

- ``red_light_ahead`` when the shown state turns red;
- ``light_turned_green`` once per stop, when the ego has stood still ``stopped_min_s``, the
  light has been green ``green_prompt_delay_s`` and the lead has moved off.
"""
from __future__ import annotations

import cv2
import numpy as np

from fcw.config import CameraConfig, LightsConfig
from fcw.types import Event, Frame, LightState, Risk, Tracks, TrafficLight

_SCALE = 4            # the road patch is compared at a quarter of the frame's resolution
_ROAD_FROM = 0.4      # from this fraction of the way between the horizon and the bottom row
_BLOCKS = (2, 8)      # rows x columns of blocks; their median difference resists local motion


class EgoMotion:
    """``update(frame, vehicle_boxes) -> stopped``: still for at least ``min_still_s``."""

    def __init__(self, camera: CameraConfig, still_level: float, min_still_s: float) -> None:
        self.camera = camera
        self.still_level = still_level
        self.min_still_s = min_still_s
        self._prev: np.ndarray | None = None
        self._still_since: float | None = None
        #: the last median block difference (grey levels), for tuning and tests
        self.last_difference: float | None = None

    def _road(self, frame: Frame) -> tuple[np.ndarray, int]:
        h, w = frame.height, frame.width
        horizon = self.camera.vanishing_point_y * h
        y0 = int(horizon + _ROAD_FROM * (h - horizon))
        patch = cv2.resize(frame.image[y0:], (w // _SCALE, max((h - y0) // _SCALE, 1)),
                           interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY).astype(np.int16), y0

    def update(self, frame: Frame, vehicle_boxes: np.ndarray) -> bool:
        road, y0 = self._road(frame)
        prev, self._prev = self._prev, road
        if prev is None or prev.shape != road.shape:
            self._still_since = None
            return False
        diff = np.abs(road - prev).astype(np.float32)
        valid = np.ones(road.shape, bool)
        boxes = np.asarray(vehicle_boxes, float).reshape(-1, 4)
        # A diverging track's box can be NaN or infinite; it masks nothing (int() would raise).
        for x1, y1, x2, y2 in boxes[np.isfinite(boxes).all(axis=1)]:
            r1, r2 = int((y1 - y0) // _SCALE), int(np.ceil((y2 - y0) / _SCALE))
            c1, c2 = int(x1 // _SCALE), int(np.ceil(x2 / _SCALE))
            valid[max(r1, 0):max(r2, 0), max(c1, 0):max(c2, 0)] = False
        levels = []
        for rows in np.array_split(np.arange(road.shape[0]), _BLOCKS[0]):
            for cols in np.array_split(np.arange(road.shape[1]), _BLOCKS[1]):
                if not (len(rows) and len(cols)):
                    continue
                block = np.s_[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
                v = valid[block]
                if v.mean() >= 0.5:
                    levels.append(float(diff[block][v].mean()))
        if not levels:  # the road is all vehicles: no evidence either way
            return (self._still_since is not None
                    and frame.t_s - self._still_since >= self.min_still_s)
        self.last_difference = float(np.median(levels))
        if self.last_difference > self.still_level:
            self._still_since = None
            return False
        if self._still_since is None:
            self._still_since = frame.t_s
        return frame.t_s - self._still_since >= self.min_still_s


class LightPrompts:
    """``update(frame, light, tracks, risk) -> events`` of the two prompts."""

    def __init__(self, cfg: LightsConfig, camera: CameraConfig) -> None:
        self.cfg = cfg
        self.ego = EgoMotion(camera, cfg.still_level, cfg.stopped_min_s)
        self._prev_state = LightState.NONE
        self._green_since: float | None = None
        self._green_prompted = False

    def reset(self) -> None:
        """Forget the light and the ego's stillness (a seek in a replay)."""
        ego = self.ego
        self.ego = EgoMotion(ego.camera, ego.still_level, ego.min_still_s)
        self._prev_state = LightState.NONE
        self._green_since = None
        self._green_prompted = False

    def _lead_moved_off(self, tracks: Tracks, risk: Risk) -> bool:
        i = tracks.index_of(risk.lead_id) if risk.lead_id is not None else None
        return i is None or float(tracks.scale_rate_per_s[i]) < -self.cfg.lead_receding_rate_per_s

    def update(self, frame: Frame, light: TrafficLight, tracks: Tracks, risk: Risk) -> list[Event]:
        cfg, state = self.cfg, light.state
        stopped = self.ego.update(frame, tracks.xyxy)
        events = []
        fields = {"confidence": round(light.confidence, 3)}
        if (state is LightState.RED and self._prev_state is not LightState.RED
                and cfg.red_light_prompt):
            events.append(Event("red_light_ahead", frame.t_s, frame.index, fields))
        if state is LightState.GREEN and self._prev_state is not LightState.GREEN:
            self._green_since = frame.t_s
        if state is not LightState.GREEN or not stopped:
            self._green_prompted = False  # a new stop, or a new green, may prompt again
        if (cfg.green_prompt and state is LightState.GREEN and stopped and not self._green_prompted
                and self._green_since is not None
                and frame.t_s - self._green_since >= cfg.green_prompt_delay_s
                and self._lead_moved_off(tracks, risk)):
            events.append(Event("light_turned_green", frame.t_s, frame.index, fields))
            self._green_prompted = True
        self._prev_state = state
        return events
