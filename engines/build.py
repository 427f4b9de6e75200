"""Building TensorRT engines from the ONNX models, and caching them with their sidecars.

tensorrt and pycuda are imported inside the functions (or injected, ``trt=``/``cuda=``, by the
tests' fake) so that importing this module costs nothing on a machine without a GPU. Shapes come
from the model spec, whatever their rank: FastestDet's 1x85x22x22 grid, YOLOX's 1xNx85 rows (N
set by the input size), a classifier's 1xK vector.
"""
from __future__ import annotations

import datetime as _dt
import importlib.metadata
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

import numpy as np

from .backends.base import check_io_shapes
from .backends.trt_env import import_cuda, import_tensorrt
from .cache import (
    PRECISIONS,
    DeviceInfo,
    EngineMeta,
    atomic_write,
    current_device,
    default_engine_dir,
    engine_name,
    sidecar_path,
    write_meta,
)
from .calibrator import (
    INT8_MIN_AGREEMENT,
    CalibrationBatches,
    Decode,
    check_agreement,
    decode_for,
    frames_key,
    holdout_agreement,
    make_entropy_calibrator,
    split_holdout,
)
from .errors import ModelError
from .spec import ModelSpec
from .store import sha256_of

DEFAULT_WORKSPACE_MB = 1024


def installed_version(dist: str = "fcw") -> str:
    """The installed distribution's version, for sidecars ("unknown" when run from a bare tree)."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def default_batch(spec: ModelSpec) -> int:
    """The graph's fixed batch, else 2: the detector runs the frame and its far crop together."""
    return spec.input.batch or 2


def _network_flags(trt: Any) -> int:
    # TensorRT 10 networks are always explicit-batch (the flag is deprecated); TensorRT 8 needs it.
    if int(str(trt.__version__).split(".")[0]) >= 10:
        return 0
    return 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)


def build_engine(spec: ModelSpec, onnx_path: Path, precision: str = "fp16", batch: int = 1,
                 workspace_mb: int = DEFAULT_WORKSPACE_MB, calibrator: Any = None,
                 trt: Any = None) -> bytes:
    """The serialised engine (plan) of ``onnx_path`` for ``batch`` frames at ``precision``."""
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}; one of {', '.join(PRECISIONS)}")
    if precision == "int8" and calibrator is None:
        raise ModelError(f"INT8 engine for {spec.name!r} needs a calibrator (--calib SRC)")
    if batch < 1:
        raise ModelError(f"batch must be >= 1, got {batch}")
    trt = trt or import_tensorrt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(_network_flags(trt))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = "; ".join(str(parser.get_error(i)).strip() for i in range(parser.num_errors))
        raise ModelError(f"{onnx_path}: TensorRT cannot parse it: {errors or 'unknown error'}")

    if network.num_inputs != 1 or network.num_outputs != 1:
        raise ModelError(f"{onnx_path}: expected one input and one output, the graph has "
                         f"{network.num_inputs} and {network.num_outputs}")
    inp, out = network.get_input(0), network.get_output(0)
    shape = tuple(inp.shape)
    check_io_shapes(onnx_path, spec, inp.name, shape, tuple(out.shape), out.name)
    item = shape[1:]

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_mb) << 20)
    if precision in ("fp16", "int8"):
        # For int8, layers TensorRT cannot quantise fall back to fp16 rather than fp32.
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = calibrator

    if shape[0] == -1:  # dynamic batch axis: one profile, tuned for the batch asked for
        profile = builder.create_optimization_profile()
        profile.set_shape(inp.name, (1, *item), (batch, *item), (batch, *item))
        config.add_optimization_profile(profile)
        if precision == "int8":
            config.set_calibration_profile(profile)
    elif shape[0] != batch:
        raise ModelError(f"{onnx_path}: the graph has a fixed batch of {shape[0]}; "
                         f"use --batch {shape[0]}")

    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise ModelError(f"{onnx_path}: TensorRT failed to build a {precision} engine "
                         "(see its log above)")
    return bytes(plan)


def _meta(spec: ModelSpec, onnx_sha256: str, trt_version: str, device: DeviceInfo,
          precision: str, batch: int, int8_agreement: Optional[float] = None) -> EngineMeta:
    return EngineMeta(
        model=spec.name, onnx_sha256=onnx_sha256, trt_version=trt_version, gpu_name=device.name,
        compute_capability=device.compute_capability, precision=precision, batch=batch,
        input_shape=(batch, 3, spec.input.height, spec.input.width),
        built_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        fcw_version=installed_version(), int8_agreement=int8_agreement)


def _write_engine(plan: bytes, meta: EngineMeta, path: Path) -> Path:
    # Sidecar first: an engine is never visible without the sidecar that vouches for it.
    write_meta(meta, path)
    atomic_write(path, plan)
    return path


def build_and_cache(spec: ModelSpec, onnx_path: Path, precision: str = "fp16",
                    batch: Optional[int] = None, workspace_mb: int = DEFAULT_WORKSPACE_MB,
                    out_dir: Optional[Path] = None,
                    calib_frames: Optional[Sequence[np.ndarray]] = None,
                    decode: Optional[Decode] = None, min_agreement: Optional[float] = None,
                    device: Optional[DeviceInfo] = None, trt: Any = None,
                    cuda: Any = None) -> Path:
    """Build the engine and write it, with its sidecar, atomically into the cache; its path.

    For int8, ``calib_frames`` (BGR frames) are split into calibration and hold-out frames; the
    engine is written only if its detections on the hold-out frames, read by ``decode``, agree
    with the fp32 ONNX graph's (engines/calibrator.py).
    """
    trt = trt or import_tensorrt()
    batch = batch or default_batch(spec)
    device = device or current_device()
    out_dir = Path(out_dir or default_engine_dir())
    sha = sha256_of(Path(onnx_path))
    meta = _meta(spec, sha, str(trt.__version__), device, precision, batch)
    path = out_dir / engine_name(spec.name, sha, meta.trt_version, device, precision, batch)
    if precision != "int8":
        return _write_engine(build_engine(spec, onnx_path, precision, batch, workspace_mb,
                                          trt=trt), meta, path)
    if not calib_frames:
        raise ModelError(f"INT8 engine for {spec.name!r} needs calibration frames (--calib SRC)")
    return _build_int8(spec, Path(onnx_path), meta, path, workspace_mb, calib_frames,
                       decode_for(spec, decode),
                       INT8_MIN_AGREEMENT if min_agreement is None else min_agreement, trt,
                       cuda or import_cuda())


def _build_int8(spec: ModelSpec, onnx_path: Path, meta: EngineMeta, path: Path, workspace_mb: int,
                frames: Sequence[np.ndarray], decode: Decode, min_agreement: float, trt: Any,
                cuda: Any) -> Path:
    calib, holdout = split_holdout(frames)
    # The calibration cache is only valid for these frames and this network: name it by both.
    cache_file = path.with_name(f"{path.stem}-{frames_key(calib)}.calib")
    calibrator = make_entropy_calibrator(CalibrationBatches(calib, spec.input, meta.batch),
                                         cache_file, trt, cuda)
    plan = build_engine(spec, onnx_path, "int8", meta.batch, workspace_mb, calibrator, trt=trt)

    # Try the engine on the hold-out frames from a temporary name before caching it.
    trial = path.with_name(f".trial-{path.name}")
    _write_engine(plan, meta, trial)
    try:
        agreement = _engine_agreement(spec, onnx_path, trial, holdout, decode, meta, trt, cuda)
    finally:
        trial.unlink(missing_ok=True)
        sidecar_path(trial).unlink(missing_ok=True)
    check_agreement(agreement, spec.name, min_agreement)
    return _write_engine(plan, replace(meta, int8_agreement=round(agreement, 4)), path)


def _engine_agreement(spec: ModelSpec, onnx_path: Path, engine: Path,
                      holdout: Sequence[np.ndarray], decode: Decode, meta: EngineMeta,
                      trt: Any, cuda: Any) -> float:
    from .backends.onnxruntime import OnnxRuntimeBackend
    from .backends.tensorrt import TensorRTBackend

    with OnnxRuntimeBackend(spec, onnx_path) as ref, \
            TensorRTBackend(spec, engine, onnx_sha256=meta.onnx_sha256, device=meta.device,
                            trt=trt, cuda=cuda) as cand:
        return holdout_agreement(ref, cand, holdout, decode)


def ensure_engine(spec: ModelSpec, onnx_path: Path, precision: str = "fp16",
                  batch: Optional[int] = None, engine_dir: Optional[Path] = None,
                  workspace_mb: int = DEFAULT_WORKSPACE_MB) -> Path:
    """The cached engine for this GPU, TensorRT and model file, built first if missing."""
    trt = import_tensorrt()
    batch = batch or default_batch(spec)
    device = current_device()
    path = Path(engine_dir or default_engine_dir()) / engine_name(
        spec.name, sha256_of(Path(onnx_path)), str(trt.__version__), device, precision, batch)
    if path.is_file():
        return path  # the backend checks its sidecar before loading it
    if precision == "int8":
        raise ModelError(f"no INT8 engine for {spec.name!r} in {path.parent}: build one with "
                         f"fcw build-engine --model {spec.name} --int8 --calib SRC")
    return build_and_cache(spec, onnx_path, precision, batch, workspace_mb, path.parent,
                           device=device, trt=trt)
