"""FastestDet's output decoder, vectorised over the whole grid.

The model predicts, per cell (x, y) of a G x G grid: objectness, 4 box terms (tx, ty, tw, th) and
the class probabilities. Its authors decode score = obj^0.6 * max(cls)^0.4, centre =
((tanh(tx) + x) / G, (tanh(ty) + y) / G) and size = (sigmoid(tw), sigmoid(th)), all relative to
the network input, which is the (crop of the) frame resized without letterbox, so relative
coordinates map straight back to the frame.
"""
from __future__ import annotations

import numpy as np

from fcw.types import Detections


def decode_fastestdet(out: np.ndarray, score_threshold: float, width: float, height: float,
                      keep_classes: np.ndarray | None = None) -> Detections:
    """Detections in pixels of a ``width`` x ``height`` image from one (5 + C, G, G) output."""
    obj, reg, cls = out[0], out[1:5], out[5:]
    # The best class's probability is the max; which class it is matters only for the few
    # cells above the threshold, so the argmax over all classes runs on those alone.
    score = obj ** 0.6 * cls.max(axis=0) ** 0.4
    ys, xs = np.nonzero(score > score_threshold)
    best_cls = cls[:, ys, xs].argmax(axis=0)
    if keep_classes is not None:
        kept = np.isin(best_cls, keep_classes)
        ys, xs, best_cls = ys[kept], xs[kept], best_cls[kept]
    if len(ys) == 0:
        return Detections.empty()
    gh, gw = obj.shape
    tx, ty, tw, th = reg[:, ys, xs]
    cx = (np.tanh(tx) + xs) / gw * width
    cy = (np.tanh(ty) + ys) / gh * height
    w = width / (1.0 + np.exp(-tw))
    h = height / (1.0 + np.exp(-th))
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    np.clip(xyxy, 0, [width, height, width, height], out=xyxy)
    return Detections(xyxy.astype(np.float32), score[ys, xs].astype(np.float32),
                      best_cls.astype(np.int32))
