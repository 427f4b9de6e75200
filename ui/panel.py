"""The one-line panel under the video: throughput, latency and dropped frames.

pipeline fps: results the pipeline delivered per wall-clock second; display fps: frames painted
per second. latency ("read→screen"): wall time from the moment the frame left the decoder (or
the camera's queue) to the end of its paint, median of the last 30 painted frames. dropped:
frames the source skipped to stay current (live or --realtime) and results the display skipped
because a newer one was ready.
"""
from __future__ import annotations

import statistics
import time
from collections import deque
from typing import Optional

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QWidget

from . import style


class Rate:
    """Events per second of wall time between two readings of a counter."""

    def __init__(self) -> None:
        self._last: Optional[tuple[float, int]] = None
        self.value = 0.0

    def update(self, count: int, min_span_s: float = 0.4) -> float:
        now = time.perf_counter()
        if self._last is not None and now - self._last[0] < min_span_s:
            return self.value  # too short a span to say (a key press refreshes the panel)
        if self._last is not None:
            self.value = (count - self._last[1]) / (now - self._last[0])
        self._last = (now, count)
        return self.value


class StatsPanel(QLabel):
    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setFont(style.font(style.MIN_TEXT_PX + 1))
        self.setStyleSheet("QLabel { background: #101014; color: #e0e0e0; padding: 2px 6px; }")
        self.setToolTip(__doc__)
        self.setText("waiting for frames…")
        self.setFixedHeight(self.fontMetrics().height() + 6)  # the layout must not jump
        self.pipeline_fps, self.display_fps = Rate(), Rate()
        self.latencies_ms: deque[float] = deque(maxlen=30)
        self.painted = 0

    def on_painted(self, read_at: float) -> None:
        self.painted += 1
        self.latencies_ms.append((time.perf_counter() - read_at) * 1e3)

    @property
    def latency_ms(self) -> Optional[float]:
        return statistics.median(self.latencies_ms) if self.latencies_ms else None

    def refresh(self, received: int, source_dropped: int, display_dropped: int,
                frame: Optional[tuple[int, float]], flags: list[str]) -> None:
        lat = self.latency_ms
        parts = [f"pipeline {self.pipeline_fps.update(received):4.1f} fps",
                 f"display {self.display_fps.update(self.painted):4.1f} fps",
                 "read→screen " + ("–" if lat is None else f"{lat:.0f} ms"),
                 f"dropped: source {source_dropped}, display {display_dropped}"]
        if frame is not None:
            parts.append(f"frame {frame[0]}  {frame[1]:.2f} s")
        self.setText("  |  ".join(parts + flags))
