"""Box geometry, the gated cost and the Hungarian assignment."""
import numpy as np
import pytest

from fcw.boxes import iou_matrix
from fcw.tracking.association import assign, associate, cost_matrix


def scaled(box, k):
    """The box grown by k about its centre."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    hw, hh = k * (box[2] - box[0]) / 2, k * (box[3] - box[1]) / 2
    return [cx - hw, cy - hh, cx + hw, cy + hh]


def test_iou_known_values():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]])
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 1 / 3, 0.0, 0.0]])
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 4)


def test_fast_growing_box_still_matches():
    # A lead closing at TTC 1 s seen after three dropped frames grows by ~15 %, and 60 % growth
    # (a very close lead) must still be cheaper than the gate.
    box = [600, 380, 680, 440]
    for k in (1.15, 1.6):
        cost = cost_matrix(np.array([box]), np.array([scaled(box, k)]), 1.0, 1.0)
        assert cost[0, 0] < 1.2
    # ...while the same-size box one width away is gated out.
    far = [680, 380, 760, 440]
    assert cost_matrix(np.array([box]), np.array([far]), 1.0, 1.0)[0, 0] > 1.2


def test_centre_term_breaks_iou_ties():
    track = np.array([[100, 100, 200, 200]])
    # Both detections are outside the track box (IoU 0); the nearer one must cost less.
    dets = np.array([[205, 100, 305, 200], [260, 100, 360, 200]])
    cost = cost_matrix(track, dets, 1.0, 1.0)
    assert cost[0, 0] < cost[0, 1]
    assert cost_matrix(track, dets, 1.0, 0.0)[0, 0] == pytest.approx(1.0)


def test_hungarian_beats_greedy():
    cost = np.array([[0.1, 0.2], [0.15, 0.9]])
    # Greedy would take (0, 0) then (1, 1) for 1.0; the optimum is (0, 1) + (1, 0) = 0.35.
    result = assign(cost, max_cost=1.2)
    assert sorted(map(tuple, result.matches)) == [(0, 1), (1, 0)]


def test_gated_pairs_are_left_unmatched():
    cost = np.array([[0.3, 5.0], [5.0, 5.0], [5.0, 0.4]])
    result = assign(cost, max_cost=1.2)
    assert sorted(map(tuple, result.matches)) == [(0, 0), (2, 1)]
    assert result.unmatched_tracks.tolist() == [1]
    assert result.unmatched_detections.tolist() == []


def test_gate_does_not_steal_an_allowed_match():
    # Taking the forbidden (0, 1) would free (1, 0); the solver must keep the allowed match.
    cost = np.array([[1.0, 5.0], [0.5, 5.0]])
    result = assign(cost, max_cost=1.2)
    assert len(result.matches) == 1 and result.matches[0].tolist() == [1, 0]


def test_empty_sides():
    r = associate(np.zeros((0, 4)), np.array([[0, 0, 10, 10]]), 1.0, 1.0, 1.2)
    assert r.matches.shape == (0, 2) and r.unmatched_detections.tolist() == [0]
    r = associate(np.array([[0, 0, 10, 10]]), np.zeros((0, 4)), 1.0, 1.0, 1.2)
    assert r.unmatched_tracks.tolist() == [0] and r.unmatched_detections.tolist() == []
