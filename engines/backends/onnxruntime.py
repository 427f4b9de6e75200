"""ONNX Runtime on the CPU: fcw's default backend, the one that must work on any laptop."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..spec import ModelSpec
from .base import Backend, check_io_shapes


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, spec: ModelSpec, model_path: Path, threads: int = 0,
                 precision: str = "fp32") -> None:
        super().__init__(spec)
        import onnxruntime as ort

        #: "fp32", or "int8" for a statically quantised copy of the model (engines/quantize.py).
        self.precision = precision
        self.model_path = Path(model_path)
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(model_path), sess_options=opts,
                                                 providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types per version
            raise ModelError(f"{model_path}: ONNX Runtime cannot load it: "
                             f"{str(exc).splitlines()[0]}") from None
        (inp,), outs = self._session.get_inputs(), self._session.get_outputs()
        check_io_shapes(model_path, spec, inp.name, inp.shape, outs[0].shape, outs[0].name)
        self._input_name = inp.name
        self.providers = self._session.get_providers()

    def run(self, x: np.ndarray) -> np.ndarray:
        fixed = self.spec.input.batch
        if fixed is None or len(x) == fixed:
            return self._session.run(None, {self._input_name: x})[0]
        # A graph exported with a fixed batch of 1 runs a batch as a loop.
        return np.concatenate([self._session.run(None, {self._input_name: x[i:i + fixed]})[0]
                               for i in range(0, len(x), fixed)])
