"""The sink that hands each frame's result from the pipeline thread to the GUI.

It keeps only the newest result: a display slower than the pipeline skips results (counted in
``replaced``) instead of queueing them, so it can never slow the pipeline or grow memory. At most
one notification is in flight at a time; the GUI takes whatever is newest when it gets to it.
Warning rises are counted here, on the pipeline thread, so a skipped result never loses an alert.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Optional

from PyQt6.QtCore import QObject, pyqtSignal

from fcw.sinks.base import RunSummary, Sink
from fcw.types import FrameResult


@dataclass(frozen=True)
class Delivery:
    """A result on its way to the screen.

    read_at: perf_counter time its frame was read (decoded); received_at: when the sink got it.
    warnings: rises to "warning" counted so far in the run, this frame's included.
    """

    result: FrameResult
    read_at: float
    received_at: float
    warnings: int


class _Bridge(QObject):
    result_ready = pyqtSignal()
    finished = pyqtSignal(object)  # RunSummary


class OverlaySink(Sink):
    def __init__(self, read_at: Callable[[int], Optional[float]] = lambda _index: None) -> None:
        self.signals = _Bridge()  # created on the GUI thread; emitting from another is queued
        self._read_at = read_at
        self._lock = threading.Lock()
        self._pending: Optional[Delivery] = None
        self._notified = False
        self.received = 0
        self.replaced = 0  # results superseded before the GUI took them: display drops
        self.warnings = 0
        self.last: Optional[FrameResult] = None  # the newest result, taken or not
        self.summary: Optional[RunSummary] = None

    def write(self, result: FrameResult) -> None:
        now = time.perf_counter()
        self.received += 1
        self.last = result
        self.warnings += sum(1 for e in result.events
                             if e.type == "fcw" and e.fields.get("level") == "warning")
        read_at = self._read_at(result.frame.index) or now
        with self._lock:
            if self._pending is not None:
                self.replaced += 1
            self._pending = Delivery(result, read_at, now, self.warnings)
            notify, self._notified = not self._notified, True
        if notify:
            self.signals.result_ready.emit()

    def take(self) -> Optional[Delivery]:
        """The newest result not yet taken, or None; called by the GUI."""
        with self._lock:
            pending, self._pending, self._notified = self._pending, None, False
        return pending

    def finish(self, summary: RunSummary) -> None:
        self.summary = summary
        self.signals.finished.emit(summary)
