"""The label file of a labelled clip: what is in each frame and what fcw is expected to say.

A clip ``clip.mp4`` has its labels next to it in ``clip.labels.json`` (see ``labels_path_for``).
The scenario renderer writes them with exact ground truth; hand-labelled real clips use the same
format (they may leave ``lead`` as null where the range is unknown). Format, version 1::

    {
      "version": 1,
      "video": "clip.mp4",              # the video (or image folder), relative to the label
                                        #   file or to a data root (see fcw/eval/dataset.py)
      "fps": 30.0,                      # frame rate the times below were computed with
      "width": 1280, "height": 720,     # frame size in pixels
      "scenario": "lead_stopped",       # free-form name of what the clip shows
      "boxes": "all",                   # optional: "all" (default: every vehicle is boxed) or
                                        #   "lead_only" (only the lead: detection skips it)
      "expect": {
        "warning": "required",          # "required" | "forbidden" | null (no expectation)
        "required_ttc_s": 2.1,          # a required warning must be on while the true TTC is
                                        #   still >= this (s); null when not "required"
        "ttc": "ttc2_s",                # optional: which true TTC judges it, "ttc_s" (default)
                                        #   or "ttc2_s" (NHTSA's, with the lead's deceleration)
        "earliest_ttc_s": 5.0           # optional: a warning while the true TTC is above this
      },                                #   (or none: no threat yet) is a nuisance, too early
      "camera": {"name": "windscreen",  # optional: the camera that rendered the clip: hfov_deg,
        "hfov_deg": 60.0, ...},         #   height_m, pitch_deg, roll_deg, yaw_deg, offset_m
      "frames": [
        {
          "frame": 0,                   # 0-based frame index in the video, strictly increasing;
                                        #   for an image folder, the image's position in
                                        #   natural name order (as ``fcw run`` reads it)
          "t": 0.0,                     # capture time of the frame (s)
          "boxes": [                    # every labelled object visible in the frame
            {"track_id": 1,             # stable identity of the object across the clip (>= 0)
             "class": "car",            # COCO-style name: car, truck, bus, motorcycle, ...
             "xyxy": [x1, y1, x2, y2],  # pixels, clipped to the frame, x1 < x2 and y1 < y2
             "occlusion": 0.0,          # optional, fraction of the box hidden by nearer objects
             "ignore": true}            # optional, default false: a vehicle the labeller could
          ],                            #   not judge (too blurred, cut, half-seen); detecting
                                        #   it neither counts nor costs (COCO's crowd rule)
          "lead": {                     # the vehicle in the ego lane nearest ahead, or null
            "track_id": 1,              # one of this frame's boxes
            "range_m": 42.0,            # camera to the lead's rear face, along the road (m)
            "closing_speed_mps": 11.2,  # ego speed minus lead speed (m/s; > 0 while closing)
            "ttc_s": 3.75,              # range / closing speed; null when not closing
            "ttc2_s": 3.6               # TTC at constant relative acceleration; null when that
          },                            #   predicts no collision
          "light": "red",               # state of the light governing the ego lane: "none",
                                        #   "red", "yellow", "green"; null = not labelled
          "split": "tune"               # optional: "tune" (may be used to tune thresholds) or
        }                               #   "heldout" (only to report); absent = unsplit
      ]
    }

Loading validates everything (pydantic models of this format, converted to the dataclasses below)
and reports the first problem as one line naming the file and the field path, e.g.
``clip.labels.json: frames[12].boxes[0].xyxy: expected x1 < x2 and y1 < y2 (got [5, 5, 1, 9])``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from fcw.errors import FcwError, validation_problem
from fcw.types import LightState

LABELS_VERSION = 1
LABELS_SUFFIX = ".labels.json"

WarningExpectation = Literal["required", "forbidden"]
LIGHT_LABELS = tuple(s.value for s in LightState)  # "none", "red", "yellow", "green"


class LabelError(FcwError):
    """A label file that is missing, not JSON or not in the documented format."""


@dataclass(frozen=True)
class BoxLabel:
    """One labelled object. xyxy: pixels (x1, y1, x2, y2), clipped to the frame."""

    track_id: int
    cls: str
    xyxy: tuple[float, float, float, float]
    occlusion: float = 0.0
    ignore: bool = False


@dataclass(frozen=True)
class LeadTruth:
    """The true state of the lead vehicle; speeds in m/s, times in s, ranges in m."""

    track_id: int
    range_m: float
    closing_speed_mps: float
    ttc_s: float | None
    ttc2_s: float | None



@dataclass(frozen=True)
class Expectation:
    """What fcw must do over the clip; required_ttc_s only for a required warning.

    ttc: the LeadTruth field that judges it (NHTSA's lead-decelerating test counts the lead's
    deceleration: "ttc2_s"); earliest_ttc_s: a warning raised while that TTC is above this, or
    while there is none, is a nuisance.
    """

    warning: WarningExpectation | None = None
    required_ttc_s: float | None = None
    ttc: str = "ttc_s"
    earliest_ttc_s: float | None = None


@dataclass(frozen=True)
class CameraLabel:
    """The rendering camera's mount: degrees, metres (see fcw/scenarios/camera.py)."""

    name: str
    hfov_deg: float
    height_m: float
    pitch_deg: float = 0.0
    roll_deg: float = 0.0
    yaw_deg: float = 0.0
    offset_m: float = 0.0


@dataclass(frozen=True)
class FrameLabels:
    frame: int
    t_s: float
    boxes: tuple[BoxLabel, ...] = ()
    lead: LeadTruth | None = None
    light: str | None = None
    split: str | None = None


@dataclass(frozen=True)
class ClipLabels:
    video: str
    fps: float
    width: int
    height: int
    scenario: str
    expect: Expectation
    frames: tuple[FrameLabels, ...]
    version: int = LABELS_VERSION
    camera: CameraLabel | None = None
    boxes: str = "all"

    def frame_at(self, index: int) -> FrameLabels | None:
        """The labels of frame ``index``, or None if that frame is not labelled."""
        # Frames are usually dense from 0, so try the direct position before searching.
        if 0 <= index < len(self.frames) and self.frames[index].frame == index:
            return self.frames[index]
        for f in self.frames:
            if f.frame == index:
                return f
        return None


def labels_path_for(video: Path) -> Path:
    """``clip.mp4`` -> ``clip.labels.json`` in the same folder."""
    video = Path(video)
    return video.with_name(video.stem + LABELS_SUFFIX)


# --- writing -------------------------------------------------------------------------------------

def _num(x: float | None, digits: int = 6) -> float | None:
    return None if x is None else round(float(x), digits)


def labels_to_dict(labels: ClipLabels) -> dict[str, Any]:
    frames = []
    for f in labels.frames:
        lead = None
        if f.lead is not None:
            lead = {"track_id": f.lead.track_id, "range_m": _num(f.lead.range_m),
                    "closing_speed_mps": _num(f.lead.closing_speed_mps),
                    "ttc_s": _num(f.lead.ttc_s), "ttc2_s": _num(f.lead.ttc2_s)}
        # The optional fields are written only when set, so files without them stay unchanged.
        boxes = [{"track_id": b.track_id, "class": b.cls, "xyxy": [_num(v, 3) for v in b.xyxy],
                  "occlusion": _num(b.occlusion, 4), **({"ignore": True} if b.ignore else {})}
                 for b in f.boxes]
        frames.append({"frame": f.frame, "t": _num(f.t_s), "boxes": boxes, "lead": lead,
                       "light": f.light, **({"split": f.split} if f.split is not None else {})})
    e = labels.expect
    expect: dict[str, Any] = {"warning": e.warning, "required_ttc_s": e.required_ttc_s}
    if e.ttc != "ttc_s":
        expect["ttc"] = e.ttc
    if e.earliest_ttc_s is not None:
        expect["earliest_ttc_s"] = e.earliest_ttc_s
    camera = {} if labels.camera is None else {"camera": dict(vars(labels.camera))}
    coverage = {} if labels.boxes == "all" else {"boxes": labels.boxes}
    return {"version": labels.version, "video": labels.video, "fps": labels.fps,
            "width": labels.width, "height": labels.height, "scenario": labels.scenario,
            **coverage, "expect": expect, **camera, "frames": frames}


def save_labels(labels: ClipLabels, path: Path) -> None:
    # One frame per line keeps the files diffable and greppable without being huge.
    d = labels_to_dict(labels)
    frames = d.pop("frames")
    head = json.dumps(d)[:-1]
    body = ",\n".join("  " + json.dumps(f, separators=(",", ":")) for f in frames)
    Path(path).write_text(f'{head}, "frames": [\n{body}\n]}}\n', encoding="utf-8")


# --- reading and validation ----------------------------------------------------------------------

def _bad(message: str, *at: str | int) -> PydanticCustomError:
    """A label-specific problem; ``at`` extends the validator's location to the field it names."""
    return PydanticCustomError("label", message, {"at": at})


class _Json(BaseModel):
    # Strict: JSON's true is not a number, 1.0 not an integer, "2" not a number.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False,
                              str_min_length=1)


class _Box(_Json):
    track_id: int = Field(ge=0)
    cls: str = Field(alias="class")
    xyxy: list[float] = Field(min_length=4, max_length=4)
    occlusion: float | None = Field(None, ge=0, le=1)
    ignore: bool | None = None

    @field_validator("xyxy")
    @classmethod
    def _ordered(cls, xyxy: list[float]) -> list[float]:
        if not (xyxy[0] < xyxy[2] and xyxy[1] < xyxy[3]):
            raise _bad("expected x1 < x2 and y1 < y2")
        return xyxy

    def label(self) -> BoxLabel:
        x1, y1, x2, y2 = self.xyxy
        return BoxLabel(self.track_id, self.cls, (x1, y1, x2, y2), self.occlusion or 0.0,
                        bool(self.ignore))


class _Lead(_Json):
    track_id: int = Field(ge=0)
    range_m: float = Field(gt=0)
    closing_speed_mps: float
    ttc_s: float | None = Field(None, ge=0)
    ttc2_s: float | None = Field(None, ge=0)


class _Frame(_Json):
    frame: int = Field(ge=0)
    t: float = Field(ge=0)
    boxes: list[_Box]
    lead: _Lead | None = None
    # Not strict: the JSON string names the enum member.
    light: LightState | None = Field(None, strict=False)
    split: Literal["tune", "heldout"] | None = None

    @model_validator(mode="after")
    def _lead_is_boxed(self) -> _Frame:
        ids = [b.track_id for b in self.boxes]
        if len(set(ids)) != len(ids):
            raise _bad("a track_id appears twice", "boxes")
        if self.lead is not None and self.lead.track_id not in ids:
            raise _bad(f"track {self.lead.track_id} has no box in this frame", "lead", "track_id")
        return self

    def labels(self) -> FrameLabels:
        lead = None if self.lead is None else LeadTruth(**self.lead.model_dump())
        return FrameLabels(self.frame, self.t, tuple(b.label() for b in self.boxes), lead,
                           None if self.light is None else self.light.value, self.split)


class _Expect(_Json):
    warning: WarningExpectation | None = None
    required_ttc_s: float | None = Field(None, gt=0)
    ttc: Literal["ttc_s", "ttc2_s"] | None = None
    earliest_ttc_s: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _required_only(self) -> _Expect:
        if self.required_ttc_s is not None and self.warning != "required":
            raise _bad("only allowed with warning 'required'", "required_ttc_s")
        return self


class _Camera(_Json):
    name: str
    hfov_deg: float = Field(gt=0)
    height_m: float = Field(gt=0)
    pitch_deg: float = 0.0
    roll_deg: float = 0.0
    yaw_deg: float = 0.0
    offset_m: float = 0.0


class _Clip(_Json):
    version: int
    video: str
    fps: float = Field(gt=0)
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    scenario: str
    boxes: Literal["all", "lead_only"] | None = None
    expect: _Expect
    camera: _Camera | None = None
    frames: list[_Frame]

    @field_validator("version")
    @classmethod
    def _supported(cls, version: int) -> int:
        if version != LABELS_VERSION:
            raise _bad(f"unsupported version, expected {LABELS_VERSION}")
        return version

    @model_validator(mode="after")
    def _frames_fit(self) -> _Clip:
        for i, f in enumerate(self.frames):
            if i and f.frame <= self.frames[i - 1].frame:
                raise _bad("frame indices must increase", "frames", i, "frame")
            for j, b in enumerate(f.boxes):
                x1, y1, x2, y2 = b.xyxy
                # Half a pixel of slack: boxes are clipped to the frame but rounded when written.
                if x1 < -0.5 or y1 < -0.5 or x2 > self.width + 0.5 or y2 > self.height + 0.5:
                    raise _bad(f"outside the {self.width}x{self.height} frame",
                               "frames", i, "boxes", j, "xyxy")
        return self

    def labels(self) -> ClipLabels:
        e = self.expect
        return ClipLabels(self.video, self.fps, self.width, self.height, self.scenario,
                          Expectation(e.warning, e.required_ttc_s, e.ttc or "ttc_s",
                                      e.earliest_ttc_s),
                          tuple(f.labels() for f in self.frames), self.version,
                          None if self.camera is None else CameraLabel(**self.camera.model_dump()),
                          self.boxes or "all")


# The reader's wording before pydantic, which users (and tests) grep for.
_WORDING = {"literal_error": "expected one of {expected}", "enum": "expected one of {expected}",
            "model_type": "expected an object"}


def labels_from_dict(data: Any, source: str = "<labels>") -> ClipLabels:
    """Validate parsed JSON into ClipLabels; ``source`` names the file in error messages."""
    try:
        clip = _Clip.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        ctx = err.get("ctx", {})
        msg = _WORDING[err["type"]].format(**ctx) if err["type"] in _WORDING else err["msg"]
        where = {**err, "loc": (*err["loc"], *ctx.get("at", ())), "msg": msg}
        raise LabelError(f"{source}: {validation_problem(where)}") from None
    return clip.labels()


def load_labels(path: Path) -> ClipLabels:
    """Read and validate a label file; any problem is a one-line ``LabelError``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise LabelError(f"{path}: cannot read: {e.strerror or e}") from e
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise LabelError(f"{path}: line {e.lineno}: not valid JSON: {e.msg}") from e
    return labels_from_dict(data, str(path))
