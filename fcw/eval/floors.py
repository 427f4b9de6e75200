"""Regression floors: committed limits that every evaluation figure must stay within.

A floors file holds ``{"floors": {figure: {"min": x} | {"max": x}}, "measured": {...}}``.
``fcw eval DATASET --write-floors FILE`` writes it from a run, a margin below each measured
figure ("min", where higher is better) or above it ("max", where lower is better), so that the
machine-to-machine jitter of a deterministic run never trips it but a real regression does.
Raise the floors by re-running that command after an improvement and committing the file.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from fcw.eval import EvalError

ABOUT = ("Floors (min) and ceilings (max) for the figures of `fcw eval sample_videos`; "
         "tests/test_eval.py fails when a figure falls outside them or has none. After an "
         "improvement, raise them with `fcw eval sample_videos --report DIR --write-floors "
         "tests/data/eval_floors.json` and commit the file with the change; 'measured' records "
         "the figures they were set from.")


def margin_limit(value: float, better: str) -> float:
    """A floor 5% (at least 0.03) below a "min" figure, a ceiling 20% (+0.01) above a "max" one."""
    if better == "min":
        return max(0.0, math.floor((value - max(0.03, 0.05 * abs(value))) * 1000) / 1000)
    return math.ceil((value * 1.2 + 0.01) * 1000) / 1000


#: How margin_limit sets each limit, appended to every floors file's "about".
MARGIN_ABOUT = ("Margin (fcw/eval/floors.py, margin_limit): each 'min' is the measured figure less "
                "5% of it (at least 0.03), rounded down to 0.001; each 'max' is 1.2x the measured "
                "figure plus 0.01, rounded up; 'measured' holds the figures of the run they were "
                "set from.")


def make_floors(figures: dict[str, tuple[float, str]], dataset: list[str], about: str = ABOUT,
                **meta: Any) -> dict[str, Any]:
    """The floors file's content; ``meta`` (e.g. the model) is recorded beside the dataset."""
    return {"about": f"{about} {MARGIN_ABOUT}", "dataset": dataset, **meta,
            "floors": {k: {b: margin_limit(v, b)} for k, (v, b) in sorted(figures.items())},
            "measured": {k: round(v, 4) for k, (v, _) in sorted(figures.items())}}


def load_floors(path: Path) -> dict[str, dict[str, float]]:
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        floors = doc["floors"]
        for name, limit in floors.items():
            if not (isinstance(limit, dict) and len(limit) == 1 and set(limit) <= {"min", "max"}):
                raise ValueError(f"floors.{name}: expected {{\"min\": x}} or {{\"max\": x}}")
        return floors
    except OSError as exc:
        raise EvalError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EvalError(f"{path}: not a floors file: {exc}") from None


def check_floors(figures: dict[str, tuple[float, str]],
                 floors: dict[str, dict[str, float]]) -> list[str]:
    """One line per figure outside its limit, without a limit, or with a limit but not measured."""
    failures = []
    for name, limit in sorted(floors.items()):
        if name not in figures:
            failures.append(f"{name}: not measured (limit {limit})")
            continue
        value, better = figures[name]
        kind, bound = next(iter(limit.items()))
        if kind != better:
            failures.append(f"{name}: the limit is a {kind}, but this figure is better when "
                            f"{'higher' if better == 'min' else 'lower'}")
        elif (kind == "min" and value < bound) or (kind == "max" and value > bound):
            side = "below the floor" if kind == "min" else "above the ceiling"
            failures.append(f"{name}: {value:.4g} is {side} {bound}")
    failures += [f"{name}: {value:.4g} has no floor (add it with --write-floors)"
                 for name, (value, _) in sorted(figures.items()) if name not in floors]
    return failures
