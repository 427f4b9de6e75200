"""Which of the lights in view governs the ego lane, and what the crops say about its state.

Of the proposals the crop classifier calls lit, the two boxes of one warm blob are reduced to the
one that fits a head better and duplicates (a blob box and the detector's box of one head) to
the surer one. Each remaining head gets a weight, how likely it is to be the ego lane's:

    weight = P(lit) * exp(-dx^2 / (2 (position_sigma_frac * W)^2)) * min(1, h / (size_ref_frac * H))
             * (1 + detector_bonus if the detector also boxed it as a traffic light)
             * (1 + persistence_bonus if it continues last frame's governing light)

dx being the horizontal distance from the vanishing point (the ego lane's heads hang over it or
just beside it, a crossing street's stand far to the side), h the box height (a nearer head is
bigger), the detector bonus the agreement of the two proposal sources, and the persistence bonus
the agreement over frames that keeps the choice from hopping between two similar heads.

An approach usually has two or three heads showing the same state, while a lamp-like distractor
(a lit window, a sign) stands alone; so the crop evidence is the weight-averaged probabilities of
all lit heads, and the governing light is the heaviest head that shows the winning state.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fcw.boxes import box_center, iou_matrix
from fcw.config import LightsConfig

from .classify import STATES
from .proposals import DETECTOR, LightProposals

_NONE = 0  # index of LightState.NONE in STATES
_DUPLICATE_IOU = 0.3


@dataclass(frozen=True)
class LightCandidate:
    """The governing head: xyxy (4,) float32 pixels; probs (4,) over STATES, the weighted
    evidence of all lit heads; weight, its own ranking weight."""

    xyxy: np.ndarray
    probs: np.ndarray
    weight: float

    def __post_init__(self) -> None:
        if np.shape(self.xyxy) != (4,) or np.shape(self.probs) != (len(STATES),):
            raise ValueError("LightCandidate needs xyxy (4,) and probs (4,)")


def lit_heads(proposals: LightProposals, probs: np.ndarray, min_lit_prob: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the proposals kept as distinct lit heads, surest first; whether each one was
    also boxed by the detector)."""
    lit = 1.0 - probs[:, _NONE]
    idx = [int(i) for i in np.argsort(-lit, kind="stable") if lit[i] >= min_lit_prob]
    kept: list[int] = []
    seen_blobs: set[int] = set()
    for i in idx:
        blob = int(proposals.blob[i])
        if blob >= 0 and blob in seen_blobs:
            continue  # the other placement of a blob already kept
        if kept and iou_matrix(proposals.xyxy[i], proposals.xyxy[kept]).max() > _DUPLICATE_IOU:
            continue
        kept.append(i)
        if blob >= 0:
            seen_blobs.add(blob)
    kept_a = np.asarray(kept, int)
    det = proposals.source == DETECTOR
    if not len(kept_a) or not det.any():
        return kept_a, np.zeros(len(kept_a), bool)
    boxed = (iou_matrix(proposals.xyxy[kept_a], proposals.xyxy[det]) > _DUPLICATE_IOU).any(1)
    return kept_a, boxed | det[kept_a]


class GoverningLightSelector:
    """``update(...) -> LightCandidate | None``; remembers the last choice for the persistence bonus."""

    def __init__(self, cfg: LightsConfig) -> None:
        self.cfg = cfg
        self._last: tuple[float, np.ndarray] | None = None  # (t_s, box) of the last governing light

    def weights(self, t_s: float, width: int, height: int, vp_x_px: float, boxes: np.ndarray,
                lit: np.ndarray, boxed: np.ndarray) -> np.ndarray:
        cfg = self.cfg
        boxes = np.asarray(boxes, float)
        centres = box_center(boxes)
        dx = (centres[:, 0] - vp_x_px) / (cfg.position_sigma_frac * width)
        size = np.minimum(1.0, (boxes[:, 3] - boxes[:, 1]) / (cfg.size_ref_frac * height))
        w = lit * np.exp(-0.5 * dx * dx) * size * np.where(boxed, 1.0 + cfg.detector_bonus, 1.0)
        last = self._last
        if last is not None and 0.0 <= t_s - last[0] <= cfg.persistence_s:
            prev_h = max(float(last[1][3] - last[1][1]), 1.0)
            near = np.hypot(*(centres - box_center(last[1])).T) <= 1.5 * prev_h
            w = w * np.where(near, 1.0 + cfg.persistence_bonus, 1.0)
        return w

    def update(self, t_s: float, width: int, height: int, vp_x_px: float,
               proposals: LightProposals, probs: np.ndarray) -> LightCandidate | None:
        kept, boxed = lit_heads(proposals, probs, self.cfg.min_lit_prob)
        if not len(kept):
            return None
        heads = probs[kept].astype(np.float64)
        w = self.weights(t_s, width, height, vp_x_px, proposals.xyxy[kept], 1.0 - heads[:, _NONE],
                         boxed)
        if w.max() < self.cfg.min_governing_score:
            return None
        evidence = (w[:, None] * heads).sum(0) / w.sum()
        lit_state = 1 + int(np.argmax(evidence[1:]))
        showing = heads.argmax(1) == lit_state
        best = int(np.argmax(np.where(showing, w, -1.0))) if showing.any() else int(np.argmax(w))
        box = proposals.xyxy[kept[best]].astype(np.float32)
        self._last = (t_s, box)
        return LightCandidate(box, evidence.astype(np.float32), float(w[best]))
