"""The one interface every inference backend implements."""
from __future__ import annotations

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

    def prepare(self, images: list[np.ndarray]) -> np.ndarray:
        """The model's input for ``images``: the spec's CPU pre-processing.

        Split from :meth:`run` so that a threaded pipeline can prepare the next frame while the
        model runs on this one; a backend that pre-processes on its device overrides both.
        """
        return preprocess(images, self.spec.input)

    @abstractmethod
    def run(self, x: np.ndarray) -> np.ndarray:
        """(N, *spec.output.shape) float32 for the (N, 3, H, W) input from :meth:`prepare`."""

    def infer(self, images: list[np.ndarray]) -> np.ndarray:
        """(N, *spec.output.shape) float32 for N BGR uint8 images."""
        return self.run(self.prepare(images))

    def close(self) -> None:
        """Release the session or device buffers."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
