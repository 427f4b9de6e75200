"""TensorRT on an NVIDIA GPU: a cached engine, device buffers allocated once, one CUDA stream.

tensorrt and pycuda are imported in the constructor (or injected by tests), so importing this
module is free. TensorRT version differences are handled here and nowhere else:
TensorRT 10 names its I/O tensors (set_tensor_address + execute_async_v3); TensorRT 8 uses
binding indices (set_binding_shape + execute_async_v2).

Pre-processing runs on the CPU with ``engines.preprocess.preprocess``, the same code as ONNX
Runtime, so both backends see identical inputs. Moving it to the GPU would not save copies for
fcw's models: the full frame plus the far crop as uint8 (1280x720x3 + 384x288x3 = 3.1 MB) weigh
about as much as the two 352x352 float32 tensors copied now (3.0 MB), and on a Jetson host and
device share memory. A model with a small input fed from large frames would change that.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

from ..cache import DeviceInfo, check_compatible, current_device, read_meta
from ..errors import ModelError
from ..spec import ModelSpec
from .base import Backend, check_io_shapes
from .trt_env import import_cuda, import_tensorrt


class TensorRTBackend(Backend):
    name = "tensorrt"

    def __init__(self, spec: ModelSpec, engine_path: Path, *, precision: Optional[str] = None,
                 onnx_sha256: Optional[str] = None, device: Optional[DeviceInfo] = None,
                 device_index: int = 0, trt: Any = None, cuda: Any = None) -> None:
        super().__init__(spec)
        if trt is None or cuda is None:
            trt = trt or import_tensorrt()
            cuda = cuda or import_cuda()
        self._trt, self._cuda = trt, cuda
        self.engine_path = Path(engine_path)
        self.meta = read_meta(self.engine_path)  # no sidecar: refused before any byte is loaded
        self.precision = self.meta.precision
        check_compatible(self.meta, device or current_device(device_index), str(trt.__version__),
                         onnx_sha256 or spec.sha256, precision, path=self.engine_path)
        self._ctx: Any = None
        self._buffers: list[Any] = []
        self._closed = False
        # A retained primary context, pushed around every call: the pipeline may call infer from
        # another thread than the one that built the backend, and CUDA contexts are per thread.
        if hasattr(cuda, "Device"):
            self._ctx = cuda.Device(device_index).retain_primary_context()
        self._push()
        try:
            self._load(trt, cuda)
        except BaseException:
            self._pop()
            self.close()
            raise
        self._pop()

    # --- set-up ---------------------------------------------------------------------------------

    def _push(self) -> None:
        if self._ctx is not None:
            self._ctx.push()

    def _pop(self) -> None:
        if self._ctx is not None:
            self._cuda.Context.pop()

    def _load(self, trt: Any, cuda: Any) -> None:
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if self._engine is None:
            raise ModelError(f"{self.engine_path}: TensorRT cannot deserialise this engine")
        self._context = self._engine.create_execution_context()
        self._v3 = hasattr(self._engine, "num_io_tensors")
        (self._in_name, in_shape), (self._out_name, out_shape) = self._io(trt)
        self._dynamic = in_shape[0] == -1
        self.batch = self.meta.batch if self._dynamic else in_shape[0]
        # The spec's shapes, whatever their rank (FastestDet's 85x22x22 grid, YOLOX's 3549x85
        # rows, a classifier's vector), size the buffers: one check, shared with ONNX Runtime.
        check_io_shapes(self.engine_path, self.spec, self._in_name, in_shape, out_shape,
                        self._out_name)
        want_in = (3, self.spec.input.height, self.spec.input.width)
        # Buffers for the largest batch, allocated once; page-locked so the copies are async.
        self._host_in = cuda.pagelocked_empty((self.batch, *want_in), np.float32)
        self._host_out = cuda.pagelocked_empty((self.batch, *self.spec.output.shape), np.float32)
        self._dev_in = cuda.mem_alloc(self._host_in.nbytes)
        self._dev_out = cuda.mem_alloc(self._host_out.nbytes)
        self._buffers = [self._dev_in, self._dev_out]
        self._stream = cuda.Stream()
        if self._v3:
            self._context.set_tensor_address(self._in_name, int(self._dev_in))
            self._context.set_tensor_address(self._out_name, int(self._dev_out))

    def _io(self, trt: Any) -> tuple[tuple[str, tuple], tuple[str, tuple]]:
        """((input name, shape), (output name, shape)); refuses anything but one float32 each."""
        eng = self._engine
        if self._v3:
            names = [eng.get_tensor_name(i) for i in range(eng.num_io_tensors)]
            is_input = [eng.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names]
            shapes = [tuple(eng.get_tensor_shape(n)) for n in names]
            dtypes = [eng.get_tensor_dtype(n) for n in names]
        else:  # TensorRT 8: binding indices
            names = [eng.get_binding_name(i) for i in range(eng.num_bindings)]
            is_input = [eng.binding_is_input(i) for i in range(len(names))]
            shapes = [tuple(eng.get_binding_shape(i)) for i in range(len(names))]
            dtypes = [eng.get_binding_dtype(i) for i in range(len(names))]
        if sorted(is_input) != [False, True]:
            raise ModelError(f"{self.engine_path}: expected one input and one output tensor, "
                             f"got {names}")
        if any(d != trt.float32 for d in dtypes):
            raise ModelError(f"{self.engine_path}: I/O tensors must be float32, got {dtypes}")
        i, o = is_input.index(True), is_input.index(False)
        self._bindings_order = (i, o)  # TensorRT 8 only: binding indices of input and output
        return (names[i], shapes[i]), (names[o], shapes[o])

    # --- inference ------------------------------------------------------------------------------

    def run(self, x: np.ndarray) -> np.ndarray:
        # The context is pushed per call, so the model may run on a thread of its own.
        self._push()
        try:
            return np.concatenate([self._run(x[i:i + self.batch])
                                   for i in range(0, len(x), self.batch)])
        finally:
            self._pop()

    def _run(self, chunk: np.ndarray) -> np.ndarray:
        """One engine call for up to ``self.batch`` inputs."""
        n = len(chunk)
        cuda = self._cuda
        self._host_in[:n] = chunk
        if self._dynamic:
            run_n = n
            shape = (n, *self._host_in.shape[1:])
            if self._v3:
                self._context.set_input_shape(self._in_name, shape)
            else:
                self._context.set_binding_shape(self._bindings_order[0], shape)
        else:  # fixed batch: pad with zeros, drop the padding's outputs
            run_n = self.batch
            self._host_in[n:] = 0.0
        cuda.memcpy_htod_async(self._dev_in, self._host_in[:run_n], self._stream)
        if self._v3:
            ok = self._context.execute_async_v3(self._stream.handle)
        else:
            bindings = [0, 0]
            bindings[self._bindings_order[0]] = int(self._dev_in)
            bindings[self._bindings_order[1]] = int(self._dev_out)
            ok = self._context.execute_async_v2(bindings, self._stream.handle)
        if not ok:
            raise ModelError(f"{self.engine_path}: TensorRT execution failed")
        cuda.memcpy_dtoh_async(self._host_out[:run_n], self._dev_out, self._stream)
        self._stream.synchronize()
        return self._host_out[:n].copy()

    def close(self) -> None:
        if getattr(self, "_closed", False) or not hasattr(self, "_cuda"):
            return
        self._closed = True  # set first so that a second close is a no-op
        self._push()
        try:
            for buf in getattr(self, "_buffers", []):
                buf.free()
            self._buffers = []
            for attr in ("_context", "_engine", "_runtime"):
                if hasattr(self, attr):
                    delattr(self, attr)  # TensorRT objects must go before the CUDA context
        finally:
            self._pop()
        if getattr(self, "_ctx", None) is not None:
            self._ctx.detach()
            self._ctx = None
