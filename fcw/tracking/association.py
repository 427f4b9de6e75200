"""Matching predicted track boxes to detections: box geometry, a gated cost and Hungarian.

IoU alone fails for the boxes FCW cares about most: a lead closing fast grows between frames
(and a dropped frame makes the step larger), so a correct pair can have a poor IoU. The centre
distance, normalised by the boxes' size, stays small for such a pair and breaks IoU ties.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from fcw.boxes import box_center, box_diagonal, iou_matrix


@dataclass(frozen=True)
class Assignment:
    """matches: (K, 2) int rows of (track index, detection index); the rest unmatched."""

    matches: np.ndarray
    unmatched_tracks: np.ndarray
    unmatched_detections: np.ndarray


def cost_matrix(track_xyxy: np.ndarray, det_xyxy: np.ndarray, iou_weight: float,
                center_weight: float) -> np.ndarray:
    """iou_weight * (1 - IoU) + center_weight * centre distance / mean of the two diagonals."""
    t = np.asarray(track_xyxy, dtype=float).reshape(-1, 4)
    d = np.asarray(det_xyxy, dtype=float).reshape(-1, 4)
    dist = np.linalg.norm(box_center(t)[:, None, :] - box_center(d)[None, :, :], axis=2)
    size = 0.5 * (box_diagonal(t)[:, None] + box_diagonal(d)[None, :])
    return iou_weight * (1.0 - iou_matrix(t, d)) + center_weight * dist / np.maximum(size, 1e-6)


def assign(cost: np.ndarray, max_cost: float) -> Assignment:
    """Minimum-cost one-to-one matching in which pairs costing more than max_cost are forbidden."""
    cost = np.asarray(cost, dtype=float)
    n_t, n_d = cost.shape
    allowed = cost <= max_cost
    # Forbidden pairs get a cost no allowed set of pairs can reach, so the solver never trades
    # an allowed match away for them; any it still returns is dropped below.
    big = max_cost * (min(n_t, n_d) + 1) + 1.0
    rows, cols = linear_sum_assignment(np.where(allowed, cost, big)) if cost.size else ([], [])
    keep = [(r, c) for r, c in zip(rows, cols) if allowed[r, c]]
    matches = np.array(keep, dtype=int).reshape(-1, 2)
    return Assignment(
        matches=matches,
        unmatched_tracks=np.setdiff1d(np.arange(n_t), matches[:, 0]),
        unmatched_detections=np.setdiff1d(np.arange(n_d), matches[:, 1]),
    )


def associate(track_xyxy: np.ndarray, det_xyxy: np.ndarray, iou_weight: float,
              center_weight: float, max_cost: float) -> Assignment:
    return assign(cost_matrix(track_xyxy, det_xyxy, iou_weight, center_weight), max_cost)
