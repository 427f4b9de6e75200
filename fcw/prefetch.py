"""Reading ahead: frames read and pre-processed on one thread, the model run on another.

On a small CPU the model is only part of a frame's cost; decoding the video, resizing it for the
model, and after the model the tracker, the risk and the sinks take as long again. Run in
sequence, the model waits for all of that. Here the caller's thread does what follows the model
while ``fcw-read`` decodes and prepares frame n+2 and ``fcw-model`` runs the model on frame n+1,
so the model is busy nearly all the time. Frames stay in order and every stage sees exactly what
it would see in sequence (the detector keeps no state between frames; the stateful stages, the
tracker, the risk and the lights, stay on the caller's thread), so a replay gives the same
results threaded or not.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Optional, Protocol, TypeGuard, cast

from fcw.sources.base import FrameSource
from fcw.types import Detections, Frame


class StagedDetector(Protocol):
    """A detector split where the model runs, so the parts can run on different threads."""

    def prepare(self, frame: Frame) -> Any: ...

    def run(self, prepared: Any) -> Any: ...

    def decode(self, frame: Frame, raw: Any) -> Detections: ...


def is_staged(detector: object) -> TypeGuard[StagedDetector]:
    return all(callable(getattr(detector, name, None)) for name in ("prepare", "run", "decode"))


@dataclass(frozen=True)
class Ahead:
    """A frame read ahead of the caller.

    raw: the detector's model output for it (``None`` when the caller is to run the detector).
    read_ms: how long the source took to deliver it.
    read_done: ``perf_counter`` time at which it was delivered, for latency figures.
    """

    frame: Frame
    raw: Any
    read_ms: float
    read_done: float


def read_in_turn(source: FrameSource) -> Iterator[Ahead]:
    """The source's frames with their read times, read only when asked for: no thread."""
    frames = iter(source)
    while True:
        t0 = time.perf_counter()
        frame = next(frames, None)
        if frame is None:
            return
        done = time.perf_counter()
        yield Ahead(frame, None, (done - t0) * 1e3, done)


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


_END = object()

#: the workers' thread names, by which the watchdog finds them (fcw/watchdog.py)
WORKER_THREADS = ("fcw-model", "fcw-read")


class ReadAhead:
    """A context manager iterating :class:`Ahead` items, read and run by two worker threads.

    At most one item waits between each pair of threads, so no queue grows when the caller is
    slow; an exception on a worker is raised on the caller's thread. Leaving the context stops
    the workers and waits for them, so the source is never closed under a read.
    """

    def __init__(self, source: FrameSource, detector: StagedDetector) -> None:
        self.source = source
        self.detector = detector
        self._prepared: queue.Queue = queue.Queue(maxsize=1)
        self._ran: queue.Queue = queue.Queue(maxsize=1)
        self._halt = threading.Event()
        # The next frame is read when the model takes the previous one, not as soon as there is
        # room: it is then ready just as the model is free, without waiting a frame more (each
        # frame waiting in a queue adds its time to the capture-to-warning latency).
        self._may_read = threading.Semaphore(1)
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> ReadAhead:
        model, read = WORKER_THREADS
        self._threads = [threading.Thread(target=self._read, name=read, daemon=True),
                         threading.Thread(target=self._model, name=model, daemon=True)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._halt.set()
        if any(t.is_alive() for t in self._threads):
            # Wakes a read that waits for a lost camera or a paused replay; a file read returns
            # by itself.
            self.source.interrupt()
        for thread in self._threads:
            thread.join()

    def __iter__(self) -> Iterator[Ahead]:
        while True:
            item = self._ran.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.exc
            yield item

    def _put(self, q: queue.Queue, item: object) -> bool:
        """Hand ``item`` on, unless the caller has left; False then."""
        while not self._halt.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _wait_turn(self) -> bool:
        while not self._halt.is_set():
            if self._may_read.acquire(timeout=0.05):
                return True
        return False

    def _read(self) -> None:
        try:
            frames = read_in_turn(self.source)
            while self._wait_turn():
                ahead = next(frames, None)
                if ahead is None:
                    break
                prepared = self.detector.prepare(ahead.frame)
                if not self._put(self._prepared, (ahead, prepared)):
                    return
        except BaseException as exc:  # raised again on the caller's thread
            self._put(self._prepared, _Failed(exc))
            return
        self._put(self._prepared, _END)

    def _model(self) -> None:
        while True:
            item: Optional[object] = None
            while item is None and not self._halt.is_set():
                try:
                    item = self._prepared.get(timeout=0.05)
                except queue.Empty:
                    continue
            if item is None:
                return
            self._may_read.release()
            if item is _END or isinstance(item, _Failed):
                self._put(self._ran, item)
                return
            # neither the end nor a failure: the (frame read, model input) pair _read put
            ahead, prepared = cast("tuple[Ahead, Any]", item)
            try:
                raw = self.detector.run(prepared)
            except BaseException as exc:
                self._put(self._ran, _Failed(exc))
                return
            if not self._put(self._ran, Ahead(ahead.frame, raw, ahead.read_ms, ahead.read_done)):
                return
