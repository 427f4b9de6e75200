"""Where a batch writes, and reading it back.

``OUT/drives/<drive id>/`` holds ``events.jsonl`` and ``tracks.txt`` (what ``fcw run --events
--tracks`` writes) and ``summary.json``, written last and atomically: a drive's folder with a
summary is finished, one without is not, whatever moment a crash or ``kill -9`` chose.
``OUT/batch.json`` records the config and model of the latest run; ``OUT/results.{parquet,csv}``
is the table of every drive.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from engines.cache import atomic_write
from fcw.sinks.events import read_events

EVENTS = "events.jsonl"
TRACKS = "tracks.txt"
SUMMARY = "summary.json"
BATCH = "batch.json"
PARTIAL = ".partial"  # suffix of an output still being written


def drive_dir(out: Path, drive_id: str) -> Path:
    return Path(out) / "drives" / drive_id


def write_json(path: Path, record: dict[str, Any]) -> None:
    atomic_write(Path(path), (json.dumps(record, indent=2) + "\n").encode())


def read_json(path: Path) -> Optional[dict[str, Any]]:
    """The record, or None for a file that is missing or not a JSON object."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


@dataclass(frozen=True)
class Behaviour:
    """What a drive's events file says fcw did."""

    warning_times_s: tuple[float, ...]  # each rise to "warning"
    cautions: int  # each rise from nothing to "caution" (a warning easing off is not one)
    light_changes: int  # "traffic_light" events
    error: Optional[str]  # the end record's error, if the run failed

    @property
    def warnings(self) -> int:
        return len(self.warning_times_s)


def read_behaviour(events: Path) -> Behaviour:
    warnings: list[float] = []
    cautions = lights = 0
    level: Optional[str] = "none"
    error = None
    for rec in read_events(events):
        kind = rec.get("type")
        if kind == "fcw":
            new = rec.get("level")
            if new == "warning":
                warnings.append(float(rec["t"]))
            elif new == "caution" and level == "none":
                cautions += 1
            level = new
        elif kind == "traffic_light":
            lights += 1
        elif kind == "end":
            error = rec.get("error")
    return Behaviour(tuple(warnings), cautions, lights, error)
