"""Which of the lights in view governs the ego lane, and what the crops say about its state.

Of the proposals the crop classifier calls lit and that hang high enough above the horizon to
be a signal head (``min_elevation_heads``, see ``head_elevation``), the two boxes of one warm
blob are reduced to the one that fits a head better and duplicates (a blob box and the
detector's box of one head) to the surer one. Each remaining head gets a weight, how likely it
is to be the ego lane's:

    weight = P(lit) * exp(-dx^2 / (2 (position_sigma_frac * W)^2)) * min(1, h / (size_ref_frac * H))
             * (1 + detector_bonus if the detector also boxed it as a traffic light)
             * (1 + persistence_bonus if it continues last frame's governing light)

dx being the horizontal distance from the vanishing point (the ego lane's heads hang over it or
just beside it, a crossing street's stand far to the side), h the box height (a nearer head is
bigger), the detector bonus the agreement of the two proposal sources, and the persistence bonus
the agreement over frames that keeps the choice from hopping between two similar heads.

The heads that may govern are the group of the heaviest ones (weight at least ``pool_frac`` of
the heaviest): an approach usually has two or three heads over the lane showing one state, while
a head for another road, a far intersection's or a lamp-like distractor weighs less. Within that
group each head votes for the state it shows, with its weight. A state that gathers at least
``agree_share`` of the votes governs, and the evidence is the weight-averaged probabilities of the
heads that show it; otherwise the heads disagree (a left-turn arrow red beside a green for the
lane, two streets' heads in view) and the evidence is "unknown", with the group as candidates:
fcw does not pick one at random.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fcw.boxes import box_center, iou_matrix
from fcw.config import LightsConfig
from fcw.types import LightState, _check_rows

from .classify import STATES
from .proposals import DETECTOR, LightProposals

_NONE = STATES.index(LightState.NONE)
_UNKNOWN = STATES.index(LightState.UNKNOWN)
# The states a lit head can show, as indices into STATES.
_LIT = np.array([STATES.index(s) for s in (LightState.RED, LightState.YELLOW, LightState.GREEN)])
_DUPLICATE_IOU = 0.3


@dataclass(frozen=True)
class LightCandidate:
    """The crops' reading of one frame.

    xyxy: (4,) float32 pixels of the governing head, or None when the heads disagree.
    probs: (5,) over STATES, the evidence (UNKNOWN carries it when the heads disagree).
    weight: the governing head's ranking weight (the heaviest head's when they disagree).
    heads_xyxy: (N, 4) float32, every lit head; heads_state: (N,) the state each one shows;
    heads_weight: (N,) float64, each one's ranking weight.
    candidates: indices into the heads of the group that may govern, heaviest first.
    """

    xyxy: np.ndarray | None
    probs: np.ndarray
    weight: float
    heads_xyxy: np.ndarray
    heads_state: tuple[LightState, ...]
    heads_weight: np.ndarray
    candidates: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.xyxy is not None and np.shape(self.xyxy) != (4,):
            raise ValueError(f"LightCandidate.xyxy must have shape (4,), got {np.shape(self.xyxy)}")
        if np.shape(self.probs) != (len(STATES),):
            raise ValueError(f"LightCandidate.probs must have shape ({len(STATES)},)")
        _check_rows("LightCandidate.heads_xyxy", self.heads_xyxy, len(self.heads_state), (4,))
        _check_rows("LightCandidate.heads_weight", self.heads_weight, len(self.heads_state))

    @property
    def disagree(self) -> bool:
        return self.xyxy is None


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


def head_elevation(xyxy: np.ndarray, horizon_y_px: float) -> np.ndarray:
    """(N,) how far each box's centre is above the horizon, in its own heights.

    A signal head hangs 2.5-6 m up and is about 1 m tall, so at any range its centre is 1.5-4
    head heights above the horizon (for a camera 1.2-1.7 m high); tail and brake lights, a
    lamp-sized blob on a vehicle, sit at or below it."""
    b = np.asarray(xyxy, float).reshape(-1, 4)
    h = np.maximum(b[:, 3] - b[:, 1], 1.0)
    return (horizon_y_px - (b[:, 1] + b[:, 3]) / 2) / h


class GoverningLightSelector:
    """``update(...) -> LightCandidate | None``; remembers the last choice for the persistence
    bonus."""

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

    def reset(self) -> None:
        self._last = None

    def update(self, t_s: float, width: int, height: int, vp_x_px: float, horizon_y_px: float,
               proposals: LightProposals, probs: np.ndarray) -> LightCandidate | None:
        kept, boxed = lit_heads(proposals, probs, self.cfg.min_lit_prob)
        high = head_elevation(proposals.xyxy[kept], horizon_y_px) >= self.cfg.min_elevation_heads
        kept, boxed = kept[high], boxed[high]
        if not len(kept):
            return None
        heads = probs[kept].astype(np.float64)
        boxes = proposals.xyxy[kept].astype(np.float32)
        shows = _LIT[np.argmax(heads[:, _LIT], axis=1)]
        states = tuple(STATES[i] for i in shows)
        w = self.weights(t_s, width, height, vp_x_px, boxes, 1.0 - heads[:, _NONE], boxed)
        if w.max() < self.cfg.min_governing_score:
            return None
        pool = np.nonzero(w >= self.cfg.pool_frac * w.max())[0]
        pool = pool[np.argsort(-w[pool], kind="stable")]
        votes = {int(k): float(w[pool][shows[pool] == k].sum()) for k in set(shows[pool].tolist())}
        winner = max(votes, key=lambda k: votes[k])
        if votes[winner] < self.cfg.agree_share * sum(votes.values()):
            evidence = np.zeros(len(STATES))
            evidence[_UNKNOWN] = float(np.average(1.0 - heads[pool, _NONE], weights=w[pool]))
            evidence[_NONE] = 1.0 - evidence[_UNKNOWN]
            self._last = None
            return LightCandidate(None, evidence.astype(np.float32), float(w[pool[0]]), boxes,
                                  states, w, tuple(int(i) for i in pool))
        agree = pool[shows[pool] == winner]
        evidence = (w[agree, None] * heads[agree]).sum(0) / w[agree].sum()
        best = int(agree[0])
        self._last = (t_s, boxes[best])
        return LightCandidate(boxes[best], evidence.astype(np.float32), float(w[best]), boxes,
                              states, w, tuple(int(i) for i in pool))
