"""fcw's configuration: YAML validated into typed, frozen objects at start-up.

Every section forbids unknown keys, so a typo stops the start with the field's path instead of
being silently ignored. ``load_config`` turns any problem into a ``ConfigError`` whose message is
one line: the file, the line where YAML knows it, the field path and what was expected.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator

from fcw.errors import EXIT_USAGE, FcwError, validation_problem

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"


class ConfigError(FcwError):
    """A configuration that cannot be used; the message is meant for the user as it is."""

    exit_code = EXIT_USAGE


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GeometryConfig(_Section):
    """The online horizon / vanishing-point estimate (fcw/geometry/); the camera's
    ``vanishing_point_x/y`` and height are its prior."""

    enabled: bool = True
    # Camera height over the road used when camera.height_m is null (a windscreen dashcam).
    prior_height_m: float = Field(1.3, gt=0.2, le=5.0)
    # Vehicles give the horizon as y_bottom - (h / W) width: cars only, W this wide, nearly
    # straight ahead (a car further aside shows its side, and its box is wider than its rear).
    vehicle_width_m: float = Field(1.8, gt=0.5, le=4.0)
    vehicle_max_lateral_m: float = Field(1.0, ge=0.0, le=5.0)
    vehicle_min_width_px: float = Field(16.0, ge=1.0)
    # Relative spread of car widths: one car's horizon is uncertain by this share of its rows
    # below the horizon.
    vehicle_width_rel_sigma: float = Field(0.1, gt=0.0, le=1.0)
    # A near car's box bottom is its rear wheels, this far beyond its rear face (m); only cars
    # narrower than max_width_frac of the frame (far enough for that to matter little) count.
    vehicle_overhang_m: float = Field(0.9, ge=0.0, le=3.0)
    vehicle_max_width_frac: float = Field(0.15, gt=0.0, le=1.0)
    # Focal length as a fraction of the frame width when camera.focal_px is null (a 64 degree
    # lens); only the overhang's small correction uses it.
    prior_focal_frac: float = Field(0.8, gt=0.1, le=5.0)
    # The lane-marking pass and the vehicle samples run this often (frame time), on the road
    # part of the frame scaled to this width.
    sample_interval_s: float = Field(0.25, gt=0.0, le=10.0)
    work_width_px: int = Field(320, ge=64, le=1920)
    lane_min_lean_deg: float = Field(8.0, ge=0.0, le=90.0)
    lane_max_lean_deg: float = Field(75.0, ge=0.0, le=90.0)
    # Lines further than this from the vanishing point (fraction of the frame width) are not lanes.
    lane_inlier_frac: float = Field(0.03, gt=0.0, le=0.5)
    # A lane sample counts when this share of the edge length found runs through its point.
    lane_min_agreement: float = Field(0.5, ge=0.0, le=1.0)
    # Samples older than this are forgotten; medians over them ignore transients (pitching
    # under braking, a bump, a wrong box).
    window_s: float = Field(30.0, gt=0.0, le=3600.0)
    # One-sigma of the prior and the floors of the lane and vehicle estimates (their biases:
    # a marking's width, the spread of car widths), as fractions of the frame height.
    prior_sigma_frac: float = Field(0.05, gt=0.0, le=1.0)
    lanes_floor_frac: float = Field(0.005, gt=0.0, le=1.0)
    vehicles_floor_frac: float = Field(0.01, gt=0.0, le=1.0)
    # A mount does not move: the estimate follows the evidence at most this fast (frame
    # heights per second) and never strays further than max_offset_frac from the prior.
    max_rate_frac_per_s: float = Field(0.05, gt=0.0, le=1.0)
    max_offset_frac: float = Field(0.25, ge=0.0, le=1.0)
    # The corridor bends with the road as the lane markings show it: the median over this
    # time, its far end at most this far aside (fraction of the width).
    bend_window_s: float = Field(2.0, gt=0.0, le=60.0)
    max_bend_offset_frac: float = Field(0.15, ge=0.0, le=1.0)
    # A bend that moves the corridor's centre less than this (fraction of the width) 5% of the
    # frame height under the horizon is the lane pass's noise: the road is taken as straight.
    min_bend_offset_frac: float = Field(0.015, ge=0.0, le=1.0)
    # Where the markings give no bend, the path's curvature from the road's image motion
    # (fcw/geometry/motion.py): road corners tracked over motion_gap_s of frame time from each
    # sample, whose steps are known to motion_noise_frac of the width (one sigma); no sample
    # from fewer than motion_min_points agreeing corners or below motion_min_speed_hps (camera
    # heights a second: 5.2 m/s, 19 km/h at 1.3 m) or with the speed's own sigma above
    # motion_max_speed_rel_sigma of it (the flow fits no forward motion). The bend's sigma is
    # no better than motion_floor_frac (judged like min_bend_offset_frac), and a bend within
    # motion_min_sigmas of straight is straight.
    motion_enabled: bool = True
    motion_gap_s: float = Field(0.1, gt=0.0, le=2.0)
    motion_max_points: int = Field(200, ge=8, le=2000)
    motion_min_points: int = Field(20, ge=4)
    motion_noise_frac: float = Field(0.0015, gt=0.0, le=0.1)
    motion_min_speed_hps: float = Field(4.0, gt=0.0)
    motion_max_speed_rel_sigma: float = Field(0.15, gt=0.0)
    motion_floor_frac: float = Field(0.005, gt=0.0, le=1.0)
    motion_min_sigmas: float = Field(2.0, ge=0.0)
    # The mount's roll (the horizon's tilt) is the median tilt of the flow's free fits over
    # window_s once there are roll_min_samples of them (0 until then); like the horizon it
    # follows that at most max_roll_rate_deg_per_s. An event is written when it has moved
    # event_roll_deg since the last one.
    roll_min_samples: int = Field(5, ge=1, le=1000)
    max_roll_rate_deg_per_s: float = Field(0.5, gt=0.0, le=90.0)
    event_roll_deg: float = Field(0.5, gt=0.0, le=90.0)
    # A "geometry" event when the estimate has moved this far (fraction of the frame height)
    # since the last one; the far crop is moved when the vanishing point has moved this far.
    event_shift_frac: float = Field(0.01, gt=0.0, le=1.0)
    crop_shift_frac: float = Field(0.02, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _leans_ordered(self) -> GeometryConfig:
        if self.lane_min_lean_deg >= self.lane_max_lean_deg:
            raise ValueError(f"lane_min_lean_deg ({self.lane_min_lean_deg}) must be below "
                             f"lane_max_lean_deg ({self.lane_max_lean_deg})")
        return self


class CameraConfig(_Section):
    # The vanishing point, as fractions of the frame: the corridor and the far crop hang from it.
    vanishing_point_x: float = Field(0.5, ge=0.0, le=1.0)
    vanishing_point_y: float = Field(0.5, ge=0.0, le=1.0)
    # Optional geometry for range and closing speed (flat-ground model); not needed for TTC.
    height_m: Optional[float] = Field(None, gt=0.0, le=10.0)
    focal_px: Optional[float] = Field(None, gt=0.0)
    ego_speed_mps: Optional[float] = Field(None, ge=0.0, le=100.0)
    # The prior above, refined online from the video.
    geometry: GeometryConfig = GeometryConfig()


class NmsConfig(_Section):
    method: Literal["nms", "soft", "fusion"] = "fusion"
    iou_threshold: float = Field(0.45, gt=0.0, le=1.0)
    class_agnostic: bool = True
    soft_sigma: float = Field(0.5, gt=0.0)


class FarCropConfig(_Section):
    enabled: bool = True
    # Size of the crop as fractions of the frame, centred on the vanishing point.
    width_frac: float = Field(0.3, gt=0.05, le=1.0)
    height_frac: float = Field(0.4, gt=0.05, le=1.0)
    # A third pass over a tighter window on the same centre: through a wide-angle lens a car
    # 70-100 m ahead is 8-12 px wide at 720p, too small for the model even in the far crop.
    # "auto": on when camera.focal_px gives a horizontal field of view of at least
    # tight_min_hfov_deg. Off for narrower lenses: there it finds nothing the far crop misses
    # and costs a third model run (docs/detector.md).
    tight: Literal["auto", "on", "off"] = "auto"
    tight_min_hfov_deg: float = Field(90.0, gt=0.0, lt=180.0)
    # 160 x 101 px of a 720p frame: the 416x256 input's shape, seen at 2.6x.
    tight_width_frac: float = Field(0.125, gt=0.02, le=1.0)
    tight_height_frac: float = Field(0.14, gt=0.02, le=1.0)
    # Only its boxes narrower than this (x frame width) are kept: a nearer car the far crop
    # sees whole, and a second outline of it from a 2.6x zoom, there in some frames and not in
    # others, makes the fused box jitter (a braking lead 30 m ahead was confirmed late).
    tight_max_box_frac: float = Field(0.02, gt=0.0, le=1.0)


class DetectorConfig(_Section):
    model: str = "yolox_nano"
    backend: Literal["auto", "onnxruntime", "tensorrt"] = "auto"
    # The model's input (width, height) in pixels; None: the model spec's run size (YOLOX-Nano
    # 416x256), else its graph's own. Another size runs a derived copy of the graph
    # (engines/input_size.py).
    input_size: Optional[tuple[PositiveInt, PositiveInt]] = None
    score_threshold: float = Field(0.35, ge=0.0, le=1.0)
    # Traffic-light boxes are kept from this lower score on: the lights stage judges each one.
    light_score_threshold: float = Field(0.15, ge=0.0, le=1.0)
    min_box_px: float = Field(6.0, ge=0.0)
    nms: NmsConfig = NmsConfig()
    far_crop: FarCropConfig = FarCropConfig()
    threads: int = Field(0, ge=0, le=64)
    # Run the model's cached INT8 form (fcw build-engine --int8; on the CPU with --backend
    # onnxruntime), which was kept only if it agreed with fp32 on held-out frames.
    int8: bool = False


class PipelineConfig(_Section):
    # Read and pre-process the next frames and run the model on worker threads while this
    # frame's tracking, risk and outputs run (fcw/prefetch.py); same results, more frames/s.
    threaded: bool = True


class TrackerConfig(_Section):
    min_hits: int = Field(3, ge=1, le=30)
    max_age_s: float = Field(0.5, gt=0.0, le=10.0)
    # Association cost = iou_weight * (1 - IoU) + center_weight * centre distance / mean box
    # diagonal; pairs costing more than max_cost are never matched.
    iou_weight: float = Field(1.0, ge=0.0)
    center_weight: float = Field(1.0, ge=0.0)
    max_cost: float = Field(1.2, gt=0.0)
    # Process noise, as the PSD of the white noise driving each part of the Kalman state: the
    # jerk of ln(width) (how fast closing can change: a braking lead), the acceleration of the
    # box centre, and the acceleration of ln(h/w). The jerk PSD trades lag against noise: 0.01
    # met the NHTSA FCW times with 2 px box noise at 25-30 fps, larger values let box jitter
    # through as false closing.
    q_scale_jerk_per_s5: float = Field(0.01, gt=0.0)
    q_center_px2_s3: float = Field(2.0e4, gt=0.0)
    q_aspect_per_s3: float = Field(0.01, gt=0.0)
    # One-sigma noise of each detected box corner (px).
    measurement_noise_px: float = Field(2.0, gt=0.0)
    # ... plus this fraction of the box size, added in quadrature (FastestDet's corners wander
    # by ~3-5% of the box on the rendered scenarios).
    measurement_noise_frac: float = Field(0.03, ge=0.0, le=1.0)


class LeadScaleConfig(_Section):
    # Measure the lead's scale by aligning its image with a key image of it (fcw/scale/)
    # instead of from box widths alone; the box-based rate seeds it for each new lead. Box
    # widths wander by a few percent a frame while a far car grows by under 1%: the TTC errors
    # both ways are measured by tests/test_ttc_accuracy.py (run with -s), not copied here.
    enabled: bool = True
    # One-sigma error of one alignment, in pixels of the lead's width: ln(scale) is measured to
    # alignment_noise_px / width, but never better than min_measurement_noise.
    alignment_noise_px: float = Field(0.4, gt=0.0)
    min_measurement_noise: float = Field(0.003, gt=0.0, le=1.0)
    # Process noise: white jerk of ln(scale). At constant closing speed d2 ln w/dt2 = 1/TTC^2
    # and the jerk 2/TTC^3: small until the last second, so a quiet filter follows it.
    q_jerk_per_s5: float = Field(0.1, gt=0.0)
    init_accel_std_per_s2: float = Field(0.3, gt=0.0)
    # Alignments before the aligned estimate replaces the tracker's.
    min_measurements: int = Field(10, ge=1, le=300)
    # An alignment further than this many sigma from the filter's prediction has slipped.
    gate_sigma: float = Field(3.0, gt=0.0)
    # Patches wider than this are aligned at reduced resolution (bounds the cost of near cars).
    max_patch_px: float = Field(96.0, ge=16.0)
    # A new key image is taken once the lead has grown (or shrunk) by this much in ln(scale).
    rekey_log_scale: float = Field(0.25, gt=0.0, le=1.0)
    # The scale acceleration (the second-order TTC's braking) from a parabola fitted over this
    # much frame time of aligned scales, not the filter's; 0: the filter's. It must span whole
    # periods of the wobble the lane dashes put into the alignment (~0.6 s at 20 m/s); 0.9 s
    # let lead_brake_pull_away warn (benchmarks/lvd_tuning.py).
    accel_window_s: float = Field(1.2, ge=0.0, le=5.0)


class CorridorConfig(_Section):
    # Half-width of the ego corridor at the bottom row, as a fraction of the frame width; it
    # narrows linearly to zero at the vanishing point.
    bottom_half_width_frac: float = Field(0.25, gt=0.0, le=1.0)


class WarningConfig(_Section):
    caution_ttc_s: float = Field(4.0, gt=0.0, le=20.0)
    warning_ttc_s: float = Field(3.0, gt=0.0, le=20.0)
    # Hysteresis: a level clears only once TTC rises this far above its threshold.
    clear_margin_s: float = Field(0.5, ge=0.0, le=10.0)
    debounce_frames: int = Field(2, ge=1, le=60)
    min_hold_s: float = Field(1.0, ge=0.0, le=30.0)
    cooldown_s: float = Field(2.0, ge=0.0, le=60.0)
    # Uncertainty: TTC used for decisions is ttc_s - sigma_k * ttc_sigma_s, and a reading whose
    # sigma exceeds max_sigma_frac * ttc_s is too unsure to raise anything. 0.25 asks the scale
    # rate to be 4 sigma from zero: at 0.5 a far, small box's noise raised warnings at TTC 10 s.
    sigma_k: float = Field(0.5, ge=0.0, le=5.0)
    max_sigma_frac: float = Field(0.25, gt=0.0, le=10.0)
    min_closing_rate_per_s: float = Field(0.02, ge=0.0)
    # A track younger than this (frame time since its first detection) raises nothing: its
    # filter has not seen enough of the box to measure a rate (~0.3-0.5 s at 25-30 fps).
    min_track_age_s: float = Field(0.5, ge=0.0, le=10.0)
    # Decide on the second-order TTC (the scale acceleration counts the lead's braking) when it
    # is the shorter: NHTSA's lead-vehicle-decelerating test is timed on that TTC.
    second_order: bool = True
    # ... only once the scale acceleration shows braking by this many sigma of its estimate
    # (chosen on seeds 0-1 of the renders, benchmarks/lvd_tuning.py; at 1 sigma with the
    # filter's acceleration, benign scenes that brake then pull away warned).
    second_order_k_sigma: float = Field(3.0, ge=0.0)
    # ... and only once it has shown braking for this much frame time without a break: the
    # dashes' wobble makes the acceleration swing by more than a braking lead's for a few
    # frames at a time (s).
    second_order_hold_s: float = Field(0.3, ge=0.0, le=5.0)

    @model_validator(mode="after")
    def _ordered(self) -> WarningConfig:
        if self.warning_ttc_s > self.caution_ttc_s:
            raise ValueError("warning_ttc_s must not exceed caution_ttc_s")
        return self


class PlausibilityConfig(_Section):
    """When the lead is a physically plausible vehicle (fcw/risk/plausibility.py); only such a
    lead raises a warning."""

    # The detector must have matched the lead within this much frame time (a track coasting on
    # its prediction and the image alignment alone may be on the road's texture).
    max_unmatched_s: float = Field(0.15, ge=0.0, le=5.0)
    # A box within this fraction of the frame's width (height) of its left/right (top/bottom)
    # edge is cut by it: its width and bottom row say nothing about the vehicle.
    edge_margin_frac: float = Field(0.01, ge=0.0, le=0.25)
    # Physical width h * w / (y_bottom - y_horizon) of a car ... a lorry (m); the detector's
    # boxes are this fraction looser or tighter than the vehicle.
    min_width_m: float = Field(1.4, gt=0.0, le=5.0)
    max_width_m: float = Field(2.6, gt=0.0, le=10.0)
    box_width_tolerance_frac: float = Field(0.15, ge=0.0, le=1.0)
    # Physical height h * (y_bottom - y_top) / (y_bottom - y_horizon) of a low car ... a lorry
    # or bus (m), with the same tolerance.
    min_height_m: float = Field(1.0, gt=0.0, le=5.0)
    max_height_m: float = Field(4.5, gt=0.0, le=10.0)
    # Uncertainty of the horizon row when only the config's vanishing point is known, as a
    # fraction of the frame height (dashcams are pitched by several degrees), and how many
    # sigma of it the width check allows.
    prior_horizon_sigma_frac: float = Field(0.06, ge=0.0, le=0.5)
    horizon_k_sigma: float = Field(2.0, ge=0.0, le=10.0)
    # The scale-rate estimates (box width, bottom edge, image alignment) disagree when their
    # reduced chi-square exceeds this squared: such a reading raises nothing.
    max_rate_disagreement_sigma: float = Field(3.0, gt=0.0, le=100.0)
    # The estimates besides the surest must, pooled, read closing this many of their sigma
    # above zero to confirm its reading.
    confirm_k_sigma: float = Field(1.0, ge=0.0, le=10.0)
    # The box width's and bottom edge's rates are parabolas fitted over this much frame time of
    # the lead's detected boxes, each box edge with at least hypot(box_noise_px, box_noise_frac
    # * width) of one-sigma noise (a detector's box wanders by a few per cent of its size).
    rate_window_s: float = Field(1.0, gt=0.0, le=10.0)
    box_noise_px: float = Field(2.0, gt=0.0, le=100.0)
    box_noise_frac: float = Field(0.03, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> PlausibilityConfig:
        if self.min_width_m >= self.max_width_m:
            raise ValueError("min_width_m must be below max_width_m")
        if self.min_height_m >= self.max_height_m:
            raise ValueError("min_height_m must be below max_height_m")
        return self


class ReconnectConfig(_Section):
    # A camera or stream that fails or ends is reopened after initial_backoff_s, then twice as
    # long after each failed try up to max_backoff_s; the run goes on and the gap is logged as
    # source_lost / source_resumed events. Disabled, a lost live source ends the run (exit 3).
    enabled: bool = True
    initial_backoff_s: float = Field(0.5, gt=0.0, le=60.0)
    max_backoff_s: float = Field(10.0, gt=0.0, le=600.0)
    # Exit 3 after this long without a frame, for a supervisor to restart fcw; null: never.
    give_up_after_s: Optional[float] = Field(None, gt=0.0)

    @model_validator(mode="after")
    def _ordered(self) -> ReconnectConfig:
        if self.max_backoff_s < self.initial_backoff_s:
            raise ValueError("max_backoff_s must not be below initial_backoff_s")
        return self


class SourceConfig(_Section):
    folder_fps: float = Field(10.0, gt=0.0, le=1000.0)
    realtime: bool = False
    reconnect: ReconnectConfig = ReconnectConfig()


class OutputConfig(_Section):
    status_line: bool = True
    fsync_warnings: bool = True
    # The events file rotates past this size (events.jsonl -> events.jsonl.1 ...), so a car that
    # runs for weeks cannot fill its disk; 0 never rotates.
    events_max_mb: float = Field(50.0, ge=0.0)
    # Rotated files kept beside the current one; the oldest beyond this is deleted.
    events_keep: int = Field(5, ge=0, le=1000)
    # A heartbeat record (frames, fps, dropped, memory) every this many seconds of frame time,
    # so a supervisor or an investigation can tell "quiet road" from "hung"; 0 = off.
    heartbeat_s: float = Field(10.0, ge=0.0)
    # The watchdog reports a "stall" (events file and stderr) when no frame has completed for
    # this many seconds of wall time, and "stall_cleared" when frames flow again; 0 = off.
    watchdog_stall_s: float = Field(5.0, ge=0.0)


class AlertConfig(_Section):
    # Sound on every rise to "warning"; --headless does not mute it (the car has no screen).
    enabled: bool = True
    # argv of the command to run, e.g. [aplay, -q, /usr/share/sounds/alsa/Front_Center.wav];
    # null plays a built-in 880 Hz beep with the first of aplay, paplay, afplay found.
    command: Optional[tuple[str, ...]] = Field(None, min_length=1)


class LightsConfig(_Section):
    # The traffic-light stage (fcw/lights/): the state of the light governing the ego lane.
    enabled: bool = True
    # The Nexar winner over the whole frame, fused with fcw's crop classifier. "auto": used when
    # its file is found (it cannot be downloaded), "on": required, "off": crops only.
    frame_classifier: Literal["auto", "on", "off"] = "auto"
    # It costs ~27 ms a run on one core, so it runs at most this often (s of frame time).
    frame_classifier_period_s: float = Field(0.5, ge=0.0, le=60.0)
    # ... on a thread of its own: an answer is used from this long (s of frame time) after its
    # frame, so that the frame loop need not wait for it; 0 waits for it on the frame itself.
    frame_classifier_lag_s: float = Field(0.2, ge=0.0, le=5.0)
    # Weight of the crop classifier in the fusion; the frame classifier gets the rest.
    crop_weight: float = Field(0.65, ge=0.0, le=1.0)
    # ... beside a governing head, that weight fades with the head's lamp diameter in the frame
    # classifier's input pixels: full from sharp_lamp_px, none at blind_lamp_px (its first layers
    # sample every 4 px; a far head's lamps are under a pixel there) (fcw/lights/fusion.py).
    frame_classifier_blind_lamp_px: float = Field(1.0, ge=0.0, le=50.0)
    frame_classifier_sharp_lamp_px: float = Field(4.0, gt=0.0, le=50.0)
    # Lamp blobs classified per frame, the largest first (a warm one gives two boxes).
    max_blobs: int = Field(16, ge=1, le=256)
    # Smallest lit lamp looked for (px across); a head is about 4.6 lamps tall, so 1.5 px finds
    # 7 px heads.
    min_lamp_px: float = Field(1.5, ge=1.0, le=20.0)
    # A proposal is a lit head when its crop's P(lit) = 1 - P(off) reaches this.
    min_lit_prob: float = Field(0.5, ge=0.0, le=1.0)
    # Governing light: weight = P(lit) * Gaussian of the horizontal offset from the vanishing
    # point (sigma as a fraction of the width) * min(1, box height / (size_ref_frac * height))
    # * (1 + detector_bonus) if the detector boxed it too * (1 + persistence_bonus) for the
    # last governing light seen within persistence_s. The crops' evidence is the weighted mean
    # of all lit heads (an approach has several heads showing one state).
    position_sigma_frac: float = Field(0.3, gt=0.0, le=2.0)
    size_ref_frac: float = Field(0.04, gt=0.0, le=1.0)
    detector_bonus: float = Field(1.0, ge=0.0, le=10.0)
    persistence_bonus: float = Field(1.0, ge=0.0, le=10.0)
    persistence_s: float = Field(0.5, ge=0.0, le=10.0)
    # The last governing head a proposal found is classified again where it was for this long
    # when no proposal finds it (a far head's 2 px lamps are missed in one frame of two); 0: never.
    head_hold_s: float = Field(0.5, ge=0.0, le=10.0)
    min_governing_score: float = Field(0.05, ge=0.0, le=1.0)
    # The heads that may govern: weight at least pool_frac of the heaviest's. A state governs
    # when it has agree_share of their weight; below that the heads disagree: state "unknown".
    pool_frac: float = Field(0.5, gt=0.0, le=1.0)
    # A lit head's centre must be this many of its own heights above the horizon (a head hangs
    # 1.5-4 head heights up; vehicle lights sit at or below the horizon).
    min_elevation_heads: float = Field(1.0, ge=-10.0, le=10.0)
    agree_share: float = Field(0.6, gt=0.5, le=1.0)
    # Smoothing: EMA time constant of the fused probabilities; a new state must lead with at
    # least enter_prob for debounce_frames frames (none_debounce_frames to fall back to none).
    # Together: a change shows within 0.3 s (0.13-0.23 s at 30 fps, 0.2-0.3 s at 10 fps, the
    # later with the frame classifier still on the old state), and a blip of 4 frames at 30 fps
    # or 2 at 10 fps never shows.
    smoothing_tau_s: float = Field(0.15, gt=0.0, le=10.0)
    enter_prob: float = Field(0.5, ge=0.0, le=1.0)
    debounce_frames: int = Field(2, ge=1, le=300)
    none_debounce_frames: int = Field(10, ge=1, le=300)
    # Prompts (events of their own type): "red_light_ahead" when the state turns red,
    # "light_turned_green" when the ego stands at a green light and the lead has moved off.
    red_light_prompt: bool = True
    green_prompt: bool = True
    green_prompt_delay_s: float = Field(1.0, ge=0.0, le=30.0)
    # The ego is stopped when the road in front of it changes by at most still_level grey
    # levels (median block mean, quarter resolution) frame to frame for stopped_min_s.
    still_level: float = Field(1.5, gt=0.0, le=255.0)
    stopped_min_s: float = Field(1.0, ge=0.0, le=30.0)
    lead_receding_rate_per_s: float = Field(0.05, ge=0.0, le=10.0)
    # Under a governing red light the warning credits the ego's braking, seen in how fast the
    # lead's TTC falls: TTC as if it braked this many times as hard as now (fcw/risk/braking.py;
    # no braking, no credit); null: no credit.
    red_light_decel_factor: Optional[float] = Field(2.0, ge=1.0, le=10.0)
    # Until the braking is measurable (tau-dot needs 0.5 s of a plausible lead's readings) a red
    # light holds the warning back, at most this long after the lead's first reading.
    red_light_wait_s: float = Field(1.0, ge=0.0, le=2.0)
    # A red light read still governs this long while no light is read (a far head drops out of
    # the classifiers for a second at a time); a light read in another state ends it at once.
    red_light_memory_s: float = Field(1.5, ge=0.0, le=10.0)

    @model_validator(mode="after")
    def _ordered(self) -> LightsConfig:
        if self.frame_classifier_blind_lamp_px >= self.frame_classifier_sharp_lamp_px:
            raise ValueError("frame_classifier_blind_lamp_px must be below "
                             "frame_classifier_sharp_lamp_px")
        return self


class Config(_Section):
    camera: CameraConfig = CameraConfig()
    source: SourceConfig = SourceConfig()
    detector: DetectorConfig = DetectorConfig()
    pipeline: PipelineConfig = PipelineConfig()
    tracker: TrackerConfig = TrackerConfig()
    corridor: CorridorConfig = CorridorConfig()
    lead_scale: LeadScaleConfig = LeadScaleConfig()
    warning: WarningConfig = WarningConfig()
    plausibility: PlausibilityConfig = PlausibilityConfig()
    output: OutputConfig = OutputConfig()
    alert: AlertConfig = AlertConfig()
    lights: LightsConfig = LightsConfig()

    def inference_threads(self) -> int:
        """ONNX Runtime's intra-op threads: ``detector.threads``, or for 0 its own choice (all
        cores), less one core for the frame's other work when the pipeline is threaded."""
        if self.detector.threads or not self.pipeline.threaded:
            return self.detector.threads
        return max(1, (os.cpu_count() or 1) - 1)

    def to_record(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _line_of(path: Path, text: str, loc: tuple[Any, ...]) -> Optional[int]:
    """The 1-based line of a key path in the YAML text, found by walking the composed nodes."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for key in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        for k, v in node.value:
            if k.value == str(key):
                line, node = k.start_mark.line + 1, v
                break
        else:
            break
    return line


def load_config(path: Optional[Path] = None, overrides: Optional[dict[str, Any]] = None) -> Config:
    """Read and validate a YAML config; defaults apply to every key the file leaves out."""
    if path is None and not DEFAULT_CONFIG.is_file():
        # An installed wheel has no configs/ folder; the code's defaults are the same values.
        path, text = Path("(defaults)"), ""
    else:
        path = Path(path) if path else DEFAULT_CONFIG
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    for dotted, value in (overrides or {}).items():
        section = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            section = section.setdefault(p, {})
        section[leaf] = value
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        line = _line_of(path, text, tuple(err["loc"]))
        where = f":{line}" if line else ""
        more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise ConfigError(f"{path}{where}: {validation_problem(err)}{more}") from None
