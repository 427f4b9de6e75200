"""The console status line: frames done, fps and dropped frames, on stderr."""
from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Optional, TextIO

from fcw.types import FrameResult

from .base import RunSummary, Sink


class StatusLine(Sink):
    def __init__(self, total: Optional[int], dropped: Callable[[], int],
                 stream: TextIO = sys.stderr,
                 every_s: float = 0.5) -> None:
        self.total = total
        self._dropped = dropped
        self._stream = stream
        self._every_s = every_s
        # Wall time here only paces the display and measures throughput; no frame time uses it.
        self._t0 = time.monotonic()
        self._last = 0.0
        self._frames = 0
        self._tty = stream.isatty()

    def write(self, result: FrameResult) -> None:
        self._frames += 1
        now = time.monotonic()
        if now - self._last >= self._every_s:
            self._last = now
            self._show(now, end="\r" if self._tty else "\n")

    def _show(self, now: float, end: str) -> None:
        fps = self._frames / max(now - self._t0, 1e-9)
        done = f"{self._frames}/{self.total}" if self.total else f"{self._frames}"
        self._stream.write(f"frames {done}  {fps:5.1f} fps  dropped {self._dropped()}" + end)
        self._stream.flush()

    def finish(self, summary: RunSummary) -> None:
        self._show(time.monotonic(), end="\n")
