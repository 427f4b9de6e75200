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
        from ..build import ensure_engine
        from .tensorrt import TensorRTBackend

        # fp16 by default (fcw build-engine's default too, so the factory finds what it built);
        # engines/check_gpu.py is what checks it against ONNX Runtime. A missing engine is built
        # on first use and cached with its sidecar (engines/cache.py).
        return TensorRTBackend(spec, ensure_engine(spec, model_path, "fp16"), precision="fp16")
    raise BackendUnavailable(f"unknown backend {kind!r}")
