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

Loading validates everything and reports the first problem as one line naming the file and the
field path, e.g. ``clip.labels.json: frames[12].boxes[0].xyxy: expected x1 < x2``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fcw.errors import FcwError
from fcw.types import LightState

LABELS_VERSION = 1
LABELS_SUFFIX = ".labels.json"

WarningExpectation = Literal["required", "forbidden"]
SPLITS = ("tune", "heldout")
BOX_COVERAGE = ("all", "lead_only")
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


TTC_KINDS = ("ttc_s", "ttc2_s")


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

class _Reader:
    """Typed access to a parsed JSON value that knows its field path for error messages."""

    def __init__(self, source: str, value: Any, path: str = "") -> None:
        self.source, self.value, self.path = source, value, path

    def fail(self, msg: str) -> LabelError:
        where = self.path or "(top level)"
        return LabelError(f"{self.source}: {where}: {msg}")

    def child(self, key: str | int) -> _Reader:
        path = f"{self.path}[{key}]" if isinstance(key, int) else (
            f"{self.path}.{key}" if self.path else key)
        if isinstance(key, int):
            return _Reader(self.source, self.value[key], path)
        if not isinstance(self.value, dict) or key not in self.value:
            raise _Reader(self.source, None, path).fail("missing")
        return _Reader(self.source, self.value[key], path)

    def optional(self, key: str) -> _Reader | None:
        if not isinstance(self.value, dict) or self.value.get(key) is None:
            return None
        return self.child(key)

    def obj(self, allowed: set[str]) -> _Reader:
        if not isinstance(self.value, dict):
            raise self.fail(f"expected an object, got {type(self.value).__name__}")
        extra = sorted(set(self.value) - allowed)
        if extra:
            raise self.fail(f"unknown field {extra[0]!r}")
        return self

    def list(self) -> list[_Reader]:
        if not isinstance(self.value, list):
            raise self.fail(f"expected a list, got {type(self.value).__name__}")
        return [self.child(i) for i in range(len(self.value))]

    def int(self, minimum: int | None = None) -> int:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int):
            raise self.fail(f"expected an integer, got {v!r}")
        if minimum is not None and v < minimum:
            raise self.fail(f"must be >= {minimum}, got {v}")
        return v

    def float(self, positive: bool = False, nonneg: bool = False) -> float:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise self.fail(f"expected a finite number, got {v!r}")
        if positive and v <= 0:
            raise self.fail(f"must be > 0, got {v}")
        if nonneg and v < 0:
            raise self.fail(f"must be >= 0, got {v}")
        return float(v)

    def bool(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.fail(f"expected true or false, got {self.value!r}")
        return self.value

    def str(self) -> str:
        if not isinstance(self.value, str) or not self.value:
            raise self.fail(f"expected a non-empty string, got {self.value!r}")
        return self.value


def _opt_float(r: _Reader, key: str, **kw: bool) -> float | None:
    c = r.optional(key)
    return None if c is None else c.float(**kw)


def _read_box(r: _Reader, width: int, height: int) -> BoxLabel:
    r.obj({"track_id", "class", "xyxy", "occlusion", "ignore"})
    xy = r.child("xyxy")
    items = xy.list()
    if len(items) != 4:
        raise xy.fail(f"expected 4 numbers, got {len(items)}")
    x1, y1, x2, y2 = (i.float() for i in items)
    if not (x1 < x2 and y1 < y2):
        raise xy.fail("expected x1 < x2 and y1 < y2")
    # Half a pixel of slack: boxes are clipped to the frame but rounded when written.
    if x1 < -0.5 or y1 < -0.5 or x2 > width + 0.5 or y2 > height + 0.5:
        raise xy.fail(f"outside the {width}x{height} frame")
    occ = _opt_float(r, "occlusion", nonneg=True)
    if occ is not None and occ > 1.0:
        raise r.child("occlusion").fail(f"must be in [0, 1], got {occ}")
    ign = r.optional("ignore")
    return BoxLabel(r.child("track_id").int(0), r.child("class").str(), (x1, y1, x2, y2),
                    occ or 0.0, False if ign is None else ign.bool())


def _read_lead(r: _Reader, boxes: tuple[BoxLabel, ...]) -> LeadTruth:
    r.obj({"track_id", "range_m", "closing_speed_mps", "ttc_s", "ttc2_s"})
    tid = r.child("track_id").int(0)
    if tid not in {b.track_id for b in boxes}:
        raise r.child("track_id").fail(f"track {tid} has no box in this frame")
    return LeadTruth(tid, r.child("range_m").float(positive=True),
                     r.child("closing_speed_mps").float(),
                     _opt_float(r, "ttc_s", nonneg=True), _opt_float(r, "ttc2_s", nonneg=True))


def _read_frame(r: _Reader, width: int, height: int) -> FrameLabels:
    r.obj({"frame", "t", "boxes", "lead", "light", "split"})
    boxes = tuple(_read_box(b, width, height) for b in r.child("boxes").list())
    ids = [b.track_id for b in boxes]
    if len(set(ids)) != len(ids):
        raise r.child("boxes").fail("a track_id appears twice")
    lead_r = r.optional("lead")
    light_r = r.optional("light")
    split_r = r.optional("split")
    if split_r is not None and split_r.value not in SPLITS:
        raise split_r.fail(f"expected 'tune', 'heldout' or null, got {split_r.value!r}")
    return FrameLabels(r.child("frame").int(0), r.child("t").float(nonneg=True), boxes,
                       None if lead_r is None else _read_lead(lead_r, boxes),
                       None if light_r is None else _read_light(light_r),
                       None if split_r is None else split_r.value)


def _read_light(r: _Reader) -> str:
    if r.value not in LIGHT_LABELS:
        allowed = ", ".join(map(repr, LIGHT_LABELS))
        raise r.fail(f"expected one of {allowed} or null, got {r.value!r}")
    return r.value


def labels_from_dict(data: Any, source: str = "<labels>") -> ClipLabels:
    """Validate parsed JSON into ClipLabels; ``source`` names the file in error messages."""
    r = _Reader(source, data).obj({"version", "video", "fps", "width", "height", "scenario",
                                   "expect", "frames", "camera", "boxes"})
    version = r.child("version").int()
    if version != LABELS_VERSION:
        raise r.child("version").fail(f"unsupported version {version} (expected {LABELS_VERSION})")
    width, height = r.child("width").int(1), r.child("height").int(1)
    e = r.child("expect").obj({"warning", "required_ttc_s", "ttc", "earliest_ttc_s"})
    warning = e.optional("warning")
    warning_v = None if warning is None else warning.value
    if warning_v not in (None, "required", "forbidden"):
        raise e.child("warning").fail(
            f"expected 'required', 'forbidden' or null, got {warning_v!r}")
    req = _opt_float(e, "required_ttc_s", positive=True)
    if req is not None and warning_v != "required":
        raise e.child("required_ttc_s").fail("only allowed with warning 'required'")
    ttc_r = e.optional("ttc")
    if ttc_r is not None and ttc_r.value not in TTC_KINDS:
        raise ttc_r.fail(f"expected one of {', '.join(map(repr, TTC_KINDS))}, got {ttc_r.value!r}")
    earliest = _opt_float(e, "earliest_ttc_s", positive=True)
    cam_r = r.optional("camera")
    camera = None if cam_r is None else _read_camera(cam_r)
    boxes_r = r.optional("boxes")
    if boxes_r is not None and boxes_r.value not in BOX_COVERAGE:
        raise boxes_r.fail(f"expected 'all' or 'lead_only', got {boxes_r.value!r}")
    frames = tuple(_read_frame(f, width, height) for f in r.child("frames").list())
    for i in range(1, len(frames)):
        if frames[i].frame <= frames[i - 1].frame:
            raise r.child("frames").child(i).child("frame").fail("frame indices must increase")
    return ClipLabels(video=r.child("video").str(), fps=r.child("fps").float(positive=True),
                      width=width, height=height, scenario=r.child("scenario").str(),
                      expect=Expectation(warning_v, req, "ttc_s" if ttc_r is None else ttc_r.value,
                                         earliest),
                      frames=frames, version=version, camera=camera,
                      boxes="all" if boxes_r is None else boxes_r.value)


def _read_camera(r: _Reader) -> CameraLabel:
    r.obj({"name", "hfov_deg", "height_m", "pitch_deg", "roll_deg", "yaw_deg", "offset_m"})
    angles = {k: r.child(k).float() for k in ("pitch_deg", "roll_deg", "yaw_deg", "offset_m")
              if k in r.value}
    return CameraLabel(r.child("name").str(), r.child("hfov_deg").float(positive=True),
                       r.child("height_m").float(positive=True), **angles)


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
