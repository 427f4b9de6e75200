"""The typed results that flow between fcw's stages.

Every stage takes and returns one of these small dataclasses of numpy arrays. Shapes are checked
once, in ``__post_init__``, so that a backend that returns the wrong thing fails at the edge and
not three stages later. Times are always the frame's capture time (``t_s``): never the wall clock.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def _check_rows(name: str, arr: np.ndarray, n: int, tail: tuple[int, ...] = ()) -> None:
    if arr.shape != (n, *tail):
        raise ValueError(f"{name} must have shape {(n, *tail)}, got {arr.shape}")


@dataclass(frozen=True)
class Frame:
    """One captured image.

    index: 0-based position in the source (a live source's index counts every frame it captured,
        so gaps in the indices are the frames it dropped).
    t_s: capture time in seconds since the start of the source: the container's media time for
        files, the monotonic clock since the first frame for live sources.
    image: (H, W, 3) uint8, BGR.
    """

    index: int
    t_s: float
    image: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        img = self.image
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(f"Frame.image must be (H, W, 3) uint8, got {img.shape} {img.dtype}")
        if self.index < 0:
            raise ValueError(f"Frame.index must be >= 0, got {self.index}")

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


@dataclass(frozen=True)
class Detections:
    """Boxes found in one frame.

    xyxy: (N, 4) float32, pixels of the frame (x1, y1, x2, y2).
    score: (N,) float32 in [0, 1].
    class_id: (N,) int32, indices into the model spec's class names.
    """

    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.score)
        _check_rows("Detections.xyxy", self.xyxy, n, (4,))
        _check_rows("Detections.score", self.score, n)
        _check_rows("Detections.class_id", self.class_id, n)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    @classmethod
    def concat(cls, parts: list[Detections]) -> Detections:
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.xyxy for p in parts]).astype(np.float32, copy=False),
            np.concatenate([p.score for p in parts]).astype(np.float32, copy=False),
            np.concatenate([p.class_id for p in parts]).astype(np.int32, copy=False),
        )

    def __len__(self) -> int:
        return len(self.score)

    def __getitem__(self, index: Any) -> Detections:
        """Select by boolean mask or index array."""
        return Detections(self.xyxy[index], self.score[index], self.class_id[index])


@dataclass(frozen=True)
class Tracks:
    """The tracker's view of every vehicle after one frame.

    track_id: (N,) int64, unique within one tracker instance.
    xyxy: (N, 4) float32, the filtered box in pixels.
    score: (N,) float32, score of the last matched detection.
    class_id: (N,) int32.
    confirmed: (N,) bool, the track has been seen often enough to be trusted.
    scale_rate_per_s: (N,) float64, d ln(w) / dt from the filter (1/s; > 0 while the box grows).
    scale_rate_var: (N,) float64, its variance from the filter covariance (1/s^2).
    scale_accel_per_s2: (N,) float64, d^2 ln(w) / dt^2 (1/s^2), for the second-order TTC.
    age_s: (N,) float64, frame time since the track's first detection (s), or None when unknown.
    since_match_s: (N,) float64, frame time since a detection last matched it (s; 0 while the
        detector sees it, > 0 while it coasts), or None when unknown.
    """

    track_id: np.ndarray
    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray
    confirmed: np.ndarray
    scale_rate_per_s: np.ndarray
    scale_rate_var: np.ndarray
    scale_accel_per_s2: np.ndarray
    age_s: np.ndarray | None = None
    since_match_s: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.track_id)
        _check_rows("Tracks.xyxy", self.xyxy, n, (4,))
        for name in ("score", "class_id", "confirmed", "scale_rate_per_s", "scale_rate_var",
                     "scale_accel_per_s2"):
            _check_rows(f"Tracks.{name}", getattr(self, name), n)
        for name in ("age_s", "since_match_s"):
            if getattr(self, name) is not None:
                _check_rows(f"Tracks.{name}", getattr(self, name), n)

    @classmethod
    def empty(cls) -> Tracks:
        z = np.zeros(0)
        return cls(np.zeros(0, np.int64), np.zeros((0, 4), np.float32), np.zeros(0, np.float32),
                   np.zeros(0, np.int32), np.zeros(0, bool), z, z.copy(), z.copy())

    def __len__(self) -> int:
        return len(self.track_id)

    def index_of(self, track_id: int) -> int | None:
        hits = np.nonzero(self.track_id == track_id)[0]
        return int(hits[0]) if len(hits) else None


@dataclass(frozen=True)
class CameraGeometry:
    """Where the road is in the image for one frame: the geometry stage's estimate.

    fcw needs no calibration: the config gives a prior (horizon row, vanishing point, camera
    height) and the geometry stage refines it online from the video (lane markings, the rows
    and widths of tracked vehicles, image motion).

    horizon_y_px: image row of the horizon at column ``vp_x_px`` (pixels, rows grow downwards).
    vp_x_px: image column of the road's vanishing point (pixels).
    roll_rad: the horizon's tilt (radians, positive when it falls to the right).
    camera_height_m: the camera's height above the road (m), from config.
    horizon_sigma_px: one-sigma uncertainty of ``horizon_y_px`` (pixels).
    source: what the estimate rests on now: "prior", "lanes", "vehicles", "motion" or a
        "+"-joined combination.
    bend_px2: how the road ahead bends (px^2; > 0 turning right): its centre at image row y
        lies ``bend_px2 / (y - horizon)`` beside the straight line to the vanishing point
        (fcw/geometry/ground.py); 0 for a straight road.
    """

    horizon_y_px: float
    vp_x_px: float
    camera_height_m: float
    roll_rad: float = 0.0
    horizon_sigma_px: float = 0.0
    source: str = "prior"
    bend_px2: float = 0.0

    def __post_init__(self) -> None:
        for name in ("horizon_y_px", "vp_x_px", "camera_height_m", "roll_rad",
                     "horizon_sigma_px", "bend_px2"):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"CameraGeometry.{name} must be finite, got {getattr(self, name)}")
        if self.camera_height_m <= 0:
            raise ValueError("CameraGeometry.camera_height_m must be > 0, "
                             f"got {self.camera_height_m}")

    def horizon_y_at(self, x_px: float) -> float:
        """The horizon's row at image column ``x_px`` (the roll tilts it)."""
        return self.horizon_y_px + float(np.tan(self.roll_rad)) * (x_px - self.vp_x_px)

    def to_record(self) -> dict[str, Any]:
        """The estimate as the events file writes it (pixels, degrees)."""
        return {"horizon_y_px": round(self.horizon_y_px, 1), "vp_x_px": round(self.vp_x_px, 1),
                "roll_deg": round(float(np.degrees(self.roll_rad)), 2),
                "horizon_sigma_px": round(self.horizon_sigma_px, 1),
                "camera_height_m": self.camera_height_m, "bend_px2": round(self.bend_px2),
                "source": self.source}


class WarningLevel(enum.IntEnum):
    NONE = 0
    CAUTION = 1
    WARNING = 2

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Risk:
    """The risk stage's reading of one frame.

    lead_id: track id of the lead vehicle, or None.
    ttc_s: first-order time to collision (s), None when the lead is not closing.
    ttc_sigma_s: one-sigma uncertainty of ttc_s from the filter covariance (s).
    ttc2_s: second-order TTC using the scale acceleration (s), None when not closing.
    level: the debounced warning level shown to the driver.
    range_m / closing_speed_mps / headway_s: only when the camera geometry (and ego speed) is known.
    plausible: the lead passed every check of fcw/risk/plausibility.py (detector support, age,
        inside the frame, a vehicle's width and height on the road, its scale rates agreeing and
        confirmed); only a plausible lead can raise a level. False when there is no lead.
    implausible_reason: the first check the lead failed ("coasting", "young_track",
        "cut_by_edge", "not_vehicle_width", "not_vehicle_height", "rates_disagree", "no_rate",
        "unconfirmed_rate"), None when plausible or no lead.
    """

    lead_id: int | None = None
    ttc_s: float | None = None
    ttc_sigma_s: float | None = None
    ttc2_s: float | None = None
    level: WarningLevel = WarningLevel.NONE
    range_m: float | None = None
    closing_speed_mps: float | None = None
    headway_s: float | None = None
    plausible: bool = False
    implausible_reason: str | None = None


@dataclass(frozen=True)
class Event:
    """A record for the events file: ``type``, the frame's time and index, and its own fields."""

    type: str
    t_s: float
    frame: int
    fields: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        return {"type": self.type, "t": round(self.t_s, 6), "frame": self.frame, **self.fields}


class LightState(str, enum.Enum):
    """The state of a traffic light; the value is what the events file writes."""

    NONE = "none"  # no light governs the lane, or none is visible
    RED = "red"
    YELLOW = "yellow"
    GREEN = "green"
    # Heads that could each govern the ego lane show different states: fcw does not guess
    # (the traffic_light event lists the candidates). Last, so that the first four keep their
    # positions in the classifiers' probability vectors.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class TrafficLight:
    """The traffic-light stage's reading of one frame: the light that governs the ego lane.

    state: the smoothed state (it changes only after agreement over several frames).
    confidence: in [0, 1], of ``state``.
    xyxy: (4,) float32 box of the governing light in frame pixels, or None when the state comes
        from the whole-frame classifier alone, no light is seen, or the heads disagree.
    heads_xyxy: (N, 4) float32, every lit head found in this frame (pixels), governing or not.
    heads_state: (N,) the state each of those heads shows (one of red, yellow, green).
    """

    state: LightState = LightState.NONE
    confidence: float = 0.0
    xyxy: np.ndarray | None = field(default=None, repr=False)
    heads_xyxy: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32),
                                   repr=False)
    heads_state: tuple[LightState, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"TrafficLight.confidence must be in [0, 1], got {self.confidence}")
        if self.xyxy is not None and np.shape(self.xyxy) != (4,):
            raise ValueError(f"TrafficLight.xyxy must have shape (4,), got {np.shape(self.xyxy)}")
        _check_rows("TrafficLight.heads_xyxy", np.asarray(self.heads_xyxy), len(self.heads_state),
                    (4,))


@dataclass(frozen=True)
class FrameResult:
    """Everything the stages produced for one frame; what sinks receive."""

    frame: Frame
    detections: Detections
    tracks: Tracks = field(default_factory=Tracks.empty)
    risk: Risk = field(default_factory=Risk)
    events: tuple[Event, ...] = ()
    stage_ms: dict[str, float] = field(default_factory=dict)
    light: TrafficLight = field(default_factory=TrafficLight)
    #: ``time.perf_counter()`` when the frame left the source, for latency figures only: the
    #: stages run on frame time.
    read_done: float = 0.0
    #: the geometry stage's estimate for this frame, None when it does not run.
    geometry: CameraGeometry | None = None
