"""The one interface every inference backend implements."""
from __future__ import annotations

import time
from abc import ABC, abstractmethod

import numpy as np

from ..preprocess import preprocess
from ..spec import ModelSpec


class Backend(ABC):
    """Runs one model on a batch of BGR frames (or crops) and returns its raw output.

    Backends own their pre-processing so that a GPU backend can resize and normalise on the
    device instead of copying full frames through the host twice.
    """

    #: name recorded in the events file's start record ("onnxruntime", "tensorrt").
    name: str = ""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        #: milliseconds the last ``infer`` spent in CPU pre-processing, for benchmarks.
        self.last_ms: dict[str, float] = {}

    def _preprocess(self, images: list[np.ndarray]) -> np.ndarray:
        """The spec's CPU pre-processing of ``images``, timed into ``last_ms``."""
        t0 = time.perf_counter()
        x = preprocess(images, self.spec.input)
        self.last_ms = {"preprocess": (time.perf_counter() - t0) * 1e3}
        return x

    @abstractmethod
    def infer(self, images: list[np.ndarray]) -> np.ndarray:
        """(N, *spec.output.shape) float32 for N BGR uint8 images."""

    def close(self) -> None:
        """Release the session or device buffers."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
