"""Building TensorRT engines from the ONNX models, and caching them with their sidecars.

tensorrt and pycuda are imported inside the functions (or injected, ``trt=``/``cuda=``, by the
tests' fake) so that importing this module costs nothing on a machine without a GPU.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from fcw import __version__
from fcw.errors import BackendUnavailable, ModelError
from fcw.types import Detections

from .cache import (PRECISIONS, DeviceInfo, EngineMeta, atomic_write, current_device, engine_name,
                    default_engine_dir, sidecar_path, write_meta)
from .spec import ModelSpec
from .store import sha256_of

DEFAULT_WORKSPACE_MB = 1024


def import_tensorrt() -> Any:
    from .backends import TENSORRT_HINT

    try:
        import tensorrt
    except Exception:
        raise BackendUnavailable(TENSORRT_HINT) from None
    return tensorrt


def import_cuda() -> Any:
    from .backends import TENSORRT_HINT

    try:
        import pycuda.driver as cuda
    except Exception:
        raise BackendUnavailable(TENSORRT_HINT) from None
    cuda.init()
    return cuda


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
        raise ModelError(f"INT8 engine for {spec.name!r} needs a calibrator (--calib DIR)")
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

    inp = network.get_input(0)
    shape = tuple(inp.shape)
    want = (3, spec.input.height, spec.input.width)
    if inp.name != spec.input.name or len(shape) != 4 or shape[1:] != want:
        raise ModelError(f"{onnx_path}: input {inp.name} has shape {list(shape)}, model "
                         f"{spec.name!r} expects {spec.input.name} [N, {', '.join(map(str, want))}]")

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
        profile.set_shape(inp.name, (1, *want), (batch, *want), (batch, *want))
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
        compute_capability=tuple(device.compute_capability), precision=precision, batch=batch,
        input_shape=(batch, 3, spec.input.height, spec.input.width),
        built_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        fcw_version=__version__, int8_agreement=int8_agreement)


def _write_engine(plan: bytes, meta: EngineMeta, path: Path) -> Path:
    # Sidecar first: an engine is never visible without the sidecar that vouches for it.
    write_meta(meta, path)
    atomic_write(path, plan)
    return path


def build_and_cache(spec: ModelSpec, onnx_path: Path, precision: str = "fp16",
                    batch: Optional[int] = None, workspace_mb: int = DEFAULT_WORKSPACE_MB,
                    out_dir: Optional[Path] = None, calib_images: Optional[Sequence[Path]] = None,
                    min_agreement: Optional[float] = None, device: Optional[DeviceInfo] = None,
                    trt: Any = None, cuda: Any = None) -> Path:
    """Build the engine and write it, with its sidecar, atomically into the cache; its path.

    For int8, ``calib_images`` are split into calibration and hold-out frames; the engine is
    written only if its detections on the hold-out frames agree with the fp32 ONNX graph's.
    """
    from .calibrator import INT8_MIN_AGREEMENT

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
    return _build_int8(spec, onnx_path, meta, path, workspace_mb, calib_images,
                       INT8_MIN_AGREEMENT if min_agreement is None else min_agreement, trt,
                       cuda)


def _build_int8(spec: ModelSpec, onnx_path: Path, meta: EngineMeta, path: Path, workspace_mb: int,
                calib_images: Optional[Sequence[Path]], min_agreement: float, trt: Any,
                cuda: Any) -> Path:
    from dataclasses import replace

    from .calibrator import (CalibrationBatches, check_agreement, make_entropy_calibrator,
                             split_holdout)

    if not calib_images:
        raise ModelError(f"INT8 engine for {spec.name!r} needs calibration frames (--calib DIR)")
    cuda = cuda or import_cuda()
    calib, holdout = split_holdout(list(calib_images))
    # The calibration cache is only valid for these frames and this network: name it by both.
    key = hashlib.sha256("\n".join(p.name for p in calib).encode()).hexdigest()[:8]
    cache_file = path.with_name(f"{path.stem}-{key}.calib")
    batches = CalibrationBatches(calib, spec.input, meta.batch)
    calibrator = make_entropy_calibrator(batches, cache_file, trt, cuda)
    plan = build_engine(spec, onnx_path, "int8", meta.batch, workspace_mb, calibrator, trt=trt)

    # Try the engine on the hold-out frames from a temporary name before caching it.
    trial = path.with_name(f".trial-{path.name}")
    _write_engine(plan, meta, trial)
    try:
        agreement = holdout_agreement(spec, Path(onnx_path), trial, holdout, meta.device,
                                      trt=trt, cuda=cuda)
    finally:
        trial.unlink(missing_ok=True)
        sidecar_path(trial).unlink(missing_ok=True)
    check_agreement(agreement, spec.name, min_agreement)
    return _write_engine(plan, replace(meta, int8_agreement=round(agreement, 4)), path)


def outputs_to_detections(spec: ModelSpec, out: np.ndarray,
                          sizes: Sequence[tuple[int, int]]) -> list[Detections]:
    """Raw outputs as Detections for the agreement check, at fcw's default score threshold.

    A classifier's top class becomes one frame-sized box, so a changed class is a disagreement.
    """
    from fcw.config import DetectorConfig
    from fcw.perception.fastestdet import decode_fastestdet

    if spec.output.decoder == "fastestdet":
        threshold = DetectorConfig.model_fields["score_threshold"].default
        return [decode_fastestdet(o, threshold, w, h) for o, (w, h) in zip(out, sizes)]
    return [Detections(np.float32([[0, 0, w, h]]), np.float32([o.max()]),
                       np.int32([o.argmax()])) for o, (w, h) in zip(out, sizes)]


def holdout_agreement(spec: ModelSpec, onnx_path: Path, engine: Path, holdout: Sequence[Path],
                      device: Optional[DeviceInfo] = None, trt: Any = None,
                      cuda: Any = None) -> float:
    """Detection agreement of ``engine`` with the fp32 ONNX graph on the hold-out frames."""
    from .backends.onnxruntime import OnnxRuntimeBackend
    from .backends.tensorrt import TensorRTBackend
    from .calibrator import detection_agreement, read_image

    images = [read_image(p) for p in holdout]
    sizes = [(img.shape[1], img.shape[0]) for img in images]
    with OnnxRuntimeBackend(spec, onnx_path) as ref, \
            TensorRTBackend(spec, engine, onnx_sha256=sha256_of(onnx_path), device=device,
                            trt=trt, cuda=cuda) as cand:
        ref_out = ref.infer(images)
        cand_out = cand.infer(images)
    return detection_agreement(outputs_to_detections(spec, ref_out, sizes),
                               outputs_to_detections(spec, cand_out, sizes))


def ensure_engine(spec: ModelSpec, onnx_path: Path, precision: str = "fp16",
                  batch: Optional[int] = None, engine_dir: Optional[Path] = None,
                  workspace_mb: int = DEFAULT_WORKSPACE_MB) -> Path:
    """The cached engine for this GPU, TensorRT and model file, built first if missing."""
    trt = import_tensorrt()
    batch = batch or default_batch(spec)
    device = current_device()
    path = Path(engine_dir or default_engine_dir()) / engine_name(
        spec.name, spec.sha256, str(trt.__version__), device, precision, batch)
    if path.is_file():
        return path  # the backend checks its sidecar before loading it
    if precision == "int8":
        raise ModelError(f"no INT8 engine for {spec.name!r} in {path.parent}: build one with "
                         f"fcw build-engine --model {spec.name} --int8 --calib DIR")
    return build_and_cache(spec, onnx_path, precision, batch, workspace_mb, path.parent,
                           device=device, trt=trt)
