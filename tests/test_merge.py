"""nms, soft_nms and weighted_fusion on hand-made boxes with hand-computed expectations."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fcw.perception.merge import nms, soft_nms, weighted_fusion
from fcw.types import Detections

CAR, TRUCK = 2, 7


def D(rows):
    """Detections from [(x1, y1, x2, y2, score, class)]."""
    a = np.asarray(rows, float).reshape(-1, 6)
    return Detections(a[:, :4].astype(np.float32), a[:, 4].astype(np.float32),
                      a[:, 5].astype(np.int32))


def boxes(d):
    return [list(map(float, b)) for b in d.xyxy]


A = (0, 0, 10, 10)
A_DUP = (1, 1, 11, 11)      # IoU with A = 81 / 119 = 0.68
NEIGHBOUR = (5, 0, 15, 10)  # IoU with A = 50 / 150 = 1/3: a second car half behind the first
FAR = (50, 50, 60, 60)


def test_nms_suppresses_duplicates():
    d = nms(D([(*A_DUP, 0.8, CAR), (*FAR, 0.7, CAR), (*A, 0.9, CAR)]), 0.45)
    assert sorted(boxes(d)) == sorted([list(map(float, FAR)), list(map(float, A))])
    assert sorted(d.score.tolist()) == pytest.approx([0.7, 0.9])


def test_nms_greedy_chain():
    # A-B and B-C overlap above the threshold, A-C (IoU 0.25) does not: greedy NMS keeps A and C.
    d = nms(D([(0, 0, 10, 10, 0.9, CAR), (3, 0, 13, 10, 0.8, CAR), (6, 0, 16, 10, 0.7, CAR)]), 0.45)
    assert d.score.tolist() == pytest.approx([0.9, 0.7])


def test_overlapping_cars_hard_vs_soft():
    dets = D([(*A, 0.9, CAR), (*NEIGHBOUR, 0.8, CAR)])
    assert len(nms(dets, 0.3)) == 1          # tight threshold: the second car is lost
    assert len(nms(dets, 0.45)) == 2
    s = soft_nms(dets, sigma=0.5, score_threshold=0.35)
    assert len(s) == 2                       # soft-NMS keeps both, the second one decayed
    got = dict(zip(map(tuple, boxes(s)), s.score.tolist()))
    assert got[tuple(map(float, A))] == pytest.approx(0.9)
    assert got[tuple(map(float, NEIGHBOUR))] == pytest.approx(0.8 * math.exp(-(1 / 3) ** 2 / 0.5),
                                                              rel=1e-5)


def test_soft_nms_drops_duplicates_below_threshold():
    # A duplicate decays to 0.8 * exp(-0.68^2 / 0.5) = 0.32 < 0.35
    iou = 81 / 119
    assert 0.8 * math.exp(-iou ** 2 / 0.5) < 0.35
    s = soft_nms(D([(*A, 0.9, CAR), (*A_DUP, 0.8, CAR), (*FAR, 0.7, CAR)]), 0.5,
                 score_threshold=0.35)
    assert sorted(s.score.tolist()) == pytest.approx([0.7, 0.9])
    # an identical box decays by exp(-2) and is gone too
    s = soft_nms(D([(*A, 0.9, CAR), (*A, 0.8, CAR)]), 0.5, score_threshold=0.35)
    assert len(s) == 1 and s.score[0] == pytest.approx(0.9)


def test_weighted_fusion_is_score_weighted_mean():
    d = weighted_fusion(D([(*A, 0.9, CAR), (*A_DUP, 0.6, CAR), (*FAR, 0.7, TRUCK)]), 0.45)
    assert len(d) == 2
    fused = d[[int(np.argmax(d.score))]]
    # (0.9 * A + 0.6 * A_DUP) / 1.5 = A + 0.4
    np.testing.assert_allclose(fused.xyxy[0], [0.4, 0.4, 10.4, 10.4], atol=1e-5)
    assert fused.score[0] == pytest.approx(0.9) and fused.class_id[0] == CAR
    lone = d[[int(np.argmin(d.score))]]
    np.testing.assert_allclose(lone.xyxy[0], FAR)
    assert lone.class_id[0] == TRUCK


def test_class_aware_vs_agnostic():
    dets = D([(*A, 0.9, CAR), (*A_DUP, 0.8, TRUCK)])
    assert len(nms(dets, 0.45, class_agnostic=True)) == 1
    kept = nms(dets, 0.45, class_agnostic=False)
    assert sorted(kept.class_id.tolist()) == [CAR, TRUCK]

    assert len(weighted_fusion(dets, 0.45, class_agnostic=True)) == 1
    f = weighted_fusion(dets, 0.45, class_agnostic=False)
    assert len(f) == 2
    for b, c in zip(f.xyxy, f.class_id):  # nothing fused across classes
        np.testing.assert_allclose(b, A if c == CAR else A_DUP)

    s = soft_nms(dets, 0.5, score_threshold=0.05, class_agnostic=False)
    assert sorted(s.score.tolist()) == pytest.approx([0.8, 0.9])  # no decay across classes
    s = soft_nms(dets, 0.5, score_threshold=0.05, class_agnostic=True)
    assert sorted(s.score.tolist()) == pytest.approx([0.8 * math.exp(-(81 / 119) ** 2 / 0.5), 0.9],
                                                     rel=1e-5)


@pytest.mark.parametrize("agnostic", [True, False])
def test_empty_input(agnostic):
    e = Detections.empty()
    for out in (nms(e, 0.45, agnostic), weighted_fusion(e, 0.45, agnostic),
                soft_nms(e, 0.5, 0.05, agnostic)):
        assert len(out) == 0 and out.xyxy.shape == (0, 4)


def test_single_box_passes_through():
    d = D([(*A, 0.9, CAR)])
    for out in (nms(d), weighted_fusion(d), soft_nms(d)):
        assert len(out) == 1
        np.testing.assert_allclose(out.xyxy[0], A)
        assert out.score[0] == pytest.approx(0.9) and out.class_id[0] == CAR
