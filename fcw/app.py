"""Assembling a pipeline from a validated config and the run's options.

``fcw run`` and every later tool that replays drives (eval, batch) build their pipeline here, so
they all run the same code path.
"""
from __future__ import annotations

import platform
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from engines.backends import BackendName, create_backend
from engines.input_size import with_input_size
from engines.spec import ModelSpec, load_spec
from engines.store import resolve_model
from fcw import __version__
from fcw.config import Config
from fcw.geometry import GeometryStage
from fcw.lights.build import LightModels, build_light_stage, load_light_models
from fcw.lights.prompts import LightPrompts
from fcw.perception.detector import Detector
from fcw.pipeline import DetectorStage, LightStage, Pipeline
from fcw.risk.stage import RiskStage
from fcw.scale.estimator import LeadScaleEstimator
from fcw.sinks.alert import AudibleAlert
from fcw.sinks.base import Sink
from fcw.sinks.events import EventLog
from fcw.sinks.heartbeat import Heartbeat
from fcw.sinks.status import StatusLine
from fcw.sinks.tracks import MotTrackWriter
from fcw.sinks.video import VideoRecorder
from fcw.sources import FrameSource, Reconnect, open_source
from fcw.tracking.tracker import Tracker
from fcw.watchdog import Watchdog


@dataclass(frozen=True)
class GroundTruthOptions:
    """Feed a label file's boxes instead of the detector's, with synthetic detector faults."""

    labels: Path
    noise_px: float = 2.0
    miss_rate: float = 0.0
    false_rate: float = 0.0
    seed: int = 0


@dataclass(frozen=True)
class RunOptions:
    source: str
    events: Optional[Path] = None
    record: Optional[Path] = None
    tracks: Optional[Path] = None
    max_frames: Optional[int] = None
    models_dir: Optional[Path] = None
    backend: Optional[BackendName] = None  # overrides config.detector.backend
    status: bool = True
    ground_truth: Optional[GroundTruthOptions] = None


def build_detector(cfg: Config, spec: ModelSpec,
                   options: RunOptions) -> tuple[DetectorStage, dict[str, Any]]:
    """The detector stage and what the start record says about it."""
    if options.ground_truth is not None:
        from fcw.labels import load_labels
        from fcw.scenarios.gt_detector import GroundTruthDetector

        gt = options.ground_truth
        class_ids = {name: i for i, name in enumerate(spec.class_names)}
        det = GroundTruthDetector(load_labels(gt.labels), class_ids, noise_px=gt.noise_px,
                                  miss_rate=gt.miss_rate, false_rate=gt.false_rate, seed=gt.seed)
        return det, {"backend": "ground_truth", "labels": str(gt.labels),
                     "noise_px": gt.noise_px, "miss_rate": gt.miss_rate,
                     "false_rate": gt.false_rate, "seed": gt.seed}
    model_path = resolve_model(spec, options.models_dir)
    run_spec, run_path = with_input_size(spec, model_path, cfg.detector.input_size)
    backend = create_backend(options.backend or cfg.detector.backend, run_spec, run_path,
                             threads=cfg.inference_threads(), int8=cfg.detector.int8)
    return Detector(backend, cfg.detector, cfg.camera), {
        "backend": backend.name, "model": spec.name, "model_file": str(model_path),
        "model_sha256": spec.sha256,
        "model_input_size": [run_spec.input.width, run_spec.input.height],
        **({"model_derived_file": str(run_path)} if run_path != model_path else {})}


@dataclass
class PipelineParts:
    """What a run is made of, before it is one: a driver that adds its own parts (the overlay:
    a playback control around the source, its screen among the sinks) builds the pipeline once
    from these with :meth:`assemble`."""

    source: FrameSource
    detector: DetectorStage
    tracker: Tracker
    risk: RiskStage
    geometry: Optional[GeometryStage]
    lights: Optional[LightStage]
    prompts: Optional[LightPrompts]
    sinks: list[Sink]
    max_frames: Optional[int]
    threaded: bool

    def assemble(self, source: Optional[FrameSource] = None,
                 sinks: Optional[Sequence[Sink]] = None,
                 stop: Optional[threading.Event] = None) -> Pipeline:
        return Pipeline(
            source=source or self.source, detector=self.detector, tracker=self.tracker,
            risk=self.risk, geometry=self.geometry, lights=self.lights, prompts=self.prompts,
            sinks=list(self.sinks if sinks is None else sinks), max_frames=self.max_frames,
            threaded=self.threaded, stop=stop or threading.Event())


def build_pipeline(cfg: Config, options: RunOptions,
                   source: Optional[FrameSource] = None,
                   detector: Optional[tuple[DetectorStage, dict[str, Any]]] = None,
                   light_models: Optional[LightModels] = None) -> Pipeline:
    """The pipeline of a headless run; see :func:`build_parts` for the arguments."""
    return build_parts(cfg, options, source, detector, light_models).assemble()


def build_parts(cfg: Config, options: RunOptions,
                source: Optional[FrameSource] = None,
                detector: Optional[tuple[DetectorStage, dict[str, Any]]] = None,
                light_models: Optional[LightModels] = None) -> PipelineParts:
    """``detector`` (what :func:`build_detector` returned) and ``light_models``: for a tool that
    replays many drives with models loaded once (``fcw batch``); loaded here when absent."""
    spec = load_spec(cfg.detector.model)
    rc = cfg.source.reconnect
    source = source or open_source(
        options.source, folder_fps=cfg.source.folder_fps, realtime=cfg.source.realtime,
        reconnect=Reconnect(rc.initial_backoff_s, rc.max_backoff_s, rc.give_up_after_s)
        if rc.enabled else None)
    sinks: list[Sink] = []
    try:
        detector_stage, detector_info = detector or build_detector(cfg, spec, options)
        lights, lights_info = None, None
        if cfg.lights.enabled:
            light_models = light_models or load_light_models(cfg, options.models_dir,
                                                             options.backend)
            lights, lights_info = build_light_stage(cfg, spec, light_models), light_models.info
        # The alert comes first: the driver hears it before the disk writes of this frame.
        sinks.append(AudibleAlert.from_config(cfg.alert))
        log: Optional[EventLog] = None
        if options.events:
            start = {"source": source.name, "fps": source.fps, "frame_count": source.frame_count,
                     "fcw_version": __version__, "host": platform.node(), **detector_info,
                     "lights": lights_info, "geometry_prior": geometry_prior(cfg),
                     "config": cfg.to_record()}
            log = EventLog(options.events, start, cfg.output.fsync_warnings,
                           max_bytes=int(cfg.output.events_max_mb * 1024 * 1024),
                           keep=cfg.output.events_keep)
            sinks.append(log)
            # A lost camera or a skipped frame is logged when it happens, not with a later frame.
            source.events_to(log.write_event)
        if cfg.output.watchdog_stall_s > 0:
            # Before the log: sinks finish in order, so no stall record follows the end record.
            sinks.insert(1, Watchdog(cfg.output.watchdog_stall_s,
                                     log.write_record if log else None))
        if options.record:
            sinks.append(VideoRecorder(options.record, source.fps or cfg.source.folder_fps,
                                       spec.class_names))
        if options.tracks:
            sinks.append(MotTrackWriter(options.tracks))
        status = options.status and cfg.output.status_line
        if status:
            total = source.frame_count
            if options.max_frames is not None:
                total = min(total, options.max_frames) if total else options.max_frames
            sinks.append(StatusLine(total, lambda: source.dropped))
        if cfg.output.heartbeat_s > 0 and (log is not None or not status):
            # Into the events file through its own writer; on stderr only where no status
            # line already shows that the run is alive.
            sinks.append(Heartbeat(cfg.output.heartbeat_s, lambda: source.dropped,
                                   write_record=log.write_record if log else None,
                                   stream=None if status else sys.stderr))
    except BaseException:
        for sink in sinks:  # files already opened, the alert's beep
            sink.close()
        source.close()
        raise
    return PipelineParts(
        source=source, detector=detector_stage,
        tracker=Tracker(cfg.tracker, spec.vehicle_class_ids),
        risk=RiskStage(cfg.camera, cfg.corridor, cfg.warning,
                       LeadScaleEstimator(cfg.lead_scale) if cfg.lead_scale.enabled else None,
                       red_light_decel_factor=cfg.lights.red_light_decel_factor
                       if cfg.lights.enabled else None,
                       red_light_wait_s=cfg.lights.red_light_wait_s,
                       red_light_memory_s=cfg.lights.red_light_memory_s,
                       plausibility=cfg.plausibility),
        lights=lights, prompts=LightPrompts(cfg.lights, cfg.camera) if lights else None,
        geometry=GeometryStage(cfg.camera, tuple(i for i, name in enumerate(spec.class_names)
                                                 if name == "car"))
        if cfg.camera.geometry.enabled else None,
        sinks=sinks, max_frames=options.max_frames, threaded=cfg.pipeline.threaded)


def geometry_prior(cfg: Config) -> dict[str, Any]:
    """What the geometry stage starts from, for the start record (fractions of the frame)."""
    cam = cfg.camera
    return {"vanishing_point_x": cam.vanishing_point_x, "vanishing_point_y": cam.vanishing_point_y,
            "camera_height_m": cam.height_m or cam.geometry.prior_height_m,
            "online": cam.geometry.enabled}
