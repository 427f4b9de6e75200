"""Running one labelled clip through the same pipeline ``fcw run`` builds, and keeping its outputs.

Only the numbers are kept, never the images, so a long clip costs a few kilobytes per frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from engines.backends import BackendName
from engines.spec import load_spec
from fcw.app import GroundTruthOptions, RunOptions, build_pipeline
from fcw.config import Config
from fcw.eval import EvalError
from fcw.eval.dataset import Clip
from fcw.sinks.base import Sink
from fcw.types import Event, FrameResult, WarningLevel


@dataclass(frozen=True)
class FrameOutput:
    """What fcw produced for one frame.

    det_xyxy / det_score: (N, 4) / (N,) vehicle detections (pixels); trk_id / trk_xyxy: the
    confirmed vehicle tracks; lead_id: the track fcw takes as the lead, or None; ttc_s: its
    first-order TTC or None; light: the traffic-light state's value ("none", "red", ...).
    """

    index: int
    t_s: float
    det_xyxy: np.ndarray
    det_score: np.ndarray
    trk_id: np.ndarray
    trk_xyxy: np.ndarray
    lead_id: Optional[int]
    ttc_s: Optional[float]
    ttc_sigma_s: Optional[float]
    level: WarningLevel
    light: str
    #: (N, 4) the lit traffic-light heads the lights stage found (pixels)
    light_heads: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))

    def __post_init__(self) -> None:
        if self.det_xyxy.shape != (len(self.det_score), 4):
            raise ValueError(f"FrameOutput.det_xyxy must be (N, 4), got {self.det_xyxy.shape}")
        if self.trk_xyxy.shape != (len(self.trk_id), 4):
            raise ValueError(f"FrameOutput.trk_xyxy must be (N, 4), got {self.trk_xyxy.shape}")


@dataclass(frozen=True)
class ClipRun:
    clip: Clip
    frames: tuple[FrameOutput, ...]
    events: tuple[Event, ...]
    backend: str = ""


class Collector(Sink):
    """Keeps each frame's vehicle boxes, confirmed tracks, TTC, level and light, and the events."""

    def __init__(self, vehicle_class_ids: tuple[int, ...], width: int, height: int,
                 source_name: str) -> None:
        self.vehicles = np.asarray(vehicle_class_ids)
        self.size, self.source_name = (width, height), source_name
        self.frames: list[FrameOutput] = []
        self.events: list[Event] = []

    def write(self, result: FrameResult) -> None:
        f = result.frame
        if (f.width, f.height) != self.size:
            raise EvalError(f"{self.source_name}: frames are {f.width}x{f.height}, the labels say "
                            f"{self.size[0]}x{self.size[1]}")
        det = result.detections[np.isin(result.detections.class_id, self.vehicles)]
        trk = result.tracks
        keep = trk.confirmed & np.isin(trk.class_id, self.vehicles)
        risk = result.risk
        self.frames.append(FrameOutput(
            f.index, f.t_s, det.xyxy.copy(), det.score.copy(), trk.track_id[keep].copy(),
            trk.xyxy[keep].copy(), risk.lead_id, risk.ttc_s, risk.ttc_sigma_s, risk.level,
            result.light.state.value, np.asarray(result.light.heads_xyxy, np.float32).copy()))
        self.events.extend(result.events)


def run_clip(cfg: Config, clip: Clip, models_dir: Optional[Path] = None,
             backend: Optional[BackendName] = None,
             ground_truth: Optional[GroundTruthOptions] = None) -> ClipRun:
    """Run the clip through ``build_pipeline``, as ``fcw run`` would (``ground_truth``: as
    ``fcw run --gt-boxes``), and keep each frame's outputs."""
    pipeline = build_pipeline(cfg, RunOptions(source=str(clip.video), status=False,
                                              models_dir=models_dir, backend=backend,
                                              ground_truth=ground_truth))
    labels = clip.labels
    sink = Collector(load_spec(cfg.detector.model).vehicle_class_ids, labels.width,
                     labels.height, str(clip.video))
    pipeline.sinks = [*pipeline.sinks, sink]
    pipeline.run()
    name = getattr(getattr(pipeline.detector, "backend", None), "name", "")
    return ClipRun(clip, tuple(sink.frames), tuple(sink.events), name)
