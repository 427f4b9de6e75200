"""The events file: append-only JSON Lines, one flushed line per record.

Each line is written whole and flushed at once so that a crash or ``kill -9`` loses at most the
line being written; warnings are also fsynced, because they are the records an investigation
after an incident needs most.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

from fcw.types import Event, FrameResult

from .base import RunSummary, Sink, open_output


class EventLog(Sink):
    def __init__(self, path: Path, start: dict[str, Any], fsync_warnings: bool = True) -> None:
        self.path = Path(path)
        self._fsync_warnings = fsync_warnings
        self._f = open_output(self.path, "a", "events file")
        self._last_t_s = 0.0
        self._last_frame = 0
        self.write_record({"type": "start", "t": 0.0, "frame": 0, **start})

    def write_record(self, record: dict[str, Any], sync: bool = False) -> None:
        self._f.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._f.flush()
        if sync:
            os.fsync(self._f.fileno())

    def write(self, result: FrameResult) -> None:
        self._last_t_s, self._last_frame = result.frame.t_s, result.frame.index
        for event in result.events:
            self.write_event(event)

    def write_event(self, event: Event) -> None:
        sync = self._fsync_warnings and event.fields.get("level") == "warning"
        self.write_record(event.to_record(), sync=sync)

    def finish(self, summary: RunSummary) -> None:
        record = {"type": "end", "t": round(summary.last_t_s, 6), "frame": summary.last_frame,
                  "frames": summary.frames, "dropped": summary.dropped,
                  "mean_fps": round(summary.mean_fps, 2), "stop_reason": summary.stop_reason}
        if summary.error:
            record["error"] = summary.error
        self.write_record(record, sync=True)

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """Every complete record of an events file; a partial last line (a crash mid-write) is skipped."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                return
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
