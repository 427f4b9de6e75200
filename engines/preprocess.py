"""CPU pre-processing of BGR frames into a model's input tensor, as its spec describes."""
from __future__ import annotations

import cv2
import numpy as np

from .spec import InputSpec

_INTERP = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR}


def preprocess(images: list[np.ndarray], spec: InputSpec) -> np.ndarray:
    """(N, 3, H, W) float32 from N BGR uint8 images of any size."""
    out = np.empty((len(images), 3, spec.height, spec.width), np.float32)
    interp = _INTERP[spec.resize]
    mean = np.asarray(spec.mean, np.float32).reshape(3, 1, 1)
    for i, img in enumerate(images):
        if spec.resize_to:
            img = cv2.resize(img, tuple(spec.resize_to), interpolation=interp)
            if spec.crop == "center":
                y0 = (img.shape[0] - spec.height) // 2
                x0 = (img.shape[1] - spec.width) // 2
                img = img[y0:y0 + spec.height, x0:x0 + spec.width]
        else:
            img = cv2.resize(img, (spec.width, spec.height), interpolation=interp)
        if spec.color == "RGB":
            img = img[:, :, ::-1]
        chw = img.transpose(2, 0, 1)
        np.subtract(chw, mean, out=out[i], dtype=np.float32)
        if spec.scale != 1.0:
            out[i] *= spec.scale
    return out
