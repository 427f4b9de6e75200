"""The backend factory: the one place that chooses how a model runs."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from ..errors import BackendUnavailable
from ..spec import ModelSpec
from .base import Backend
from .trt_env import TENSORRT_HINT, tensorrt_unavailable_reason, tensorrt_usable, unavailable

__all__ = ["TENSORRT_HINT", "Backend", "BackendName", "create_backend", "tensorrt_usable"]

BackendName = Literal["auto", "onnxruntime", "tensorrt"]


def create_backend(kind: BackendName, spec: ModelSpec, model_path: Path, threads: int = 0,
                   int8: bool = False) -> Backend:
    """A backend running ``model_path`` (a file of ``spec``, or a derived copy of it).

    ``int8``: its cached INT8 form, built beforehand by ``fcw build-engine --int8`` and accepted
    there only if it agreed with fp32 on held-out frames: a statically quantised ONNX graph for
    ONNX Runtime (engines/quantize.py), an INT8 engine for TensorRT. Never built here, because
    calibration needs real frames.
    """
    if kind == "auto":
        kind = "tensorrt" if tensorrt_usable() else "onnxruntime"
    if kind == "onnxruntime":
        from .onnxruntime import OnnxRuntimeBackend

        if int8:
            from ..quantize import find_int8_model

            return OnnxRuntimeBackend(spec, find_int8_model(spec, model_path), threads=threads,
                                      precision="int8")
        return OnnxRuntimeBackend(spec, model_path, threads=threads)
    if kind == "tensorrt":
        if not tensorrt_usable():
            raise unavailable(tensorrt_unavailable_reason())
        from ..build import ensure_engine
        from ..store import sha256_of
        from .tensorrt import TensorRTBackend

        # fp16 by default (fcw build-engine's default too, so the factory finds what it built);
        # engines/check_gpu.py is what checks it against ONNX Runtime. A missing fp16 engine is
        # built on first use and cached with its sidecar (engines/cache.py). The file's own
        # sha256, not the spec's: a graph rewritten to another input size is another file.
        precision = "int8" if int8 else "fp16"
        return TensorRTBackend(spec, ensure_engine(spec, model_path, precision),
                               precision=precision, onnx_sha256=sha256_of(Path(model_path)))
    raise BackendUnavailable(f"unknown backend {kind!r}; one of auto, onnxruntime, tensorrt")
