"""The events file: append-only JSON Lines, one flushed line per record.

Each line is written whole and flushed at once so that a crash or ``kill -9`` loses at most the
line being written; warnings are also fsynced, because they are the records an investigation
after an incident needs most.

In the car the log runs for days, so it rotates by size: past ``max_bytes`` the current file
becomes ``events.jsonl.1`` (``.1`` -> ``.2`` ..., the oldest beyond ``keep`` deleted), always
between two whole lines. Every new file opens with a ``{"type":"rotate", ..., "part": n,
"start": {...}}`` record carrying the run's start record, so each file says on its own which
run, model and config wrote it; it is not a second "start", so a reader still sees one start
per run.

A write that fails (disk full, the folder removed, a path that cannot be written from the start)
must not end the run: the warning logic and the alert matter more than the log. The first failure
is logged once on stderr, lost records are counted, the file is reopened on the next record, and
the end record says how many were lost. A file that a killed run left ending in half a line gets
that line ended first, so the next record is whole.

Records come from the frame loop and from other threads (a live source's reader, the watchdog);
a lock keeps each one a whole line.
"""
from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Generator
from pathlib import Path
from typing import IO, Any, Optional

from fcw.types import CameraGeometry, Event, FrameResult

from .base import RunSummary, Sink

log = logging.getLogger(__name__)


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, separators=(",", ":")) + "\n"


class EventLog(Sink):
    def __init__(self, path: Path, start: dict[str, Any], fsync_warnings: bool = True,
                 max_bytes: int = 0, keep: int = 5) -> None:
        self.path = Path(path)
        self._fsync_warnings = fsync_warnings
        self._max_bytes = max_bytes  # 0: never rotate
        self._keep = keep
        self._lock = threading.Lock()
        self._f: Optional[IO[str]] = None  # opened by the first record
        self._size = 0
        self._start = {"type": "start", "t": 0.0, "frame": 0, **start}
        self._part = 0
        self.lost_records = 0  # records that could not be written (see write_record)
        self._failing = False
        self._geometry: Optional[CameraGeometry] = None  # the last frame's, for the end record
        self.write_record(self._start)

    def _current_size(self) -> int:
        try:
            return os.fstat(self._f.fileno()).st_size if self._f else 0
        except OSError:
            return 0

    def write_record(self, record: dict[str, Any], sync: bool = False) -> None:
        """Append one record as one flushed line; never raises (see the module's docstring)."""
        line = _line(record)
        with self._lock:
            self._write_line(record, line, sync)

    def _write_line(self, record: dict[str, Any], line: str, sync: bool) -> None:
        try:
            if self._f is None:
                self._reopen()
            if self._max_bytes and self._size > 0 and self._size + len(line) > self._max_bytes:
                self._rotate(record)
            self._append(line, sync)
        except OSError as exc:
            self._write_failed(exc)
        else:
            if self._failing:
                self._failing = False
                log.warning("%s: events file writable again (%d records lost)", self.path,
                            self.lost_records)

    def _append(self, line: str, sync: bool) -> None:
        f = self._f
        assert f is not None, "opened by _reopen or _rotate before any append"
        f.write(line)
        f.flush()
        # len() counts characters; records are ASCII (json.dumps escapes the rest), so bytes.
        self._size += len(line)
        if sync:
            os.fsync(f.fileno())

    def _rotate(self, record: dict[str, Any]) -> None:
        """Shift the files up one (dropping the oldest) and start a new one with a rotate record."""
        f = self._f
        assert f is not None, "only a file that has records is rotated"
        os.fsync(f.fileno())  # the finished file is complete on disk before it is renamed
        f.close()
        self._f = None
        for i in range(self._keep, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            newer = self.path.with_name(f"{self.path.name}.{i - 1}") if i > 1 else self.path
            if i == self._keep and older.exists():
                older.unlink()
            if newer.exists():
                os.replace(newer, older)
        if self._keep == 0:
            self.path.unlink(missing_ok=True)
        self._part += 1
        self._f = open(self.path, "a", encoding="utf-8")
        self._size = self._current_size()
        self._append(_line({"type": "rotate", "t": record.get("t", 0.0),
                            "frame": record.get("frame", 0), "part": self._part,
                            "start": self._start}), False)

    def _reopen(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "a", encoding="utf-8")
        self._size = self._current_size()
        if self._size and not self._ends_with_newline():
            # A write cut short (a full disk, a run killed mid-line) left half a line: end it, so
            # the next record is a line of its own (read_events skips the broken one).
            self._append("\n", False)

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def _write_failed(self, exc: OSError) -> None:
        self.lost_records += 1
        if not self._failing:
            self._failing = True
            where = f": {exc.filename}" if exc.filename and Path(exc.filename) != self.path else ""
            log.error("%s: cannot write events file (%s%s); the run goes on, lost records are "
                      "counted", self.path, exc.strerror or exc, where)
        # Drop the handle and whatever its buffer still holds; the next record reopens the file.
        f, self._f = self._f, None
        if f is not None:
            try:
                f.close()
            except OSError:
                pass

    def write(self, result: FrameResult) -> None:
        if result.geometry is not None:
            self._geometry = result.geometry
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
        if self.lost_records:
            record["lost_records"] = self.lost_records
        if self._geometry is not None:
            record["geometry"] = self._geometry.to_record()
        self.write_record(record, sync=True)

    def close(self) -> None:
        with self._lock:
            f, self._f = self._f, None
        if f is not None and not f.closed:
            try:
                f.close()
            except OSError:  # the buffer of a failed write; already counted and reported
                pass


def read_events(path: Path) -> Generator[dict[str, Any], None, None]:
    """Every complete record of an events file; a partial last line (a crash mid-write) is
    skipped."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                return
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
