"""Multi-object tracking: MOTA and IDF1 of fcw's confirmed vehicle tracks, with py-motmetrics.

Truth is every labelled vehicle with its track id in the labelled frames; a pair counts as a
match at IoU >= 0.5 (MOTChallenge's rule). Labels the detection metrics ignore (tiny or mostly
hidden vehicles) are ignored here too: they are left out of the truth, and a track lying on
one is left out of the hypotheses, so it is neither a miss nor a false positive.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fcw.boxes import iou_matrix
from fcw.eval import require
from fcw.eval.detection import vehicle_truth
from fcw.eval.runner import ClipRun

MATCH_IOU = 0.5


def distances(gt_xyxy: np.ndarray, hyp_xyxy: np.ndarray) -> np.ndarray:
    """1 - IoU, NaN where a pair may not match (motmetrics' convention)."""
    iou = iou_matrix(gt_xyxy, hyp_xyxy).reshape(len(gt_xyxy), len(hyp_xyxy))
    return np.where(iou >= MATCH_IOU, 1.0 - iou, np.nan)


def accumulate(run: ClipRun) -> Any:
    """A motmetrics accumulator over the clip's labelled frames."""
    mm = require("motmetrics", "motmetrics")
    acc = mm.MOTAccumulator(auto_id=False)
    out = {f.index: f for f in run.frames}
    height = run.clip.labels.height
    for fl in run.clip.labels.frames:
        f = out.get(fl.frame)
        if f is None:
            continue
        ids, xyxy, ignore = vehicle_truth(fl.boxes, height)
        hyp_ids, hyp = f.trk_id, f.trk_xyxy
        if ignore.any() and len(hyp):
            on_ignored = (iou_matrix(hyp, xyxy[ignore]) >= MATCH_IOU).any(axis=1)
            hyp_ids, hyp = hyp_ids[~on_ignored], hyp[~on_ignored]
        acc.update(ids[~ignore].tolist(), hyp_ids.tolist(), distances(xyxy[~ignore], hyp),
                   frameid=fl.frame)
    return acc


def evaluate_tracking(runs: Sequence[ClipRun]) -> dict[str, Any]:
    """MOTA, IDF1 and their counts per clip and over all clips; None where nothing is labelled."""
    mm = require("motmetrics", "motmetrics")
    # A clip that boxes only the lead would count every other vehicle as a false track.
    runs = [r for r in runs if r.clip.labels.boxes == "all"
            and any(fl.boxes for fl in r.clip.labels.frames)]
    if not runs:
        return {"overall": None, "clips": {}}
    metrics = ["mota", "idf1", "num_objects", "num_false_positives", "num_misses",
               "num_switches"]
    summary = mm.metrics.create().compute_many(
        [accumulate(r) for r in runs], metrics=metrics, names=[r.clip.name for r in runs],
        generate_overall=True)

    def row(name: str) -> dict[str, Any] | None:
        d = summary.loc[name].to_dict()
        if not d["num_objects"]:
            return None
        return {"mota": round(float(d["mota"]), 4), "idf1": round(float(d["idf1"]), 4),
                **{k: int(d[k]) for k in metrics[2:]}}

    return {"overall": row("OVERALL"), "clips": {r.clip.name: row(r.clip.name) for r in runs}}
