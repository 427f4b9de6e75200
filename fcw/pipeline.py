"""The per-frame loop: source -> detector -> tracker -> geometry -> risk -> sinks.

The stages are injected, so tests and tools can pass their own (a ground-truth "detector", a
source whose reads they control, a sink that collects results). Every stage reads time from the
frame; the wall clock is used only to measure throughput.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol, runtime_checkable

from fcw.prefetch import Ahead, ReadAhead, is_staged, read_in_turn
from fcw.sinks.base import RunSummary, Sink
from fcw.sources.base import FrameSource
from fcw.types import (
    CameraGeometry,
    Detections,
    Event,
    Frame,
    FrameResult,
    Risk,
    Tracks,
    TrafficLight,
)

#: The far crop follows the geometry estimate of frame n from frame n + CROP_LAG_FRAMES on: by
#: then no worker has prepared that frame yet (fcw/prefetch.py holds at most three frames beyond
#: the one the loop is on), so threaded and sequential replays crop the same windows.
CROP_LAG_FRAMES = 4


class DetectorStage(Protocol):
    """Every detector: the detections of one frame. It keeps nothing between frames, so it
    has no ``reset()``. What some detectors offer beyond it is declared below (and, for the
    split the worker threads use, in fcw/prefetch.py ``StagedDetector``)."""

    def update(self, frame: Frame) -> Detections: ...


@runtime_checkable
class TimedDetector(Protocol):
    """A detector that times its own parts (pre-processing, inference, decoding): the last
    frame's milliseconds per part, which benchmarks show."""

    last_ms: dict[str, float]


@runtime_checkable
class SteerableDetector(Protocol):
    """A detector with a far-range crop that follows the vanishing point."""

    def set_vanishing_point(self, x_px: float, y_px: float, from_index: int = 0) -> None: ...


class LightStage(Protocol):
    """The traffic-light stage: the state of the light that governs the ego lane."""

    def update(self, frame: Frame, detections: Detections,
               geometry: CameraGeometry | None = None) -> tuple[TrafficLight, list[Event]]: ...

    def reset(self) -> None: ...


class TrackerStage(Protocol):
    def update(self, t_s: float, detections: Detections) -> Tracks: ...

    def reset(self) -> None: ...


class GeometryStageProto(Protocol):
    """The online horizon / vanishing point (fcw/geometry/)."""

    #: the estimate of the last frame it saw; None before the first (or after a reset)
    last: CameraGeometry | None

    def update(self, frame: Frame, tracks: Tracks) -> CameraGeometry: ...

    def take_events(self) -> list[Event]: ...

    def crop_centre_px(self) -> tuple[float, float] | None: ...

    def reset(self) -> None: ...


class RiskStageProto(Protocol):
    """``light``: None when no lights stage runs; ``geometry``: None when no geometry stage
    does (the risk stage then uses the config's prior)."""

    def update(self, frame: Frame, tracks: Tracks, light: TrafficLight | None = None,
               geometry: CameraGeometry | None = None) -> tuple[Risk, list[Event]]: ...

    def reset(self) -> None: ...


class LightPromptStage(Protocol):
    """Driver prompts that need the light, the tracks and the lead (fcw/lights/prompts.py)."""

    def update(self, frame: Frame, light: TrafficLight, tracks: Tracks,
               risk: Risk) -> list[Event]: ...

    def reset(self) -> None: ...


@dataclass
class Pipeline:
    source: FrameSource
    detector: DetectorStage
    tracker: Optional[TrackerStage] = None
    risk: Optional[RiskStageProto] = None
    geometry: Optional[GeometryStageProto] = None
    lights: Optional[LightStage] = None
    prompts: Optional[LightPromptStage] = None
    sinks: Sequence[Sink] = ()
    max_frames: Optional[int] = None
    #: read and run the model ahead of the rest on worker threads (fcw/prefetch.py) when the
    #: detector is staged; off where each frame shown must be the newest read (the overlay).
    threaded: bool = False
    #: set from another thread (a signal handler, the UI) to end the run after the current frame.
    stop: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        """Every stateful stage forgets what it remembers, as built afresh: after a seek in a
        replay, a track or a warning must not carry over the jump in time."""
        for stage in (self.tracker, self.geometry, self.risk, self.lights, self.prompts):
            if stage is not None:
                stage.reset()

    def request_stop(self) -> None:
        """End the run after the current frame, also while the source waits for one (a lost
        camera); safe from a signal handler and from another thread."""
        self.stop.set()
        self.source.interrupt()

    def process(self, frame: Frame, raw: Any = None, read_done: float = 0.0) -> FrameResult:
        """Every stage on ``frame``; ``raw``: the detector's model output when a worker thread
        has run the model already; ``read_done``: when the frame left the source (latency)."""
        ms: dict[str, float] = {}
        t0 = time.perf_counter()
        if raw is not None and is_staged(self.detector):  # a worker ran its model on the frame
            detections = self.detector.decode(frame, raw)
        else:
            detections = self.detector.update(frame)
        t1 = time.perf_counter()
        ms["detect"] = (t1 - t0) * 1e3
        tracks, risk, light = Tracks.empty(), Risk(), TrafficLight()
        events: list[Event] = []
        geometry: CameraGeometry | None = None
        if self.lights is not None:
            # The lights run before the tracker: they take the geometry of the frame before
            # (a mount's horizon moves over seconds, not from one frame to the next).
            light, events = self.lights.update(
                frame, detections,
                geometry=self.geometry.last if self.geometry is not None else None)
            t_l = time.perf_counter()
            ms["lights"] = (t_l - t1) * 1e3
            t1 = t_l
        if self.tracker is not None:
            tracks = self.tracker.update(frame.t_s, detections)
            t2 = time.perf_counter()
            ms["track"] = (t2 - t1) * 1e3
            if self.geometry is not None:
                geometry = self.geometry.update(frame, tracks)
                events = [*events, *self.geometry.take_events()]
                self._follow_vanishing_point(frame)
                t_g = time.perf_counter()
                ms["geometry"] = (t_g - t2) * 1e3
                t2 = t_g
            if self.risk is not None:
                risk, risk_events = self.risk.update(
                    frame, tracks, light if self.lights is not None else None, geometry)
                events = [*events, *risk_events]
                t3 = time.perf_counter()
                ms["risk"] = (t3 - t2) * 1e3
                if self.prompts is not None:
                    events += self.prompts.update(frame, light, tracks, risk)
                    ms["lights"] = ms.get("lights", 0.0) + (time.perf_counter() - t3) * 1e3
        # A detector that times its own parts (inference, decode) shows them to benchmarks;
        # with the model run on another thread, "detect" is their sum, not this thread's wait.
        parts = self.detector.last_ms if isinstance(self.detector, TimedDetector) else {}
        ms.update(parts)
        if raw is not None:
            ms["detect"] = sum(parts.values())
        return FrameResult(frame, detections, tracks, risk, tuple(events), ms, light, read_done,
                           geometry=geometry)

    def _follow_vanishing_point(self, frame: Frame) -> None:
        """Tell the detector where the far crop goes from CROP_LAG_FRAMES frames on, when the
        geometry stage has moved it (a detector without a far crop is not told)."""
        centre = self.geometry.crop_centre_px() if self.geometry is not None else None
        if centre is not None and isinstance(self.detector, SteerableDetector):
            self.detector.set_vanishing_point(*centre, from_index=frame.index + CROP_LAG_FRAMES)

    def run(self) -> RunSummary:
        """Process the source to its end, ``max_frames`` or ``stop``; sinks always get
        ``finish``."""
        frames, last, error, reason = 0, None, None, "end_of_source"
        started = time.perf_counter()
        with ExitStack() as stack:
            stack.enter_context(self.source)
            for sink in self.sinks:
                stack.enter_context(sink)
            try:
                # The workers stop before the sinks finish, so no source event follows the end.
                reading: AbstractContextManager[Iterable[Ahead]] = (
                    ReadAhead(self.source, self.detector)
                    if self.threaded and is_staged(self.detector)
                    else nullcontext(read_in_turn(self.source)))
                with reading as frames_in:
                    for ahead in frames_in:
                        frame = ahead.frame
                        result = self.process(frame, ahead.raw, ahead.read_done)
                        result.stage_ms["read"] = ahead.read_ms
                        for sink in self.sinks:
                            sink.write(result)
                        frames, last = frames + 1, frame
                        if self.max_frames is not None and frames >= self.max_frames:
                            reason = "max_frames"
                            break
                        if self.stop.is_set():
                            reason = "stopped"
                            break
                    else:
                        # A source that returns because the run was stopped (a paused replay).
                        reason = "stopped" if self.stop.is_set() else reason
            except KeyboardInterrupt:
                reason = "stopped"
            except Exception as exc:
                error, reason = f"{type(exc).__name__}: {exc}", "error"
                raise
            finally:
                elapsed = time.perf_counter() - started
                summary = RunSummary(
                    frames=frames, dropped=self.source.dropped,
                    mean_fps=frames / elapsed if elapsed > 0 else 0.0,
                    last_t_s=last.t_s if last else 0.0, last_frame=last.index if last else 0,
                    error=error, stop_reason=reason)
                for sink in self.sinks:
                    sink.finish(summary)
        return summary
