"""The vectorised FastestDet decoder against a slow cell-by-cell reference on real model outputs.

The reference is written from the model's description in shared/README.md (the authors' own
post-processing), one grid cell at a time in float64.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from dettools import assert_matches_reference

from fcw.perception.fastestdet import decode_fastestdet

KEEP = np.array([2, 3, 5, 7, 9])  # car, motorbike, bus, truck, traffic light


def reference_decode(out, thr, width, height, keep=None):
    """[(x1, y1, x2, y2, score, cls)] for every cell above ``thr``, boxes clipped to the image."""
    c, gh, gw = out.shape
    rows = []
    for y in range(gh):
        for x in range(gw):
            cell = [float(v) for v in out[:, y, x]]
            obj, tx, ty, tw, th, cls = cell[0], cell[1], cell[2], cell[3], cell[4], cell[5:]
            k = max(range(len(cls)), key=lambda i: cls[i])
            score = obj ** 0.6 * cls[k] ** 0.4
            if score <= thr or (keep is not None and k not in keep):
                continue
            cx = (math.tanh(tx) + x) / gw
            cy = (math.tanh(ty) + y) / gh
            bw = 1.0 / (1.0 + math.exp(-tw))
            bh = 1.0 / (1.0 + math.exp(-th))
            box = [(cx - bw / 2) * width, (cy - bh / 2) * height,
                   (cx + bw / 2) * width, (cy + bh / 2) * height]
            box = [min(max(v, 0.0), lim) for v, lim in zip(box, (width, height, width, height))]
            rows.append((*box, score, k))
    return rows


@pytest.fixture(scope="module")
def real_outputs(fastestdet_backend, highway_images, dlib_image):
    """(name, image width, height, raw output) for the six highway frames and the dlib street."""
    images = dict(highway_images, dlib=dlib_image)
    return [(name, img.shape[1], img.shape[0], fastestdet_backend.infer([img])[0])
            for name, img in images.items()]


def _compare(dets, ref):
    assert_matches_reference(dets, ref, box_atol_px=1e-3)


@pytest.mark.parametrize("thr", [0.2, 0.35])
def test_matches_reference_on_real_frames(real_outputs, thr):
    total = 0
    for _name, w, h, out in real_outputs:
        ref = reference_decode(out, thr, w, h)
        _compare(decode_fastestdet(out, thr, w, h), ref)
        total += len(ref)
    assert total >= 10  # the frames hold cars: the comparison is not vacuous


def test_matches_reference_with_keep_classes(real_outputs):
    thr, removed, kept = 0.2, 0, 0
    for _name, w, h, out in real_outputs:
        ref_all = reference_decode(out, thr, w, h)
        ref = reference_decode(out, thr, w, h, keep=set(KEEP.tolist()))
        _compare(decode_fastestdet(out, thr, w, h, keep_classes=KEEP), ref)
        removed += len(ref_all) - len(ref)
        kept += len(ref)
    assert kept > 0 and removed > 0  # the filter was exercised both ways


def test_crop_size_scales_boxes(real_outputs):
    # The same output decoded for a crop of another size: boxes scale per axis.
    _, w, h, out = real_outputs[0]
    a = decode_fastestdet(out, 0.3, w, h)
    b = decode_fastestdet(out, 0.3, 512, 252)
    assert len(a) == len(b) > 0
    np.testing.assert_allclose(b.xyxy, a.xyxy * np.float32([512 / w, 252 / h] * 2), atol=1e-3)


def test_hand_built_cell():
    out = np.zeros((85, 22, 22), np.float32)
    out[5] = 1.0  # every cell: class 0 with probability 1, objectness 0 -> score 0
    out[0, 7, 5] = 0.5 ** (1 / 0.6)  # obj^0.6 = 0.5
    out[5:, 7, 5] = 0.0
    out[5 + 2, 7, 5] = 0.8  # car
    out[1:5, 7, 5] = [0.0, 0.0, 0.0, 0.0]  # centre at the cell corner, size sigmoid(0) = 1/2
    d = decode_fastestdet(out, 0.3, 2200.0, 1100.0)
    assert len(d) == 1 and d.class_id[0] == 2
    assert d.score[0] == pytest.approx(0.5 * 0.8 ** 0.4, rel=1e-6)
    # centre (5/22 * 2200, 7/22 * 1100) = (500, 350), size (1100, 550): x1 = -50 is clipped to 0
    np.testing.assert_allclose(d.xyxy[0], [0.0, 75.0, 1050.0, 625.0], atol=1e-3)
    assert len(decode_fastestdet(out, 0.3, 2200.0, 1100.0, keep_classes=np.array([7]))) == 0
    assert len(decode_fastestdet(out, 0.99, 2200.0, 1100.0)) == 0
