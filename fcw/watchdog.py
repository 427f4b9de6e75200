"""The watchdog: notices a run that has stopped completing frames, wherever it hangs.

A camera driver stuck in read(), an inference that never returns, a write to a dying disk: each
freezes the frame loop, and nothing inside the loop can then say so. The watchdog is a sink whose
``write`` marks every completed frame; its own thread looks a few times per ``stall_s`` and, once
no frame has completed for ``stall_s``, reports a ``stall`` record naming where the pipeline's
thread is (the innermost project function on its stack), on stderr and in the events file; the
next frame reports ``stall_cleared`` with the stall's length. It measures wall time, unlike the
stages: a stall is the machine's state, not the drive's, and a stalled source has no frame time.
"""
from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

from fcw.prefetch import WORKER_THREADS
from fcw.sinks.base import RunSummary, Sink
from fcw.types import FrameResult

log = logging.getLogger(__name__)

# Frames from files under this folder (fcw/, engines/, ui/, tests/) say where a stall is; the
# frames of the standard library or of OpenCV's bindings say only "waiting".
_PROJECT_ROOT = Path(__file__).resolve().parent.parent
_PREFETCH = "fcw/prefetch.py:"


def where(thread_ident: int) -> str:
    """``path:line function`` of the innermost project frame the thread is executing."""
    frame = sys._current_frames().get(thread_ident)
    innermost = None
    while frame is not None:
        code = frame.f_code
        path = Path(code.co_filename)
        innermost = innermost or f"{path.name}:{frame.f_lineno} {code.co_name}"
        if path.is_absolute() and _PROJECT_ROOT in path.parents:
            return f"{path.relative_to(_PROJECT_ROOT)}:{frame.f_lineno} {code.co_name}"
        frame = frame.f_back
    return innermost or "unknown"


def where_pipeline(thread_ident: int) -> str:
    """:func:`where` for the frame loop's thread, or, while it waits for the workers that read
    ahead of it (fcw/prefetch.py), for the worker that is not itself waiting."""
    at = where(thread_ident)
    if not at.startswith(_PREFETCH):
        return at
    workers = {t.name: t.ident for t in threading.enumerate() if t.name in WORKER_THREADS}
    for name in WORKER_THREADS:  # the model first: a stuck model also holds up the reader
        ident = workers.get(name)
        worker_at = where(ident) if ident is not None else _PREFETCH
        if not worker_at.startswith(_PREFETCH):
            return f"{worker_at} (thread {name})"
    return at


class Watchdog(Sink):
    def __init__(self, stall_s: float,
                 write_record: Optional[Callable[[dict[str, Any]], None]] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if stall_s <= 0:
            raise ValueError(f"stall_s must be > 0, got {stall_s}")
        self.stall_s = stall_s
        self._write_record = write_record  # EventLog.write_record (thread-safe), or None
        self._clock = clock
        self._lock = threading.Lock()
        self._last_done = clock()
        self._last_frame = (0.0, 0)  # (t_s, index) of the last completed frame
        self._stalled_since: Optional[float] = None
        self.stalls = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._watched = threading.get_ident()

    def __enter__(self) -> Watchdog:
        # The pipeline enters its sinks on the thread that runs the frames: that one is watched.
        self._watched = threading.get_ident()
        with self._lock:
            self._last_done = self._clock()
        self._thread = threading.Thread(target=self._watch, name="fcw-watchdog", daemon=True)
        self._thread.start()
        return self

    def write(self, result: FrameResult) -> None:
        frame = result.frame
        with self._lock:
            now = self._clock()
            stalled_since, self._stalled_since = self._stalled_since, None
            self._last_done, self._last_frame = now, (frame.t_s, frame.index)
        if stalled_since is not None:
            stalled_s = now - stalled_since
            log.warning("stall cleared at frame %d after %.1f s", frame.index, stalled_s)
            self._report({"type": "stall_cleared", "t": round(frame.t_s, 6),
                          "frame": frame.index, "stalled_s": round(stalled_s, 3)})

    def _watch(self) -> None:
        period = min(self.stall_s / 4, 1.0)
        while not self._stop.wait(period):
            with self._lock:
                now = self._clock()
                idle = now - self._last_done
                if self._stalled_since is not None or idle < self.stall_s:
                    continue
                self._stalled_since = self._last_done
                t_s, index = self._last_frame
            self.stalls += 1
            at = where_pipeline(self._watched)
            log.warning("stall: no frame completed for %.1f s (after frame %d); the pipeline "
                        "is in %s", idle, index, at)
            self._report({"type": "stall", "t": round(t_s, 6), "frame": index,
                          "stalled_s": round(idle, 3), "where": at})

    def _report(self, record: dict[str, Any]) -> None:
        if self._write_record is not None:
            self._write_record(record)

    def finish(self, summary: RunSummary) -> None:
        self.close()  # no stall record after the run's end record

    def close(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()
