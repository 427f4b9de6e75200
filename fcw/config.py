"""fcw's configuration: YAML validated into typed, frozen objects at start-up.

Every section forbids unknown keys, so a typo stops the start with the field's path instead of
being silently ignored. ``load_config`` turns any problem into a ``ConfigError`` whose message is
one line: the file, the line where YAML knows it, the field path and what was expected.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"


class ConfigError(Exception):
    """A configuration that cannot be used; the message is meant for the user as it is."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CameraConfig(_Section):
    # The vanishing point, as fractions of the frame: the corridor and the far crop hang from it.
    vanishing_point_x: float = Field(0.5, ge=0.0, le=1.0)
    vanishing_point_y: float = Field(0.5, ge=0.0, le=1.0)
    # Optional geometry for range and closing speed (flat-ground model); not needed for TTC.
    height_m: Optional[float] = Field(None, gt=0.0, le=10.0)
    focal_px: Optional[float] = Field(None, gt=0.0)
    ego_speed_mps: Optional[float] = Field(None, ge=0.0, le=100.0)


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


class DetectorConfig(_Section):
    model: str = "fastestdet"
    backend: Literal["auto", "onnxruntime", "tensorrt"] = "auto"
    score_threshold: float = Field(0.35, ge=0.0, le=1.0)
    min_box_px: float = Field(6.0, ge=0.0)
    nms: NmsConfig = NmsConfig()
    far_crop: FarCropConfig = FarCropConfig()
    threads: int = Field(0, ge=0, le=64)


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
    # Measure the lead's scale change by aligning its image between frames (fcw/risk/scale.py)
    # instead of from box widths alone; the box-based rate seeds it for each new lead.
    # Experimental, off by default: on the rendered scenarios it cut the median TTC error at
    # 1-3 s from 14% to 8% in a trial, but its covariance does not yet suit the warning logic's uncertainty gate.
    enabled: bool = False
    # One-sigma error of one frame-to-frame ln(scale) step from the alignment.
    measurement_noise: float = Field(0.009, gt=0.0, le=1.0)
    # Process noise: white jerk of ln(scale). The rate of a closing lead itself accelerates
    # (d2 ln w/dt2 = 1/TTC^2 at constant closing speed), so the filter must follow it quickly.
    q_jerk_per_s5: float = Field(2.0, gt=0.0)
    init_accel_std_per_s2: float = Field(0.3, gt=0.0)
    # Steps measured before the aligned estimate replaces the tracker's.
    min_measurements: int = Field(5, ge=1, le=300)


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

    @model_validator(mode="after")
    def _ordered(self) -> "WarningConfig":
        if self.warning_ttc_s > self.caution_ttc_s:
            raise ValueError("warning_ttc_s must not exceed caution_ttc_s")
        return self


class SourceConfig(_Section):
    folder_fps: float = Field(10.0, gt=0.0, le=1000.0)
    realtime: bool = False


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


class AlertConfig(_Section):
    # Sound on every rise to "warning"; --headless does not mute it (the car has no screen).
    enabled: bool = True
    # argv of the command to run, e.g. [aplay, -q, /usr/share/sounds/alsa/Front_Center.wav];
    # null plays a built-in 880 Hz beep with the first of aplay, paplay, afplay found.
    command: Optional[tuple[str, ...]] = Field(None, min_length=1)


class Config(_Section):
    camera: CameraConfig = CameraConfig()
    source: SourceConfig = SourceConfig()
    detector: DetectorConfig = DetectorConfig()
    tracker: TrackerConfig = TrackerConfig()
    corridor: CorridorConfig = CorridorConfig()
    lead_scale: LeadScaleConfig = LeadScaleConfig()
    warning: WarningConfig = WarningConfig()
    output: OutputConfig = OutputConfig()
    alert: AlertConfig = AlertConfig()

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
        loc = tuple(err["loc"])
        field_path = ".".join(str(p) for p in loc) or "(top level)"
        line = _line_of(path, text, loc)
        where = f":{line}" if line else ""
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif "input" in err and not isinstance(err["input"], dict):
            msg = f"{msg} (got {err['input']!r})"
        more = f" (+{len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise ConfigError(f"{path}{where}: {field_path}: {msg}{more}") from None
