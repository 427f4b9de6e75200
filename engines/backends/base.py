"""The one interface every inference backend implements."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np

from ..errors import ModelError
from ..preprocess import preprocess
from ..spec import ModelSpec


def fixed_dims(shape: Sequence[Any]) -> tuple[int, ...]:
    """A tensor shape with every dynamic axis as -1: ONNX Runtime names them (``'batch'``) or
    gives None, TensorRT gives -1."""
    return tuple(int(d) if isinstance(d, (int, np.integer)) and d >= 0 else -1 for d in shape)


def check_io_shapes(where: object, spec: ModelSpec, input_name: str, input_shape: Sequence[Any],
                    output_shape: Sequence[Any], output_name: Optional[str] = None) -> None:
    """Refuse a graph or engine whose input or output does not match ``spec``, before any frame
    runs, in one line naming ``where`` (the file). Shapes with the batch axis first; a spec with a
    fixed batch needs exactly that batch, one without takes any."""
    got_in, got_out = fixed_dims(input_shape), fixed_dims(output_shape)
    spec_in = spec.input
    want_in = (3, spec_in.height, spec_in.width)
    batch = "N" if spec_in.batch is None else str(spec_in.batch)
    if (input_name != spec_in.name or got_in[1:] != want_in
            or (spec_in.batch is not None and got_in[0] != spec_in.batch)):
        raise ModelError(f"{where}: input {input_name} has shape {list(got_in)}, model "
                         f"{spec.name!r} expects {spec_in.name} [{batch}, "
                         f"{', '.join(map(str, want_in))}]")
    if got_out[1:] != tuple(spec.output.shape):
        name = f" {output_name}" if output_name else ""
        raise ModelError(f"{where}: output{name} has shape {list(got_out)}, model "
                         f"{spec.name!r} expects [{batch}, "
                         f"{', '.join(map(str, spec.output.shape))}]")


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

    def close(self) -> None:  # noqa: B027 (optional: a backend holding nothing keeps this)
        """Release the session or device buffers."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
