"""ONNX Runtime on the CPU: fcw's default backend, the one that must work on any laptop."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from fcw.errors import ModelError

from ..spec import ModelSpec
from .base import Backend


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(self, spec: ModelSpec, model_path: Path, threads: int = 0) -> None:
        super().__init__(spec)
        import onnxruntime as ort

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
        self._check_signature(model_path)
        self._input_name = self._session.get_inputs()[0].name
        self.providers = self._session.get_providers()

    def _check_signature(self, model_path: Path) -> None:
        """Refuse a graph whose input or output does not match the spec before any frame runs."""
        (inp,), outs = self._session.get_inputs(), self._session.get_outputs()
        spec_in = self.spec.input
        want = [spec_in.batch, 3, spec_in.height, spec_in.width]
        got = [d if isinstance(d, int) else None for d in inp.shape]
        if got[1:] != want[1:] or (spec_in.batch and got[0] != spec_in.batch):
            raise ModelError(f"{model_path}: input {inp.name} has shape {inp.shape}, "
                             f"model {self.spec.name!r} expects {want}")
        out_shape = [d if isinstance(d, int) else None for d in outs[0].shape][1:]
        if out_shape != list(self.spec.output.shape):
            raise ModelError(f"{model_path}: output has shape {outs[0].shape}, model "
                             f"{self.spec.name!r} expects [N, {', '.join(map(str, self.spec.output.shape))}]")

    def run(self, x: np.ndarray) -> np.ndarray:
        fixed = self.spec.input.batch
        if fixed is None or len(x) == fixed:
            return self._session.run(None, {self._input_name: x})[0]
        # A graph exported with a fixed batch of 1 runs a batch as a loop.
        return np.concatenate([self._session.run(None, {self._input_name: x[i:i + fixed]})[0]
                               for i in range(0, len(x), fixed)])
