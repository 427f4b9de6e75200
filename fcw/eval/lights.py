"""Traffic lights: per-frame accuracy of the state fcw reports against the labelled state.

Only frames whose label gives a light state (not null) count; with none, the report says n = 0.
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Sequence

from fcw.eval.runner import ClipRun


def light_pairs(run: ClipRun) -> list[tuple[str, str]]:
    """(labelled state, fcw's state) for each frame with a light label."""
    out = {f.index: f for f in run.frames}
    return [(fl.light.lower(), out[fl.frame].light) for fl in run.clip.labels.frames
            if fl.light is not None and fl.frame in out]


def evaluate_lights(runs: Sequence[ClipRun]) -> dict[str, Any]:
    pairs = [p for r in runs for p in light_pairs(r)]
    correct = sum(truth == got for truth, got in pairs)
    return {
        "n": len(pairs),
        "accuracy": round(correct / len(pairs), 4) if pairs else None,
        # "truth->fcw": frames, to show which confusions there are.
        "confusion": {f"{t}->{g}": n for (t, g), n in sorted(Counter(pairs).items())},
    }
