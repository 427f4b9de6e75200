"""The heartbeat: a periodic "still alive" record, so a run of days can be watched.

Every ``period_s`` of frame time the heartbeat writes ``{"type":"heartbeat","t","frame",
"frames","fps","dropped","rss_mb"}`` through the events file's own ``write_record`` (one writer
per file), and, when no status line is shown (the in-car profile), one line on stderr, which a
systemd service sends to the journal. The period is measured on ``Frame.t_s``, so a replay puts
its heartbeats at the same frames every time; the wall clock only measures the fps.
"""
from __future__ import annotations

import math
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional, TextIO

from fcw.types import FrameResult

from .base import Sink

_PROC_STATUS = Path("/proc/self/status")


def rss_mb() -> float:
    """The process's resident memory now (MB), from /proc; peak RSS where there is no /proc."""
    try:
        for line in _PROC_STATUS.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0  # kB
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 / (1024.0 if sys.platform == "darwin" else 1.0)  # bytes on macOS


class Heartbeat(Sink):
    def __init__(self, period_s: float, dropped: Callable[[], int],
                 write_record: Optional[Callable[[dict[str, Any]], None]] = None,
                 stream: Optional[TextIO] = None,
                 memory_mb: Callable[[], float] = rss_mb) -> None:
        if period_s <= 0:
            raise ValueError(f"heartbeat period must be > 0, got {period_s}")
        self._period_s = period_s
        self._dropped = dropped
        self._write_record = write_record  # EventLog.write_record, or None without an events file
        self._stream = stream  # stderr when the status line is off, else None
        self._memory_mb = memory_mb
        self._next_t_s = period_s  # the first beat after one period of frame time
        self._frames = 0
        self._beat_frames = 0  # frames at the previous beat, for the fps since then
        self._beat_wall = time.monotonic()  # wall clock: throughput only

    def write(self, result: FrameResult) -> None:
        self._frames += 1
        t_s = result.frame.t_s
        # A hair of tolerance: 25 fps media times such as 0.52 are sums of binary fractions.
        if t_s + 1e-9 < self._next_t_s:
            return
        # Beats stay on the grid k * period; a gap in the frames (a stall) skips the missed ones.
        self._next_t_s = (math.floor(t_s / self._period_s + 1e-9) + 1) * self._period_s
        now = time.monotonic()
        fps = (self._frames - self._beat_frames) / max(now - self._beat_wall, 1e-9)
        self._beat_frames, self._beat_wall = self._frames, now
        record = {"type": "heartbeat", "t": round(t_s, 6), "frame": result.frame.index,
                  "frames": self._frames, "fps": round(fps, 2), "dropped": self._dropped(),
                  "rss_mb": round(self._memory_mb(), 1)}
        if self._write_record is not None:
            self._write_record(record)
        if self._stream is not None:
            try:
                self._stream.write(f"fcw: heartbeat t={record['t']:.2f}s frame={record['frame']} "
                                   f"frames={record['frames']} fps={record['fps']:.1f} "
                                   f"dropped={record['dropped']} rss={record['rss_mb']:.0f}MB\n")
                self._stream.flush()
            except (OSError, ValueError):  # a closed or broken stderr must not stop the run
                pass
