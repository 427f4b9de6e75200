"""The geometry stage: the horizon and vanishing point refined online, the config as the prior.

Two kinds of evidence, sampled a few times a second of frame time:
- lane markings: the lines of the marking edges below the horizon meet at the vanishing point;
- cars straight ahead: a car W metres wide standing on the road, w pixels wide with its bottom
  at row y_b, puts the horizon at y_b - (h / W) w (fcw/geometry/ground.py).

The road's bend comes from the markings where they are seen and otherwise from the image's
motion: the path's curvature from the yaw rate over the speed (fcw/geometry/motion.py).

The mount's roll tilts the horizon about the vanishing point; the image's motion measures it
(the road's flow comes from a tilted horizon line, fcw/geometry/motion.py).

Each kind keeps its samples over a window of frame time; its estimate is their median, whose
sigma falls as samples accrue, down to a floor for the method's own bias. The estimate is the
inverse-variance mean of the prior and both, and the published value follows it slowly: a mount
does not move, so a pitch under braking or a wrong box is outvoted before it shows.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np

from fcw.config import CameraConfig
from fcw.geometry.ground import (
    best_crossing_px,
    bottom_hidden,
    fuse,
    heading_and_bend,
    horizon_crossings_px,
    horizon_from_vehicle_px,
    lateral_offset_m,
    median_and_sigma,
    points_in_boxes,
    robust_intersection_px,
    segment_lines,
    step_towards,
)
from fcw.geometry.lanes import find_lane_segments
from fcw.geometry.motion import EgoMotion, RoadFlow, RoadFlowTracker, fit_ego_motion
from fcw.types import CameraGeometry, Event, Frame, Tracks

# Boxes closer than this to a frame edge are cut by it: their width is not the vehicle's.
_EDGE_PX = 2.0
# Segments nearer the horizon than this share of the frame height are too short and too far
# for their direction to say how the road bends.
_MIN_BEND_DEPTH_FRAC = 0.03
_BEND_JUDGED_AT_FRAC = 0.05


class GeometryStage:
    """``update(frame, tracks) -> CameraGeometry``; the frame's ``geometry`` events (the
    estimate moved) are collected with :meth:`take_events`."""

    def __init__(self, camera: CameraConfig, car_class_ids: tuple[int, ...]) -> None:
        self.camera = camera
        self.cfg = camera.geometry
        self.car_class_ids = np.asarray(car_class_ids, np.int64)
        self.height_m = camera.height_m or self.cfg.prior_height_m
        self._flow = RoadFlowTracker(self.cfg.motion_gap_s, self.cfg.work_width_px,
                                     self.cfg.motion_max_points)
        self.reset()

    def reset(self) -> None:
        self._size: tuple[int, int] | None = None
        self._lanes: deque[tuple[float, float, float]] = deque()     # (t_s, vp x, vp y)
        # (t_s, horizon y, rows below it, track id)
        self._vehicles: deque[tuple[float, float, float, int]] = deque()
        self._next_sample_t: float | None = None
        self._t_prev: float | None = None
        self._y = self._x = 0.0
        self._roll_rad = 0.0
        self._bends: deque[tuple[float, float]] = deque()              # (t_s, bend or NaN)
        # (t_s, bend, sigma, speed in camera heights a second)
        self._motion: deque[tuple[float, float, float, float]] = deque()
        # (t_s, horizon y, vanishing point x, horizon tilt) of the road's flow
        self._foe: deque[tuple[float, float, float, float]] = deque()
        self._flow.reset()
        # RANSAC's draws: seeded, so that a replay gives the same estimates.
        self._rng = np.random.default_rng(0)
        self._reported: CameraGeometry | None = None
        self._crop: tuple[float, float] | None = None
        self._events: list[Event] = []
        self.last: CameraGeometry | None = None
        #: the bend the image's motion alone gives now (px^2; 0: straight or not known), used
        #: where the markings give none; and its samples' median speed in camera heights a
        #: second (0 without samples)
        self.motion_bend_px2 = 0.0
        self.motion_speed_hps = 0.0

    @property
    def roll_samples(self) -> int:
        """How many fits of the road's flow the roll is the median of now (under
        ``roll_min_samples`` it is the level prior's 0)."""
        return len(self._foe)

    def prior(self, width_px: int, height_px: int) -> CameraGeometry:
        """The config's geometry for a frame of this size: what the stage starts from."""
        return CameraGeometry(self.camera.vanishing_point_y * height_px,
                              self.camera.vanishing_point_x * width_px, self.height_m,
                              horizon_sigma_px=self.cfg.prior_sigma_frac * height_px)

    def crop_centre_px(self) -> tuple[float, float] | None:
        """Where the far crop should be centred now, when that has moved more than
        ``crop_shift_frac`` from where it was last put (the prior at first); else None, so
        that a crop window is not moved by every pixel the estimate wanders."""
        g, size = self.last, self._size
        if g is None or size is None:
            return None
        w, h = size
        cam = self.camera
        cx, cy = self._crop or (cam.vanishing_point_x * w, cam.vanishing_point_y * h)
        limit = self.cfg.crop_shift_frac
        if abs(g.vp_x_px - cx) < limit * w and abs(g.horizon_y_px - cy) < limit * h:
            return None
        self._crop = (g.vp_x_px, g.horizon_y_px)
        return self._crop

    def take_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def update(self, frame: Frame, tracks: Tracks) -> CameraGeometry:
        w, h, t = frame.width, frame.height, frame.t_s
        if self._size != (w, h):
            self.reset()
            self._size = (w, h)
            p = self.prior(w, h)
            self._y, self._x = p.horizon_y_px, p.vp_x_px
        if self._t_prev is not None and t < self._t_prev:
            self._next_sample_t = None  # a replay sought back: sample on from here
        sample = self._next_sample_t is None or t >= self._next_sample_t
        if sample:
            self._sample_lanes(frame, tracks)
            self._sample_vehicles(tracks, w, h, t)
            self._next_sample_t = t + self.cfg.sample_interval_s
        if self.cfg.motion_enabled:
            self._sample_motion(frame, tracks, sample)
        while self._lanes and self._lanes[0][0] < t - self.cfg.window_s:
            self._lanes.popleft()
        while self._vehicles and self._vehicles[0][0] < t - self.cfg.window_s:
            self._vehicles.popleft()
        geometry = self._estimate(t, w, h)
        self._t_prev = t
        self.last = geometry
        self._report(frame, geometry)
        return geometry

    def _sample_lanes(self, frame: Frame, tracks: Tracks) -> None:
        cfg, w, h = self.cfg, frame.width, frame.height
        seg = find_lane_segments(frame.image, self._y, self._x, cfg.work_width_px,
                                 top_margin_frac=0.03, bottom_margin_frac=0.08,
                                 min_lean_deg=cfg.lane_min_lean_deg,
                                 max_lean_deg=cfg.lane_max_lean_deg)
        # Markings lie on the road, not on the vehicles: a car's trim, lights and edges are
        # straight bright lines too.
        seg = seg[~points_in_boxes(0.5 * (seg.xyxy[:, 0] + seg.xyxy[:, 2]),
                                   0.5 * (seg.xyxy[:, 1] + seg.xyxy[:, 3]), tracks.xyxy)]
        vp = None
        scale_px = cfg.lane_inlier_frac * w
        if len(seg) >= 2:
            lines = segment_lines(seg.xyxy)
            prior = (self.camera.vanishing_point_x * w, self.camera.vanishing_point_y * h)
            start = best_crossing_px(lines, seg.length_px, scale_px, prior,
                                     (cfg.max_offset_frac * w, cfg.max_offset_frac * h))
            if start is not None:
                vp = robust_intersection_px(lines, seg.length_px, start, scale_px)
        bend = float("nan")
        if vp is not None:
            x, y, inl = vp
            px, py = self.camera.vanishing_point_x * w, self.camera.vanishing_point_y * h
            xm = 0.5 * (seg.xyxy[:, 0] + seg.xyxy[:, 2])
            both_sides = (inl & (xm < x)).any() and (inl & (xm > x)).any()
            # Most of the edge length must run through it: in a city street the markings are
            # a few lines among kerbs, shadows and parked cars.
            agreed = seg.length_px[inl].sum() >= cfg.lane_min_agreement * seg.length_px.sum()
            if (abs(x - px) <= cfg.max_offset_frac * w and abs(y - py) <= cfg.max_offset_frac * h
                    and both_sides and agreed):
                # On a bend the markings' tangents cross the horizon row fanned out with depth
                # (fcw/geometry/ground.py): the heading is where the fan starts, not where the
                # near markings point.
                crossing_x, u = horizon_crossings_px(seg.xyxy, y)
                fit = heading_and_bend(crossing_x, u, seg.length_px, 2 * scale_px,
                                       min_u_px=_MIN_BEND_DEPTH_FRAC * h)
                bend = fit[1] if fit is not None else float("nan")
                # The lines' crossing pins a straight road's heading better than the fit's
                # intercept; on a bend it lies 2 c mean(1/u) beside the heading.
                heading_x = x
                if abs(bend) >= self._min_bend(w, h):
                    inv_u = 1.0 / np.maximum(u[inl], _MIN_BEND_DEPTH_FRAC * h)
                    mean_inv_u = float(np.average(inv_u, weights=seg.length_px[inl]))
                    heading_x = x - 2 * bend * mean_inv_u
                self._lanes.append((frame.t_s, heading_x, y))
        self._bends.append((frame.t_s, bend))

    def _sample_motion(self, frame: Frame, tracks: Tracks, start: bool) -> None:
        """Finishes a pending flow measurement when its gap has passed, and starts one at each
        sample time. Every vehicle box, confirmed or not, is kept out: cars move on their own."""
        w, h = frame.width, frame.height
        boxes = np.asarray(tracks.xyxy, float).reshape(-1, 4)
        boxes = boxes[np.isfinite(boxes).all(axis=1)]
        flow = self._flow.update(frame.t_s, frame.image, boxes)
        if flow is not None:
            self._fit_motion(flow, frame.t_s, w, h)
        if start and not self._flow.waiting:
            self._flow.start(frame.t_s, frame.image, self._y, boxes)

    def _fit_motion(self, flow: RoadFlow, t_s: float, w: int, h: int) -> None:
        """Two fits of the flow: one with the focus of expansion free, whose medians over
        ``window_s`` say where the road's flow comes from (a mount's pitch, roll and yaw, which
        bias the bend 70% when left out); then, once three such say where it is, the bend with
        the focus held there."""
        cfg = self.cfg
        focal_px = self.camera.focal_px or cfg.prior_focal_frac * w
        centre, noise_px = (0.5 * w, 0.5 * h), cfg.motion_noise_frac * w

        def usable(m: EgoMotion | None) -> bool:
            return (m is not None and m.n_inliers >= cfg.motion_min_points
                    and m.speed_per_px_s * focal_px >= cfg.motion_min_speed_hps
                    and math.sqrt(m.cov[0, 0]) <= cfg.motion_max_speed_rel_sigma
                    * m.speed_per_px_s)

        free = fit_ego_motion(flow, self._y, self._x, 0.0, centre, focal_px, noise_px,
                              self._rng, free_horizon=True, max_shift_px=cfg.max_offset_frac * h)
        if free is not None and usable(free):
            self._foe.append((t_s, free.horizon_y_px, free.vp_x_px, free.tilt))
        while self._foe and self._foe[0][0] < t_s - cfg.window_s:
            self._foe.popleft()
        if len(self._foe) < 3:
            return
        y_h, x_v, tilt = (float(v) for v in np.median(np.array(self._foe)[:, 1:], axis=0))
        motion = fit_ego_motion(flow, y_h, x_v, tilt, centre, focal_px, noise_px, self._rng)
        if motion is not None and usable(motion):
            bend, sigma = motion.bend_px2(), motion.bend_sigma_px2()
            if math.isfinite(bend) and math.isfinite(sigma):
                self._motion.append((t_s, bend, sigma, motion.speed_per_px_s * focal_px))

    def _motion_bend(self, w: int, h: int) -> float:
        """The median motion bend over the window, or straight (0) unless it lies
        ``motion_min_sigmas`` from straight: its sigma is the samples' spread or their own
        sigma, whichever is larger, no better than the floor."""
        cfg = self.cfg
        samples = np.array([s[1:3] for s in self._motion], float).reshape(-1, 2)
        self.motion_speed_hps = (float(np.median([s[3] for s in self._motion]))
                                 if self._motion else 0.0)
        if len(samples) < 3:
            return 0.0
        floor = cfg.motion_floor_frac * w * _BEND_JUDGED_AT_FRAC * h
        bend, sigma = median_and_sigma(samples[:, 0], floor)
        sigma = max(sigma, 1.25 * float(np.median(samples[:, 1])) / math.sqrt(len(samples)))
        return bend if abs(bend) >= cfg.motion_min_sigmas * sigma else 0.0

    def _min_bend(self, w: int, h: int) -> float:
        """The smallest bend taken for one (px^2): less is the lane pass's noise."""
        return self.cfg.min_bend_offset_frac * w * _BEND_JUDGED_AT_FRAC * h

    def _bend_now(self, t_s: float, w: int, h: int) -> tuple[float, bool]:
        """(bend, from motion): the lanes' median bend over the last ``bend_window_s`` when
        lanes were found in at least half of its samples (one stray fit does not bend the
        corridor); else the motion's (:meth:`_motion_bend`).

        The two are not fused: the markings show the road ahead, the motion only the path
        driven in the last second or two, which lags a bend's start and end and reads a lane
        change as a bend. Where markings are seen they are the better witness."""
        while self._bends and self._bends[0][0] < t_s - self.cfg.bend_window_s:
            self._bends.popleft()
        while self._motion and self._motion[0][0] < t_s - self.cfg.bend_window_s:
            self._motion.popleft()
        self.motion_bend_px2 = self._motion_bend(w, h)
        values = np.array([b for _, b in self._bends], float)
        found = values[np.isfinite(values)]
        if len(found) >= max(2, 0.5 * len(values)):
            return float(np.median(found)), False
        return self.motion_bend_px2, True

    def _sample_vehicles(self, tracks: Tracks, w: int, h: int, t_s: float) -> None:
        if len(tracks) == 0:
            return
        cfg = self.cfg
        xyxy = np.asarray(tracks.xyxy, float)
        width = xyxy[:, 2] - xyxy[:, 0]
        xc = 0.5 * (xyxy[:, 0] + xyxy[:, 2])
        ok = (np.asarray(tracks.confirmed, bool) & np.isin(tracks.class_id, self.car_class_ids)
              & np.isfinite(xyxy).all(axis=1) & (width >= cfg.vehicle_min_width_px)
              & (width <= cfg.vehicle_max_width_frac * w)
              & (xyxy[:, 0] > _EDGE_PX) & (xyxy[:, 2] < w - _EDGE_PX)
              & (xyxy[:, 3] < h - _EDGE_PX) & (xyxy[:, 3] > self._y))
        if tracks.since_match_s is not None:  # a coasting box is the filter's guess, not a car
            ok &= np.asarray(tracks.since_match_s) <= 0.0
        # A car seen over a nearer one (a lead's roof) shows no bottom: its box ends on the
        # nearer one. Any box standing lower that covers a bottom corner hides it.
        ok &= ~bottom_hidden(xyxy)
        with np.errstate(divide="ignore", invalid="ignore"):
            lateral = lateral_offset_m(xc, self._x, width, cfg.vehicle_width_m)
        ok &= np.abs(lateral) <= cfg.vehicle_max_lateral_m
        focal_px = self.camera.focal_px or cfg.prior_focal_frac * w
        horizon = horizon_from_vehicle_px(xyxy[ok, 3], width[ok], self.height_m,
                                          cfg.vehicle_width_m, cfg.vehicle_overhang_m, focal_px)
        for y, y_b, track_id in zip(horizon, xyxy[ok, 3], tracks.track_id[ok]):
            self._vehicles.append((t_s, float(y), float(y_b - y), int(track_id)))

    def _estimate(self, t_s: float, w: int, h: int) -> CameraGeometry:
        cfg = self.cfg
        prior = self.prior(w, h)
        prior_x_sigma = cfg.prior_sigma_frac * w
        lanes_y = median_and_sigma(np.array([s[2] for s in self._lanes]), cfg.lanes_floor_frac * h)
        lanes_x = median_and_sigma(np.array([s[1] for s in self._lanes]), cfg.lanes_floor_frac * w)
        # Car widths differ (1.6-2.0 m) and each car's error stays with it: the floor is that
        # spread over the rows below the horizon, shrinking only with the number of cars.
        cars = np.array([s[1:] for s in self._vehicles]).reshape(-1, 3)
        n_cars = len(np.unique(cars[:, 2]))
        cars_floor = max(cfg.vehicles_floor_frac * h, cfg.vehicle_width_rel_sigma
                         * float(np.median(cars[:, 1])) / math.sqrt(n_cars)) if n_cars else 0.0
        cars_y = median_and_sigma(cars[:, 0], cars_floor)
        target_y, sigma_y = fuse([(prior.horizon_y_px, prior.horizon_sigma_px), lanes_y, cars_y])
        target_x, _ = fuse([(prior.vp_x_px, prior_x_sigma), lanes_x])
        max_y, max_x = cfg.max_offset_frac * h, cfg.max_offset_frac * w
        target_y = float(np.clip(target_y, prior.horizon_y_px - max_y, prior.horizon_y_px + max_y))
        target_x = float(np.clip(target_x, prior.vp_x_px - max_x, prior.vp_x_px + max_x))
        dt = 0.0 if self._t_prev is None else max(t_s - self._t_prev, 0.0)
        self._y = step_towards(self._y, target_y, cfg.max_rate_frac_per_s * h * dt)
        self._x = step_towards(self._x, target_x, cfg.max_rate_frac_per_s * w * dt)
        self._roll_rad = step_towards(self._roll_rad, self._roll_target_rad(),
                                      math.radians(cfg.max_roll_rate_deg_per_s) * dt)
        # Sources that carry at least a tenth of the weight name the estimate.
        weights = {"lanes": lanes_y[1], "vehicles": cars_y[1]}
        used = [k for k, s in weights.items() if math.isfinite(s) and (sigma_y / s) ** 2 >= 0.1]
        # Bends are judged by the offset they give 5% of the frame height under the horizon.
        bend, from_motion = self._bend_now(t_s, w, h)
        if abs(bend) < self._min_bend(w, h):
            bend = 0.0
        if from_motion and bend != 0.0:
            used.append("motion")
        max_bend = cfg.max_bend_offset_frac * w * _BEND_JUDGED_AT_FRAC * h
        return CameraGeometry(
            horizon_y_px=self._y, vp_x_px=self._x, camera_height_m=self.height_m,
            roll_rad=self._roll_rad,
            # Still on the way to the target: the distance left is part of the uncertainty.
            horizon_sigma_px=float(math.hypot(sigma_y, target_y - self._y)),
            source="+".join(used) or "prior",
            bend_px2=float(np.clip(bend, -max_bend, max_bend)))

    def _roll_target_rad(self) -> float:
        """The median horizon tilt of the flow's free fits in the window, as an angle; 0 (the
        prior: a level mount) until there are ``roll_min_samples`` of them."""
        if len(self._foe) < self.cfg.roll_min_samples:
            return 0.0
        return math.atan(float(np.median([s[3] for s in self._foe])))

    def _report(self, frame: Frame, geometry: CameraGeometry) -> None:
        last, limit = self._reported, self.cfg.event_shift_frac * frame.height
        if last is not None and (abs(geometry.horizon_y_px - last.horizon_y_px) < limit
                                 and abs(geometry.vp_x_px - last.vp_x_px) < limit
                                 and abs(math.degrees(geometry.roll_rad - last.roll_rad))
                                 < self.cfg.event_roll_deg):
            return
        if last is not None:
            self._events.append(Event("geometry", frame.t_s, frame.index, geometry.to_record()))
        self._reported = geometry
