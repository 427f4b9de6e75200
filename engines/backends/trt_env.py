"""Whether TensorRT can run here, and importing it: the one module that says what to install.

tensorrt and pycuda are imported inside these functions, so importing this module is free on a
machine without a GPU. The factory (``engines.backends``), the TensorRT backend and the engine
builder (``engines.build``) all come here; none of them imports another for this.
"""
from __future__ import annotations

import logging
from typing import Any, Optional

from ..errors import BackendUnavailable

log = logging.getLogger(__name__)

TENSORRT_HINT = ("TensorRT backend unavailable: install NVIDIA TensorRT 10 and pycuda "
                 "(pip install 'fcw[tensorrt]', or JetPack on a Jetson) on a machine with an "
                 "NVIDIA GPU, or use --backend onnxruntime")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def tensorrt_unavailable_reason() -> Optional[str]:
    """None when tensorrt and pycuda import and a CUDA device is present, else one line why not."""
    try:
        import tensorrt  # noqa: F401
    except Exception as exc:  # ImportError, or a broken install's OSError on its shared libraries
        return f"cannot import tensorrt ({_first_line(exc)})"
    try:
        import pycuda.driver as cuda
    except Exception as exc:
        return f"cannot import pycuda.driver ({_first_line(exc)})"
    try:
        cuda.init()
        count = cuda.Device.count()
    except Exception as exc:  # pycuda's LogicError/RuntimeError: no driver, no device node
        return f"CUDA driver not usable ({_first_line(exc)})"
    return None if count > 0 else "no CUDA device found"


def tensorrt_usable() -> bool:
    """TensorRT and pycuda importable and a CUDA device present; why not is logged (INFO)."""
    reason = tensorrt_unavailable_reason()
    if reason is not None:
        log.info("TensorRT not usable here: %s", reason)
    return reason is None


def unavailable(reason: Optional[str] = None) -> BackendUnavailable:
    """The one-line error for asking for TensorRT where it cannot run, with the reason if known."""
    return BackendUnavailable(f"{TENSORRT_HINT} ({reason})" if reason else TENSORRT_HINT)


def import_tensorrt() -> Any:
    try:
        import tensorrt
    except Exception as exc:
        raise unavailable(f"cannot import tensorrt ({_first_line(exc)})") from None
    return tensorrt


def import_cuda() -> Any:
    try:
        import pycuda.driver as cuda
    except Exception as exc:
        raise unavailable(f"cannot import pycuda.driver ({_first_line(exc)})") from None
    try:
        cuda.init()
    except Exception as exc:  # pycuda's own error types: no driver, no device node
        raise unavailable(f"CUDA driver not usable ({_first_line(exc)})") from None
    return cuda
