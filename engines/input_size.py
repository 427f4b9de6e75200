"""Running a model at another input size: a derived copy of its graph, cached like an engine.

YOLOX's exported graph computes its reshapes from the input's shape, so only the input's
declared height and width need to change: a 16:9 frame letterboxed into 416x416 leaves 44% of
the input as padding, 416x256 or 640x384 does not. The derived file lives in the user cache
(``~/.cache/fcw/derived/{model}-{source sha256[:12]}-{W}x{H}.onnx``) with a JSON sidecar naming
its source's sha256, its own sha256 and the output shape it gave on a trial run; it is never
part of the repository. The source file is verified by the model store before it gets here.
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

from engines.errors import ModelError

from .spec import ModelSpec
from .store import sha256_of, user_cache_dir

log = logging.getLogger(__name__)


def derived_dir() -> Path:
    return user_cache_dir().parent / "derived"


def resized_spec(spec: ModelSpec, width: int, height: int,
                 output_shape: tuple[int, ...]) -> ModelSpec:
    """The spec of the derived graph: its input size and the output shape it gives."""
    return spec.model_copy(update={
        "input": spec.input.model_copy(update={"width": width, "height": height}),
        "output": spec.output.model_copy(update={"shape": tuple(output_shape)})})


def with_input_size(spec: ModelSpec, model_path: Path, size: Optional[tuple[int, int]],
                    cache_dir: Optional[Path] = None) -> tuple[ModelSpec, Path]:
    """(spec, file) to run ``spec``'s verified ``model_path`` at ``size`` = (width, height).

    None: the spec's ``run_size``, if any. The graph's own size: the model as it is. Otherwise
    the derived graph, rewritten and tried once on first use, then taken from the cache.
    """
    if size is None and spec.input.run_size and not _onnx_available():
        # onnx is optional: without it the default still runs, at the graph's own size, and the
        # start record's model_input_size says so. Only a size asked for is an error.
        log.warning("%s: running at its own input size %dx%d: its run size %dx%d needs the onnx "
                    "package to rewrite the graph (pip install onnx)", model_path,
                    spec.input.width, spec.input.height, *spec.input.run_size)
        return spec, model_path
    size = size or spec.input.run_size
    if size is None or tuple(size) == (spec.input.width, spec.input.height):
        return spec, model_path
    w, h = int(size[0]), int(size[1])
    multiple = spec.input.size_multiple
    if multiple is None:
        raise ModelError(f"{model_path}: model {spec.name!r} takes only its own input size "
                         f"{spec.input.width}x{spec.input.height}, not {w}x{h} "
                         f"(detector.input_size)")
    if w % multiple or h % multiple:
        raise ModelError(f"{model_path}: input size {w}x{h} (detector.input_size) is not a "
                         f"multiple of {multiple}, which model {spec.name!r} needs")
    target = Path(cache_dir or derived_dir()) / f"{spec.name}-{spec.sha256[:12]}-{w}x{h}.onnx"
    sidecar = target.with_suffix(".json")
    shape = _cached_output_shape(target, sidecar, spec.sha256)
    if shape is None:
        shape = _derive(spec, model_path, w, h, target, sidecar)
    return resized_spec(spec, w, h, shape), target


def _onnx_available() -> bool:
    try:
        return importlib.util.find_spec("onnx") is not None
    except ValueError:  # a module put in sys.modules as None (tests) has no spec
        return False


def _cached_output_shape(target: Path, sidecar: Path,
                         source_sha256: str) -> Optional[tuple[int, ...]]:
    """The output shape recorded for a derived file that is still what its sidecar says."""
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        if meta["source_sha256"] == source_sha256 and sha256_of(target) == meta["sha256"]:
            return tuple(int(d) for d in meta["output_shape"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None  # missing, damaged or stale: derived again


def _derive(spec: ModelSpec, model_path: Path, w: int, h: int, target: Path,
            sidecar: Path) -> tuple[int, ...]:
    try:
        import onnx
    except ImportError:
        raise ModelError(f"{model_path}: running model {spec.name!r} at {w}x{h} "
                         f"(detector.input_size) needs the onnx package to rewrite its graph: "
                         f"pip install onnx, or set detector.input_size: null") from None
    try:
        model = onnx.load(str(model_path))
        dims = model.graph.input[0].type.tensor_type.shape.dim
        dims[2].dim_value, dims[3].dim_value = h, w
        # Shapes inferred at export time for the old size would contradict the new one.
        del model.graph.value_info[:]
        for out in model.graph.output:
            for d in out.type.tensor_type.shape.dim:
                d.dim_param = d.dim_param or "dynamic"
        data = model.SerializeToString()
    except Exception as exc:  # onnx raises DecodeError, IndexError... on a graph it cannot read
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"{model_path}: cannot rewrite its input to {w}x{h}: {why}") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".derive-", suffix=".onnx", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would keep a shared cache from other users
        shape = _trial_run(spec, model_path, tmp, w, h)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    meta = {"source": str(model_path), "source_sha256": spec.sha256, "sha256": sha256_of(target),
            "input_size": [w, h], "output_shape": list(shape)}
    sidecar.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return shape


def _trial_run(spec: ModelSpec, model_path: Path, derived: Path, w: int, h: int) -> tuple[int, ...]:
    """The derived graph's output shape (batch axis dropped) on one input of zeros."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    batch = spec.input.batch or 1
    try:
        session = ort.InferenceSession(str(derived), sess_options=opts,
                                       providers=["CPUExecutionProvider"])
        out = session.run(None, {session.get_inputs()[0].name:
                                 np.zeros((batch, 3, h, w), np.float32)})[0]
    except Exception as exc:  # onnxruntime's own exception types differ between versions
        raise ModelError(f"{model_path}: the graph cannot run at input size {w}x{h} "
                         f"(detector.input_size): {str(exc).splitlines()[0]}") from None
    want = _expected_output_shape(spec, w, h)
    if want is not None and tuple(out.shape[1:]) != want:
        raise ModelError(f"{model_path}: at input size {w}x{h} the graph gives output "
                         f"{list(out.shape)}, expected [N, {', '.join(map(str, want))}]")
    return tuple(int(d) for d in out.shape[1:])


def _expected_output_shape(spec: ModelSpec, w: int, h: int) -> Optional[tuple[int, ...]]:
    """What a multi-scale head must give at (w, h): one row per anchor point of each stride."""
    strides = spec.output.strides
    if not strides:
        return None
    points = sum((w // s) * (h // s) for s in strides)
    return (points, *spec.output.shape[1:])
