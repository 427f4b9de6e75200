"""TensorRT engines as derived, cached files, each with a JSON sidecar saying what made it.

An engine is only valid for the exact ONNX file, TensorRT version, GPU and precision it was built
with, so all of these are in its name (to find it) and in its sidecar (to check it). An engine
without a sidecar is refused: loading a plan of unknown origin can crash the process or, worse,
silently give wrong boxes.

Layout: ``~/.cache/fcw/engines/`` (or ``--out``) holds
``{model}-{onnx_sha256[:12]}-trt{version}-{gpu_slug}-sm{major}{minor}-{precision}-b{batch}.engine``
and ``<same stem>.json``.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Optional

from .errors import ModelError
from .store import user_cache_dir

PRECISIONS = ("fp32", "fp16", "int8")
_PRECISION_FLAG = {"fp32": "", "fp16": " --fp16", "int8": " --int8 --calib DIR"}


@dataclass(frozen=True)
class DeviceInfo:
    """The GPU an engine is built for or loaded on."""

    name: str
    compute_capability: tuple[int, int]

    @property
    def sm(self) -> str:
        return f"sm{self.compute_capability[0]}{self.compute_capability[1]}"

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-") or "gpu"


def current_device(index: int = 0) -> DeviceInfo:
    """The CUDA device ``index`` as pycuda sees it (pycuda is imported here, not at module load)."""
    import pycuda.driver as cuda

    cuda.init()
    dev = cuda.Device(index)
    return DeviceInfo(dev.name(), tuple(dev.compute_capability()))


@dataclass(frozen=True)
class EngineMeta:
    """What an engine was built from and for; ``fcw_version`` is the installed fcw distribution's
    version (engines reads it from the package metadata, not from fcw)."""

    model: str
    onnx_sha256: str
    trt_version: str
    gpu_name: str
    compute_capability: tuple[int, int]
    precision: str
    batch: int
    input_shape: tuple[int, ...]
    built_at: str
    fcw_version: str
    # Fraction of hold-out detections an INT8 engine agreed on with the fp32 graph (None otherwise).
    int8_agreement: Optional[float] = None

    @property
    def device(self) -> DeviceInfo:
        return DeviceInfo(self.gpu_name, self.compute_capability)


def default_engine_dir() -> Path:
    return user_cache_dir().parent / "engines"


def engine_name(model: str, onnx_sha256: str, trt_version: str, device: DeviceInfo,
                precision: str, batch: int) -> str:
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}; one of {', '.join(PRECISIONS)}")
    return (f"{model}-{onnx_sha256[:12]}-trt{trt_version}-{device.slug}-{device.sm}-"
            f"{precision}-b{batch}.engine")


def engine_path(meta: EngineMeta, dir: Optional[Path] = None) -> Path:
    return Path(dir or default_engine_dir()) / engine_name(
        meta.model, meta.onnx_sha256, meta.trt_version, meta.device, meta.precision, meta.batch)


def sidecar_path(engine: Path) -> Path:
    return Path(engine).with_suffix(".json")


def atomic_write(path: Path, data: bytes) -> None:
    """Write beside the target then rename, so a crash never leaves a half-written file there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_meta(meta: EngineMeta, engine: Path) -> Path:
    side = sidecar_path(engine)
    atomic_write(side, (json.dumps(asdict(meta), indent=2) + "\n").encode())
    return side


def read_meta(engine: Path) -> EngineMeta:
    side = sidecar_path(engine)
    if not side.is_file():
        raise ModelError(f"{engine}: no sidecar {side.name} beside it; refusing to load an engine "
                         "of unknown origin: rebuild it with fcw build-engine")
    try:
        raw = json.loads(side.read_text(encoding="utf-8"))
        known = {f.name for f in fields(EngineMeta)}
        missing = sorted(known - set(raw) - {"int8_agreement"})
        if missing:
            raise ValueError(f"missing field {missing[0]!r}")
        raw = {k: v for k, v in raw.items() if k in known}
        raw["compute_capability"] = tuple(raw["compute_capability"])
        raw["input_shape"] = tuple(raw["input_shape"])
        return EngineMeta(**raw)
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelError(f"{side}: invalid engine sidecar: {exc}") from None


def check_compatible(meta: EngineMeta, device: DeviceInfo, trt_version: str, onnx_sha256: str,
                     precision: Optional[str] = None, *, path: Optional[Path] = None) -> None:
    """Refuse, in one line naming the field that differs, an engine built for something else."""
    where = f"{path}: " if path else ""
    flag = _PRECISION_FLAG.get(meta.precision, "")
    fix = f": rebuild with fcw build-engine --model {meta.model}{flag}"
    if meta.onnx_sha256 != onnx_sha256:
        raise ModelError(f"{where}engine built from ONNX sha256 {meta.onnx_sha256[:12]}..., "
                         f"the model file is {onnx_sha256[:12]}...{fix}")
    if meta.trt_version != trt_version:
        raise ModelError(f"{where}engine built with TensorRT {meta.trt_version}, this is TensorRT "
                         f"{trt_version}{fix}")
    if tuple(meta.compute_capability) != tuple(device.compute_capability):
        raise ModelError(f"{where}engine built for {meta.device.sm} ({meta.gpu_name}), this GPU is "
                         f"{device.sm} ({device.name}){fix}")
    if meta.gpu_name != device.name:
        # Same compute capability but another GPU: TensorRT tunes kernels per device, so an engine
        # may run slower or refuse to load; rebuilding is cheap next to chasing that.
        raise ModelError(f"{where}engine built on GPU {meta.gpu_name!r}, this GPU is "
                         f"{device.name!r}{fix}")
    if precision is not None and meta.precision != precision:
        raise ModelError(f"{where}engine precision is {meta.precision}, {precision} was asked for: "
                         f"rebuild with fcw build-engine --model {meta.model}"
                         f"{_PRECISION_FLAG.get(precision, '')}")
