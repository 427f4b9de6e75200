"""Warnings against each clip's expectation (label ``expect``), as NHTSA scores its FCW tests.

A clip that requires a warning (NHTSA's tests) passes when the first rise to "warning" comes
while the true TTC is still at least ``required_ttc_s`` and no rise to "warning" comes too early:
while the true TTC is above ``earliest_ttc_s`` (NHTSA: 5 s), or while there is no threat at all
(no true TTC), which counts as a nuisance warning. The true TTC is the label's ``expect.ttc``
field: ``ttc_s`` (range / closing speed) or, for the lead-decelerating test, ``ttc2_s`` (with the
lead's deceleration). A clip on which no warning is allowed (normal driving) passes with none;
its warnings, over its duration, give false warnings per hour, and its cautions are counted and
reported beside them (allowed, but each one is a chime the driver hears for nothing). Clips with
no expectation only report what happened.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fcw.eval.runner import ClipRun
from fcw.labels import ClipLabels
from fcw.types import Event


def onsets(events: Sequence[Event], level: str) -> list[Event]:
    """The events that raised the warning level to ``level``."""
    return [e for e in events if e.type == "fcw" and e.fields.get("level") == level]


def read_fcw_events(path: Path) -> list[Event]:
    """The events of an events file written by ``fcw run``, as Events."""
    from fcw.sinks.events import read_events

    return [Event(r["type"], float(r["t"]), int(r["frame"]), r) for r in read_events(Path(path))]


def duration_s(run: ClipRun) -> float:
    """The clip's length: first to last frame plus one frame period."""
    if not run.frames:
        return 0.0
    return run.frames[-1].t_s - run.frames[0].t_s + 1.0 / run.clip.labels.fps


def true_ttc_s(labels: ClipLabels, frame: int, kind: str | None = None) -> float | None:
    """The true TTC of the lead at ``frame`` of the kind the clip is judged by (or ``kind``)."""
    fl = labels.frame_at(frame)
    if fl is None or fl.lead is None:
        return None
    value = getattr(fl.lead, kind or labels.expect.ttc)
    return None if value is None else float(value)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


def judge_events(labels: ClipLabels, events: Sequence[Event]) -> dict[str, Any]:
    """The verdict on one clip's events (not its duration: see ``judge_clip``)."""
    expect = labels.expect
    warnings, cautions = onsets(events, "warning"), onsets(events, "caution")
    ttcs = [true_ttc_s(labels, e.frame) for e in warnings]
    first = warnings[0] if warnings else None
    first_ttc = ttcs[0] if warnings else None
    too_early = [t for t in ttcs if t is None or (expect.earliest_ttc_s is not None
                                                   and t > expect.earliest_ttc_s)]
    if expect.warning == "required":
        passed = (first_ttc is not None and first_ttc >= (expect.required_ttc_s or 0.0)
                  and not too_early)
    elif expect.warning == "forbidden":
        passed = not warnings
    else:
        passed = None
    return {
        "expect": expect.warning, "required_ttc_s": expect.required_ttc_s, "ttc": expect.ttc,
        "earliest_ttc_s": expect.earliest_ttc_s, "passed": passed,
        "warnings": len(warnings), "cautions": len(cautions),
        # Warnings before the threat is real: on a required clip too early, on a benign one all.
        "nuisance_warnings": len(too_early) if expect.warning == "required" else len(warnings),
        "first_warning_t_s": None if first is None else round(first.t_s, 4),
        "first_warning_frame": None if first is None else first.frame,
        "first_warning_true_ttc_s": _r(first_ttc),
        "first_warning_true_ttc1_s": None if first is None else _r(true_ttc_s(labels, first.frame,
                                                                               "ttc_s")),
        "first_caution_t_s": round(cautions[0].t_s, 4) if cautions else None,
        "first_caution_true_ttc_s": _r(true_ttc_s(labels, cautions[0].frame)) if cautions else None,
    }


def judge_clip(run: ClipRun) -> dict[str, Any]:
    return {**judge_events(run.clip.labels, run.events), "duration_s": round(duration_s(run), 4)}


def evaluate_warnings(runs: Sequence[ClipRun]) -> dict[str, Any]:
    clips = {r.clip.name: judge_clip(r) for r in runs}
    normal = [c for c in clips.values() if c["expect"] == "forbidden"]
    hours = sum(c["duration_s"] for c in normal) / 3600.0
    false = sum(c["warnings"] for c in normal)
    judged = [c["passed"] for c in clips.values() if c["passed"] is not None]
    return {
        "clips": clips,
        "passed": sum(judged), "judged": len(judged),
        "normal_driving_s": round(hours * 3600.0, 3), "false_warnings": false,
        "false_warnings_per_hour": round(false / hours, 3) if hours > 0 else None,
        "normal_driving_cautions": sum(c["cautions"] for c in normal),
        "too_early_warnings": sum(c["nuisance_warnings"] for c in clips.values()
                                  if c["expect"] == "required"),
    }
