"""Warnings against each clip's expectation (label ``expect``).

A clip that requires a warning (NHTSA's tests) passes when the first rise to "warning" comes
while the true TTC is still at least ``required_ttc_s``. A clip on which no warning is allowed
(normal driving) passes with none; its warnings, over its duration, give false warnings per
hour. Clips with no expectation only report what happened.
"""
from __future__ import annotations

from typing import Any, Sequence

from fcw.eval.runner import ClipRun
from fcw.types import Event


def onsets(events: Sequence[Event], level: str) -> list[Event]:
    """The events that raised the warning level to ``level``."""
    return [e for e in events if e.type == "fcw" and e.fields.get("level") == level]


def duration_s(run: ClipRun) -> float:
    """The clip's length: first to last frame plus one frame period."""
    if not run.frames:
        return 0.0
    return run.frames[-1].t_s - run.frames[0].t_s + 1.0 / run.clip.labels.fps


def judge_clip(run: ClipRun) -> dict[str, Any]:
    labels = run.clip.labels
    warnings, cautions = onsets(run.events, "warning"), onsets(run.events, "caution")
    first = warnings[0] if warnings else None
    true_ttc = None
    if first is not None:
        fl = labels.frame_at(first.frame)
        true_ttc = fl.lead.ttc_s if fl is not None and fl.lead is not None else None
    expect = labels.expect.warning
    if expect == "required":
        passed = true_ttc is not None and true_ttc >= labels.expect.required_ttc_s
    elif expect == "forbidden":
        passed = not warnings
    else:
        passed = None
    return {
        "expect": expect, "required_ttc_s": labels.expect.required_ttc_s, "passed": passed,
        "warnings": len(warnings), "cautions": len(cautions),
        "first_warning_t_s": None if first is None else round(first.t_s, 4),
        "first_warning_frame": None if first is None else first.frame,
        "first_warning_true_ttc_s": None if true_ttc is None else round(true_ttc, 4),
        "first_caution_t_s": round(cautions[0].t_s, 4) if cautions else None,
        "duration_s": round(duration_s(run), 4),
    }


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
    }
