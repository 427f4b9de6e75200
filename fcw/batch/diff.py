"""``fcw batch --diff OLD NEW``: the drives whose warnings changed between two batches.

A warning of one run matches a warning of the other on the same drive when their times are within
the tolerance (closest pairs first); what is left over was added or removed. Drives that failed
in either run, or exist in only one, are listed as such: their behaviour cannot be compared.
"""
from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional

from fcw.errors import FcwError

from .outputs import BATCH, EVENTS, SUMMARY, read_behaviour, read_json


@dataclass(frozen=True)
class DriveChange:
    drive: str
    status: str  # same | changed | failed | only_old | only_new
    old_warnings: Optional[int]
    new_warnings: Optional[int]
    added_s: tuple[float, ...] = ()  # times of the new run's warnings the old run did not raise
    removed_s: tuple[float, ...] = ()  # times of the old run's warnings the new run did not raise
    error: Optional[str] = None


def match_times(old: Sequence[float], new: Sequence[float],
                tolerance_s: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(added, removed): the warnings of each side that no warning of the other is close to."""
    pairs = sorted((abs(a - b), i, j) for i, a in enumerate(old) for j, b in enumerate(new)
                   if abs(a - b) <= tolerance_s)
    used_old: set[int] = set()
    used_new: set[int] = set()
    for _, i, j in pairs:
        if i not in used_old and j not in used_new:
            used_old.add(i)
            used_new.add(j)
    return (tuple(t for j, t in enumerate(new) if j not in used_new),
            tuple(t for i, t in enumerate(old) if i not in used_old))


def _drives(run: Path) -> dict[str, Path]:
    if not (run / "drives").is_dir():
        raise FcwError(f"{run}: not an fcw batch output folder (no drives/)")
    return {d.name: d for d in sorted((run / "drives").iterdir()) if (d / SUMMARY).is_file()}


def _warnings(d: Path) -> tuple[Optional[tuple[float, ...]], Optional[str]]:
    summary = read_json(d / SUMMARY) or {}
    if summary.get("status") != "ok" or not (d / EVENTS).is_file():
        return None, summary.get("error") or "incomplete"
    return read_behaviour(d / EVENTS).warning_times_s, None


def compare_drive(drive: str, old: Optional[Path], new: Optional[Path],
                  tolerance_s: float) -> DriveChange:
    if old is None or new is None:
        return DriveChange(drive, "only_new" if old is None else "only_old", None, None)
    (a, err_a), (b, err_b) = _warnings(old), _warnings(new)
    if a is None or b is None:
        err = f"old: {err_a}" if a is None else f"new: {err_b}"
        return DriveChange(drive, "failed", None if a is None else len(a),
                           None if b is None else len(b), error=err)
    added, removed = match_times(a, b, tolerance_s)
    return DriveChange(drive, "changed" if added or removed else "same", len(a), len(b),
                       added, removed)


def _flat(record: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(record, dict):
        return {prefix: record}
    flat: dict[str, Any] = {}
    for k, v in record.items():
        flat.update(_flat(v, f"{prefix}.{k}" if prefix else k))
    return flat


def setting_changes(old: Path, new: Path) -> list[str]:
    """What differs between the two runs' configs, model and fcw version."""
    a, b = read_json(old / BATCH) or {}, read_json(new / BATCH) or {}
    fa = {**_flat(a.get("config", {}), "config"), "model_sha256": a.get("model_sha256"),
          "fcw_version": a.get("fcw_version")}
    fb = {**_flat(b.get("config", {}), "config"), "model_sha256": b.get("model_sha256"),
          "fcw_version": b.get("fcw_version")}
    return [f"{k.removeprefix('config.')}: {fa.get(k)} -> {fb.get(k)}"
            for k in sorted(fa.keys() | fb.keys()) if fa.get(k) != fb.get(k)]


def diff_runs(old: Path, new: Path, tolerance_s: float = 0.5) -> dict[str, Any]:
    old, new = Path(old), Path(new)
    a, b = _drives(old), _drives(new)
    changes = [compare_drive(k, a.get(k), b.get(k), tolerance_s)
               for k in sorted(a.keys() | b.keys())]
    count = {s: sum(c.status == s for c in changes)
             for s in ("same", "changed", "failed", "only_old", "only_new")}
    return {"old": str(old), "new": str(new), "tolerance_s": tolerance_s,
            "settings_changed": setting_changes(old, new),
            "drives": len(changes), **count,
            "warnings_added": sum(len(c.added_s) for c in changes),
            "warnings_removed": sum(len(c.removed_s) for c in changes),
            "made_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "changes": [asdict(c) for c in changes]}


def _times(ts: Sequence[float]) -> str:
    return " ".join(f"{t:.2f}" for t in ts) or "-"


def format_diff(report: dict[str, Any]) -> str:
    """The drives that did not stay the same, as a table, then the totals."""
    rows = [c for c in report["changes"] if c["status"] != "same"]
    lines = [f"settings: {s}" for s in report["settings_changed"]]
    if rows:
        width = max(len("drive"), *(len(c["drive"]) for c in rows))
        lines.append(f"{'drive':{width}}  {'status':8}  {'old':>3}  {'new':>3}  "
                     f"warnings added at (s)  removed at (s)")
        for c in rows:
            old = "-" if c["old_warnings"] is None else c["old_warnings"]
            new = "-" if c["new_warnings"] is None else c["new_warnings"]
            extra = f"  {c['error']}" if c["error"] else ""
            lines.append(f"{c['drive']:{width}}  {c['status']:8}  {old:>3}  {new:>3}  "
                         f"{_times(c['added_s']):21}  {_times(c['removed_s'])}{extra}")
    lines.append(f"{report['drives']} drives: {report['changed']} changed "
                 f"(+{report['warnings_added']} / -{report['warnings_removed']} warnings), "
                 f"{report['same']} same, {report['failed']} failed, "
                 f"{report['only_old'] + report['only_new']} in one run only")
    return "\n".join(lines)
