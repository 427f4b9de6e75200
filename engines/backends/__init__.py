"""The backend factory: the one place that chooses how a model runs."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from fcw.errors import BackendUnavailable

from ..spec import ModelSpec
from .base import Backend

BackendName = Literal["auto", "onnxruntime", "tensorrt"]

TENSORRT_HINT = ("TensorRT backend unavailable: install NVIDIA TensorRT 10 and pycuda "
                 "(pip install 'fcw[tensorrt]', or JetPack on a Jetson) on a machine with an "
                 "NVIDIA GPU, or use --backend onnxruntime")


def tensorrt_usable() -> bool:
    """TensorRT and pycuda importable and a CUDA device present."""
    try:
        import pycuda.driver as cuda  # noqa: F401
        import tensorrt  # noqa: F401

        cuda.init()
        return cuda.Device.count() > 0
    except Exception:
        return False


def create_backend(kind: BackendName, spec: ModelSpec, model_path: Path,
                   threads: int = 0) -> Backend:
    if kind == "auto":
        kind = "tensorrt" if tensorrt_usable() else "onnxruntime"
    if kind == "onnxruntime":
        from .onnxruntime import OnnxRuntimeBackend

        return OnnxRuntimeBackend(spec, model_path, threads=threads)
    if kind == "tensorrt":
        if not tensorrt_usable():
            raise BackendUnavailable(TENSORRT_HINT)
        # The engine builder and runtime land with the TensorRT issue; until then say so.
        raise BackendUnavailable("the TensorRT backend is not part of this build yet; "
                                 "use --backend onnxruntime")
    raise BackendUnavailable(f"unknown backend {kind!r}")
