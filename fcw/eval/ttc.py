"""TTC accuracy: relative error of the lead's TTC against the truth, bucketed by true TTC.

The buckets are TSTTC's (Shi et al., 2023): 0-3 s (the urgent cases), 3-6 s and 6-20 s. Every
labelled frame whose lead is closing (true TTC known) counts. As TTC benchmarks do, two figures
are kept apart: coverage, the fraction of those frames where fcw has a lead at all (how far the
detector and tracker reach), and the relative error over the frames where it has one; a frame
where fcw has a lead but gives no TTC counts as a 100% error, so silence never looks accurate.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from fcw.eval.runner import ClipRun

BUCKETS_S: dict[str, tuple[float, float]] = {"0-3s": (0.0, 3.0), "3-6s": (3.0, 6.0),
                                             "6-20s": (6.0, 20.0)}
MISSING_ERROR = 1.0


class TtcPair(NamedTuple):
    true_s: float
    estimate_s: float | None
    has_lead: bool


def ttc_pairs(run: ClipRun) -> list[TtcPair]:
    """One pair for every labelled frame with a closing lead."""
    out = {f.index: f for f in run.frames}
    pairs = []
    for fl in run.clip.labels.frames:
        f = out.get(fl.frame)
        if f is None or fl.lead is None or fl.lead.ttc_s is None or fl.lead.ttc_s <= 0:
            continue
        pairs.append(TtcPair(fl.lead.ttc_s, f.ttc_s, f.lead_id is not None))
    return pairs


def relative_errors(pairs: Sequence[TtcPair]) -> np.ndarray:
    """(N, 2): true TTC and |estimate - truth| / truth; ``MISSING_ERROR`` where fcw has a lead
    but no TTC, NaN where it has no lead."""
    return np.array([(p.true_s, np.nan if not p.has_lead else MISSING_ERROR
                      if p.estimate_s is None else abs(p.estimate_s - p.true_s) / p.true_s)
                     for p in pairs], float).reshape(-1, 2)


def evaluate_ttc(runs: Sequence[ClipRun]) -> dict[str, Any]:
    """Per bucket: frames, coverage, frames with an estimate, median and p90 relative error."""
    pairs = [p for r in runs for p in ttc_pairs(r)]
    errs = relative_errors(pairs)
    has = np.array([p.estimate_s is not None for p in pairs], bool)
    out = {}
    for name, (lo, hi) in BUCKETS_S.items():
        m = (errs[:, 0] >= lo) & (errs[:, 0] < hi)
        e = errs[m, 1]
        e = e[~np.isnan(e)]
        out[name] = {
            "frames": int(m.sum()),
            "coverage": round(len(e) / int(m.sum()), 4) if m.any() else None,
            "with_estimate": int(has[m].sum()),
            "median_rel_error": round(float(np.median(e)), 4) if len(e) else None,
            "p90_rel_error": round(float(np.percentile(e, 90)), 4) if len(e) else None,
        }
    return out
