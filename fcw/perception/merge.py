"""Vectorised box geometry and the three ways of merging overlapping boxes.

``nms`` is the classic greedy suppression; ``soft_nms`` decays the scores of overlapping boxes
instead of dropping them (Bodla et al. 2017, used by the Nexar rear-vehicle winner) so that two
cars that overlap in the image both survive; ``weighted_fusion`` replaces each cluster by the
score-weighted mean box (the runner-up's "flexible NMS"), which steadies box edges, and so the
scale rate that TTC is computed from.
"""
from __future__ import annotations

import numpy as np

from fcw.boxes import iou_matrix
from fcw.types import Detections


def _groups(dets: Detections, class_agnostic: bool) -> list[np.ndarray]:
    if class_agnostic:
        return [np.arange(len(dets))]
    return [np.nonzero(dets.class_id == c)[0] for c in np.unique(dets.class_id)]


def _clusters(xyxy: np.ndarray, score: np.ndarray, iou_threshold: float):
    """Greedy clusters: (keeper index, member indices) in descending score order."""
    order = np.argsort(-score, kind="stable")
    iou = iou_matrix(xyxy, xyxy)
    alive = np.ones(len(score), bool)
    for i in order:
        if not alive[i]:
            continue
        joins = alive & (iou[i] > iou_threshold)
        joins[i] = True  # even a degenerate box, whose IoU with itself is 0
        members = np.flatnonzero(joins)
        alive[members] = False
        yield i, members


def nms(dets: Detections, iou_threshold: float = 0.45, class_agnostic: bool = True) -> Detections:
    keep = [idx[k] for idx in _groups(dets, class_agnostic)
            for k, _ in _clusters(dets.xyxy[idx], dets.score[idx], iou_threshold)]
    return dets[np.sort(np.asarray(keep, dtype=int))]


def weighted_fusion(dets: Detections, iou_threshold: float = 0.45,
                    class_agnostic: bool = True) -> Detections:
    boxes, scores, classes = [], [], []
    for idx in _groups(dets, class_agnostic):
        xyxy, score = dets.xyxy[idx], dets.score[idx]
        for k, members in _clusters(xyxy, score, iou_threshold):
            w = score[members][:, None]
            boxes.append((xyxy[members] * w).sum(0) / w.sum())
            scores.append(score[k])
            classes.append(dets.class_id[idx][k])
    if not boxes:
        return Detections.empty()
    return Detections(np.asarray(boxes, np.float32), np.asarray(scores, np.float32),
                      np.asarray(classes, np.int32))


def soft_nms(dets: Detections, sigma: float = 0.5, score_threshold: float = 0.05,
             class_agnostic: bool = True) -> Detections:
    """Gaussian soft-NMS: each pick decays the others' scores by exp(-IoU^2 / sigma)."""
    keep_idx, keep_score = [], []
    for idx in _groups(dets, class_agnostic):
        xyxy = dets.xyxy[idx]
        score = dets.score[idx].astype(np.float64).copy()
        iou = iou_matrix(xyxy, xyxy)
        remaining = np.ones(len(idx), bool)
        while remaining.any():
            i = np.flatnonzero(remaining)[np.argmax(score[remaining])]
            if score[i] < score_threshold:
                break
            keep_idx.append(idx[i])
            keep_score.append(score[i])
            remaining[i] = False
            score[remaining] *= np.exp(-iou[i, remaining] ** 2 / sigma)
    if not keep_idx:
        return Detections.empty()
    order = np.argsort(keep_idx)
    kept = dets[np.asarray(keep_idx)[order]]
    return Detections(kept.xyxy, np.asarray(keep_score, np.float32)[order], kept.class_id)
