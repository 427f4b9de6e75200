"""Comparing a decoder's Detections with a slow reference decoder's rows, for the decoder tests."""
import numpy as np


def assert_matches_reference(dets, ref, box_atol_px):
    """``ref``: rows of (x1, y1, x2, y2, score, class). Both sets come from the same cells and
    their scores are distinct, so they are matched by score order."""
    assert len(dets) == len(ref)
    if not ref:
        return
    ref = np.array(ref)
    r = ref[np.argsort(-ref[:, 4], kind="stable")]
    o = np.argsort(-dets.score, kind="stable")
    np.testing.assert_allclose(dets.xyxy[o], r[:, :4], rtol=0, atol=box_atol_px)
    np.testing.assert_allclose(dets.score[o], r[:, 4], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(dets.class_id[o], r[:, 5].astype(int))
    assert dets.xyxy.dtype == np.float32 and dets.class_id.dtype == np.int32
