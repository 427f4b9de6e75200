"""YOLOX's output decoder, vectorised over every anchor point of its three scales.

The exported head gives, per anchor point of the stride-8, -16 and -32 grids over the network
input (in that order, each grid row by row): x, y, log w, log h, then objectness and the 80 class
probabilities, the last two already through their sigmoids. Its authors decode (``demo_postprocess``
in YOLOX's ``yolox/utils/demo_utils.py``) centre = (x, y + grid cell) * stride, size =
exp(log w, log h) * stride, score = objectness * class probability; boxes are in pixels of the
letterboxed input, whose image sits at the top-left corner scaled by ``r``, so dividing by ``r``
maps them back to the image.
"""
from __future__ import annotations

import numpy as np

from engines.preprocess import letterbox_ratio
from engines.spec import InputSpec
from fcw.types import Detections


def anchor_grid(input_w: int, input_h: int,
                strides: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(A, 2) grid cell (column, row) and (A,) stride of every anchor point, in output order."""
    cells, steps = [], []
    for s in strides:
        gw, gh = input_w // s, input_h // s
        xs, ys = np.meshgrid(np.arange(gw), np.arange(gh))
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        steps.append(np.full(gw * gh, s))
    return (np.concatenate(cells).astype(np.float32), np.concatenate(steps).astype(np.float32))


class YoloxDecoder:
    """``decoder(out, score_threshold, width, height, keep_classes) -> Detections``.

    ``out`` is one (A, 5 + C) output for a ``width`` x ``height`` image (or crop) that was
    letterboxed into the input ``spec`` describes.
    """

    def __init__(self, spec: InputSpec, strides: tuple[int, ...]) -> None:
        self.spec = spec
        self.grid, self.stride = anchor_grid(spec.width, spec.height, strides)

    def __call__(self, out: np.ndarray, score_threshold: float, width: float, height: float,
                 keep_classes: np.ndarray | None = None) -> Detections:
        if out.shape[0] != len(self.grid):
            raise ValueError(f"YOLOX output has {out.shape[0]} anchor points, the "
                             f"{self.spec.width}x{self.spec.height} input gives {len(self.grid)}")
        obj, cls = out[:, 4], out[:, 5:]
        # score = obj * max(cls) is an upper bound of every class's score: the few points above
        # the threshold are all that need the argmax.
        score = obj * cls.max(axis=1)
        idx = np.flatnonzero(score > score_threshold)
        best_cls = cls[idx].argmax(axis=1)
        if keep_classes is not None:
            kept = np.isin(best_cls, keep_classes)
            idx, best_cls = idx[kept], best_cls[kept]
        if len(idx) == 0:
            return Detections.empty()
        stride = self.stride[idx, None]
        centre = (out[idx, :2] + self.grid[idx]) * stride
        half = np.exp(out[idx, 2:4]) * stride / 2
        r = letterbox_ratio(self.spec, int(width), int(height))
        xyxy = np.concatenate([centre - half, centre + half], axis=1) / r
        np.clip(xyxy, 0, [width, height, width, height], out=xyxy)
        return Detections(xyxy.astype(np.float32), score[idx].astype(np.float32),
                          best_cls.astype(np.int32))
