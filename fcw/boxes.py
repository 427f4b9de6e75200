"""Box geometry shared by every stage: xyxy boxes in pixels, vectorised over leading axes."""
from __future__ import annotations

import numpy as np


def box_area(xyxy: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy, dtype=float)
    w = np.clip(xyxy[..., 2] - xyxy[..., 0], 0, None)
    h = np.clip(xyxy[..., 3] - xyxy[..., 1], 0, None)
    return w * h


def box_center(xyxy: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy, dtype=float)
    return 0.5 * (xyxy[..., :2] + xyxy[..., 2:])


def box_diagonal(xyxy: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy, dtype=float)
    return np.hypot(xyxy[..., 2] - xyxy[..., 0], xyxy[..., 3] - xyxy[..., 1])


def _intersection(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise intersection areas of two box sets, broadcast to (N, 1, 4) and (1, M, 4)."""
    a = np.asarray(a, dtype=float).reshape(-1, 4)[:, None, :]
    b = np.asarray(b, dtype=float).reshape(-1, 4)[None, :, :]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    return iw * ih, a, b


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) intersection over union of two sets of xyxy boxes."""
    inter, a, b = _intersection(a, b)
    union = box_area(a) + box_area(b) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def containment(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) fraction of each box of ``a`` that lies inside each box of ``b``."""
    inter, a, _ = _intersection(a, b)
    return inter / np.maximum(box_area(a), 1e-12)
