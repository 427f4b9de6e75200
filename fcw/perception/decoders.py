"""The one place that chooses how a detector model's raw output becomes boxes.

Every decoder is ``decode(out, score_threshold, width, height, keep_classes) -> Detections``
for one image's output (without the batch axis), boxes in pixels of that ``width`` x ``height``
image or crop. The spec's ``output.decoder`` names it; the rest of fcw never asks which model runs.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import numpy as np

from engines.spec import ModelSpec
from fcw.errors import ModelError
from fcw.types import Detections

from .fastestdet import decode_fastestdet
from .yolox import YoloxDecoder

Decoder = Callable[[np.ndarray, float, float, float, Optional[np.ndarray]], Detections]

_BUILDERS: dict[str, Callable[[ModelSpec], Decoder]] = {
    "fastestdet": lambda spec: decode_fastestdet,
    "yolox": lambda spec: YoloxDecoder(spec.input, spec.output.strides),
}


def make_decoder(spec: ModelSpec) -> Decoder:
    build = _BUILDERS.get(spec.output.decoder)
    if build is None:
        raise ModelError(f"model {spec.name!r} is not a detector (its output decoder is "
                         f"{spec.output.decoder!r}; detectors: {', '.join(sorted(_BUILDERS))})")
    return build(spec)
