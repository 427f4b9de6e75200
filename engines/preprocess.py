"""CPU pre-processing of BGR frames into a model's input tensor, as its spec describes."""
from __future__ import annotations

import cv2
import numpy as np

from .spec import InputSpec

_INTERP = {"area": cv2.INTER_AREA, "linear": cv2.INTER_LINEAR}


def _resize(img: np.ndarray, size: tuple[int, int], interp: int) -> np.ndarray:
    """cv2.resize to ``size`` (w, h), with a large area reduction done in two steps.

    OpenCV's INTER_AREA at a non-integer ratio (1280x720 to 352x352) costs about 4 ms, half of
    FastestDet's own run on 2 cores. A bilinear resize to twice the target followed by an exact
    2x2 area average keeps the anti-aliasing at about 1.7 ms; the two differ by under 0.4 grey
    levels on average on the highway frames (tests/test_backends.py holds it to that).
    """
    w, h = size
    if interp == cv2.INTER_AREA and img.shape[1] >= 2 * w and img.shape[0] >= 2 * h:
        img = cv2.resize(img, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(img, (w, h), interpolation=interp)


def letterbox_ratio(spec: InputSpec, width: int, height: int) -> float:
    """Input pixels per image pixel when a ``width`` x ``height`` image is letterboxed."""
    return min(spec.width / width, spec.height / height)


def input_rows_per_image_row(spec: InputSpec, width: int, height: int) -> float:
    """Input pixels per image pixel, vertically, as ``preprocess`` maps a ``width`` x ``height``
    image (a centre crop keeps the scale of the resize before it)."""
    if spec.letterbox:
        return letterbox_ratio(spec, width, height)
    return (spec.resize_to[1] if spec.resize_to else spec.height) / height


def _letterbox(img: np.ndarray, spec: InputSpec, interp: int) -> np.ndarray:
    """The image resized to fit at the top-left corner, the rest ``pad_value``, as YOLOX's
    authors do it (their ``preproc``: int() of the scaled sizes, INTER_LINEAR, pad 114)."""
    r = letterbox_ratio(spec, img.shape[1], img.shape[0])
    w, h = int(img.shape[1] * r), int(img.shape[0] * r)
    out = np.full((spec.height, spec.width, 3), spec.pad_value, np.uint8)
    out[:h, :w] = cv2.resize(img, (w, h), interpolation=interp)
    return out


def preprocess(images: list[np.ndarray], spec: InputSpec) -> np.ndarray:
    """(N, 3, H, W) float32 from N BGR uint8 images of any size."""
    out = np.empty((len(images), 3, spec.height, spec.width), np.float32)
    interp = _INTERP[spec.resize]
    mean = np.asarray(spec.mean, np.float32).reshape(3, 1, 1)
    for i, img in enumerate(images):
        if spec.letterbox:
            img = _letterbox(img, spec, interp)
        elif spec.resize_to:
            img = _resize(img, spec.resize_to, interp)
            if spec.crop == "center":
                y0 = (img.shape[0] - spec.height) // 2
                x0 = (img.shape[1] - spec.width) // 2
                img = img[y0:y0 + spec.height, x0:x0 + spec.width]
        else:
            img = _resize(img, (spec.width, spec.height), interp)
        # Contiguous planes: reading the HWC image through a CHW view is strided and ~1.5x slower.
        planes = cv2.split(np.ascontiguousarray(img))
        if spec.color == "RGB":
            planes = planes[::-1]
        for c, plane in enumerate(planes):
            np.subtract(plane, mean[c], out=out[i, c], dtype=np.float32)
        if spec.scale != 1.0:
            out[i] *= spec.scale
    return out
