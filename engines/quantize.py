"""INT8 for the CPU: a statically quantised copy of a model's ONNX graph, kept only if it agrees.

ONNX Runtime's ``quantize_static`` measures activation ranges on real frames (the caller passes
them, pre-processed here exactly as inference does) and writes a QDQ graph: int8 weights per
output channel, uint8 activations. The copy is tried on held-out frames against the fp32 graph
with the same gate as TensorRT's INT8 engines (engines/calibrator.py); below the agreement
threshold it is not written. It is a derived file, cached beside the engines as
``{model}-{source sha256[:12]}-int8.onnx`` with a JSON sidecar, never part of the repository.
``create_backend(..., int8=True)`` (``detector.int8`` in fcw's config) runs it.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from .backends.base import Backend
from .cache import atomic_write, default_engine_dir
from .calibrator import (
    INT8_MIN_AGREEMENT,
    CalibrationBatches,
    Decode,
    check_agreement,
    decode_for,
    frames_key,
    holdout_agreement,
    split_holdout,
)
from .errors import BackendUnavailable, ModelError
from .spec import ModelSpec
from .store import sha256_of


@dataclass(frozen=True)
class QuantMeta:
    """What an INT8 graph was made from, and how well it agreed with its source."""

    model: str
    source_sha256: str
    int8_sha256: str
    onnxruntime_version: str
    calib_frames: int
    calib_key: str
    holdout_frames: int
    int8_agreement: float
    min_agreement: float
    # Median CPU time (all threads) of one run on a held-out frame, fp32 and int8, measured at
    # build time on this machine: INT8 is not always faster (see the README's figures).
    fp32_cpu_ms: float
    int8_cpu_ms: float
    built_at: str
    fcw_version: str


def interleaved_ms(a: Backend, b: Backend, x: np.ndarray, runs: int) -> dict[str, float]:
    """Median wall and CPU (process time, all threads) ms of one run of ``a`` and ``b`` on the
    prepared input ``x``, their runs interleaved so that other load hits both alike. On a shared
    machine the wall time follows the other load; the CPU time much less so."""
    for be in (a, b):
        be.run(x)  # warm-up: first-run allocations
    times: dict[str, list[float]] = {k: [] for k in ("a_wall", "a_cpu", "b_wall", "b_cpu")}
    for _ in range(runs):
        for be, key in ((a, "a"), (b, "b")):
            w0, c0 = time.perf_counter(), time.process_time()
            be.run(x)
            times[f"{key}_cpu"].append((time.process_time() - c0) * 1e3)
            times[f"{key}_wall"].append((time.perf_counter() - w0) * 1e3)
    return {k: round(float(np.median(v)), 2) for k, v in times.items()}


def int8_model_path(spec: ModelSpec, source_sha256: str, out_dir: Optional[Path] = None) -> Path:
    return Path(out_dir or default_engine_dir()) / f"{spec.name}-{source_sha256[:12]}-int8.onnx"


def _build_hint(spec: ModelSpec) -> str:
    return (f"build it with fcw build-engine --model {spec.name} --backend onnxruntime "
            "--int8 --calib SRC")


def find_int8_model(spec: ModelSpec, model_path: Path, out_dir: Optional[Path] = None) -> Path:
    """The cached INT8 graph of ``model_path``, checked against its sidecar; refused, in one line
    saying how to build it, when missing, made from another file or damaged."""
    source = sha256_of(Path(model_path))
    path = int8_model_path(spec, source, out_dir)
    side = path.with_suffix(".json")
    if not path.is_file() or not side.is_file():
        raise ModelError(f"no INT8 model for {spec.name!r} ({model_path}) in {path.parent}: "
                         f"{_build_hint(spec)}")
    try:
        meta = QuantMeta(**json.loads(side.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise ModelError(f"{side}: invalid INT8 sidecar ({exc}): {_build_hint(spec)}") from None
    if meta.source_sha256 != source:
        raise ModelError(f"{path}: made from ONNX sha256 {meta.source_sha256[:12]}..., the model "
                         f"file is {source[:12]}...: {_build_hint(spec)}")
    if sha256_of(path) != meta.int8_sha256:
        raise ModelError(f"{path}: sha256 differs from its sidecar (damaged): {_build_hint(spec)}")
    return path


class _Reader:
    """ONNX Runtime's CalibrationDataReader protocol over pre-processed calibration batches."""

    def __init__(self, batches: CalibrationBatches, input_name: str) -> None:
        self._batches, self._name = batches, input_name
        self._it: Optional[Iterator[np.ndarray]] = None

    def get_next(self) -> Optional[dict[str, np.ndarray]]:
        if self._it is None:
            self._it = iter(self._batches)
        x = next(self._it, None)
        return None if x is None else {self._name: x}

    def rewind(self) -> None:
        self._it = None


# Per-channel DequantizeLinear (its ``axis``) needs opset 13; YOLOX-Nano is exported at 11.
QDQ_MIN_OPSET = 13


def _at_least_opset(path: Path, opset: int) -> None:
    import onnx
    from onnx import version_converter

    model = onnx.load(str(path))
    current = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
                  default=opset)
    if current < opset:
        onnx.save(version_converter.convert_version(model, opset), str(path))


#: The heavy operators; the activations between them (SiLU's Sigmoid and Mul) stay in float.
QUANTIZED_OPS = ("Conv", "MatMul", "Gemm")


def boundary_convs(path: Path) -> list[str]:
    """Names of the convolutions next to the graph's input or output, with no other convolution
    between: the first layer and the prediction layers (YOLOX's reg/obj/cls, FastestDet's head).
    Kept in float, the usual practice: the first reads raw pixels (YOLOX's are 0-255) whose
    detail an 8-bit step would cut; the last give box offsets and scores, where one step moves a
    box edge by pixels or a score across the threshold."""
    import onnx

    graph = onnx.load(str(path)).graph
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def walk(start: list[str], step: Callable[[str], list]) -> set[str]:
        found: set[str] = set()
        todo, seen = list(start), set()
        while todo:
            for node in step(todo.pop()):
                if node.name in seen:
                    continue
                seen.add(node.name)
                if node.op_type in QUANTIZED_OPS:
                    found.add(node.name)
                else:
                    todo += list(node.output if step is downstream else node.input)
        return found

    def upstream(name: str) -> list:
        return [producer[name]] if name in producer else []

    def downstream(name: str) -> list:
        return consumers.get(name, [])

    return sorted(walk([o.name for o in graph.output], upstream)
                  | walk([i.name for i in graph.input], downstream))


#: Also kept in float: the first convolutions after the input (YOLOX-Nano's stem and its first
#: depthwise-separable pair), where an 8-bit step is largest next to the signal. Chosen on 58
#: frames of the Udacity test video and highway_traffic (benchmarks/int8_cpu.py's "selection"
#: clips, not its held-out ones): YOLOX-Nano INT8 agreed with fp32 on 0.81 of its boxes with
#: only the boundary layers in float, 0.90 with these too (0.86 with every depthwise one instead).
FLOAT_FIRST_CONVS = 3


def float_convs(path: Path, first: int = FLOAT_FIRST_CONVS) -> list[str]:
    """The convolutions left in float: the boundary ones and the first ``first`` in graph order
    (ONNX keeps nodes in topological order), at most a tenth of them: a small network such as
    the light crop classifier (4 layers) has no stem to spare."""
    import onnx

    graph = onnx.load(str(path)).graph
    heavy = [n.name for n in graph.node if n.op_type in QUANTIZED_OPS]
    return sorted(set(boundary_convs(path)) | set(heavy[:min(first, len(heavy) // 10)]))


#: Runs of each model timed at build time (a second or two for YOLOX-Nano).
TIMED_RUNS = 20

#: How activation ranges are taken from the calibration frames: their extremes (fast), or a
#: histogram's 99.999th percentile or minimum-entropy cut (slower; clip rare outliers).
CALIB_METHODS = ("minmax", "percentile", "entropy")


def quantize_graph(spec: ModelSpec, model_path: Path, frames: Sequence[np.ndarray],
                   out_path: Path, method: str = "minmax") -> None:
    """Write the statically quantised graph of ``model_path``, calibrated on ``frames``."""
    try:
        import onnx  # noqa: F401  (ONNX Runtime's quantiser edits the graph with it)
    except ImportError:
        raise BackendUnavailable("INT8 for the CPU needs the onnx package: "
                                 "pip install 'fcw[int8]'") from None
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(_Reader, CalibrationDataReader):
        pass

    if method not in CALIB_METHODS:
        raise ModelError(f"unknown calibration method {method!r}; one of "
                         f"{', '.join(CALIB_METHODS)}")
    batches = CalibrationBatches(frames, spec.input, spec.input.batch or 1)
    with tempfile.TemporaryDirectory(prefix="fcw-int8-") as tmp:
        # Shape inference and graph folding first, as ONNX Runtime advises: quantisation then
        # sees every tensor's shape and fuses what it can.
        prepped = Path(tmp) / "prepped.onnx"
        try:
            quant_pre_process(str(model_path), str(prepped), skip_symbolic_shape=True)
        except Exception as exc:
            raise ModelError(f"{model_path}: cannot prepare it for quantisation: "
                             f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                             ) from None
        _at_least_opset(prepped, QDQ_MIN_OPSET)
        quantize_static(str(prepped), str(out_path), Reader(batches, spec.input.name),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method={"minmax": CalibrationMethod.MinMax,
                                          "percentile": CalibrationMethod.Percentile,
                                          "entropy": CalibrationMethod.Entropy}[method],
                        op_types_to_quantize=list(QUANTIZED_OPS),
                        nodes_to_exclude=float_convs(prepped))


def quantize_int8(spec: ModelSpec, model_path: Path, frames: Sequence[np.ndarray],
                  decode: Optional[Decode] = None, out_dir: Optional[Path] = None,
                  min_agreement: float = INT8_MIN_AGREEMENT, threads: int = 0,
                  method: str = "minmax") -> Path:
    """Quantise ``model_path`` on 4 of every 5 ``frames``, keep it only if its detections on the
    others agree with fp32's (F1 >= ``min_agreement``); the cached file's path."""
    import onnxruntime

    from .backends.onnxruntime import OnnxRuntimeBackend
    from .build import installed_version

    model_path = Path(model_path)
    decode = decode_for(spec, decode)
    calib, holdout = split_holdout(frames)
    source = sha256_of(model_path)
    path = int8_model_path(spec, source, out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".trial-{path.stem}.", suffix=".onnx", dir=path.parent)
    os.close(fd)
    trial = Path(tmp_name)
    try:
        quantize_graph(spec, model_path, calib, trial, method)
        with OnnxRuntimeBackend(spec, model_path, threads=threads) as ref, \
                OnnxRuntimeBackend(spec, trial, threads=threads, precision="int8") as cand:
            agreement = holdout_agreement(ref, cand, holdout, decode)
            ms = interleaved_ms(ref, cand, ref.prepare([holdout[0]]), TIMED_RUNS)
        check_agreement(agreement, spec.name, min_agreement, what="INT8 model",
                        instead="run fp32 (no --int8)")
        meta = QuantMeta(
            model=spec.name, source_sha256=source, int8_sha256=sha256_of(trial),
            onnxruntime_version=onnxruntime.__version__, calib_frames=len(calib),
            calib_key=frames_key(calib), holdout_frames=len(holdout),
            int8_agreement=round(agreement, 4), min_agreement=min_agreement,
            fp32_cpu_ms=ms["a_cpu"], int8_cpu_ms=ms["b_cpu"],
            built_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            fcw_version=installed_version())
        # Sidecar first, so the graph is never there without what vouches for it.
        atomic_write(path.with_suffix(".json"),
                     (json.dumps(asdict(meta), indent=2) + "\n").encode())
        os.replace(trial, path)
    finally:
        trial.unlink(missing_ok=True)
    return path


def read_quant_meta(path: Path) -> QuantMeta:
    return QuantMeta(**json.loads(Path(path).with_suffix(".json").read_text(encoding="utf-8")))
