"""``fcw build-engine``: build a model's TensorRT engine for this GPU, or its INT8 graph for the
CPU, and cache it.

engines builds and checks; this command composes it with fcw's parts: the calibration frames
come from fcw's sources (any folder, glob or video), and the INT8 agreement gate reads the model's
output with fcw's own decoder and NMS, as the detector stage does.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np

from engines.build import DEFAULT_WORKSPACE_MB

if TYPE_CHECKING:
    from engines.calibrator import Decode
    from engines.spec import ModelSpec
    from fcw.config import Config
    from fcw.types import Detections

CALIB_EVERY = 5
CALIB_MAX = 200


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build-engine", help="build and cache a TensorRT engine, or a CPU INT8 model",
        description="Build a model's TensorRT engine for this GPU, TensorRT version and "
                    "precision (needs an NVIDIA GPU, TensorRT 10 and pycuda), or with "
                    "--backend onnxruntime --int8 its statically quantised graph for the CPU; "
                    "cache it (default ~/.cache/fcw/engines) with a JSON sidecar. An INT8 result "
                    "is calibrated on 4 of every 5 --calib frames and kept only if its "
                    "detections on the others agree with fp32 (F1 >= --min-agreement).")
    p.add_argument("--model", help="model name (engines/specs/NAME.yaml; default: the config's "
                                   "detector.model)")
    p.add_argument("--backend", choices=("tensorrt", "onnxruntime"), default="tensorrt",
                   help="tensorrt (default): an engine; onnxruntime: an INT8 graph (--int8 only)")
    prec = p.add_mutually_exclusive_group()
    prec.add_argument("--fp32", dest="precision", action="store_const", const="fp32",
                      help="full precision")
    prec.add_argument("--fp16", dest="precision", action="store_const", const="fp16",
                      help="half precision (the default)")
    prec.add_argument("--int8", dest="precision", action="store_const", const="int8",
                      help="INT8, calibrated on --calib; kept only if its detections on held-out "
                           "frames agree with fp32")
    p.add_argument("--calib", nargs="+", metavar="SRC",
                   help="real frames for INT8 calibration: image folders, globs or videos")
    p.add_argument("--calib-every", type=int, default=CALIB_EVERY, metavar="N",
                   help=f"take every N-th frame of each --calib source (default {CALIB_EVERY})")
    p.add_argument("--calib-max", type=int, default=CALIB_MAX, metavar="N",
                   help=f"at most N frames in all, spread evenly (default {CALIB_MAX})")
    p.add_argument("--calib-method", default="minmax",
                   choices=("minmax", "percentile", "entropy"),
                   help="CPU INT8: how activation ranges are measured (default minmax)")
    p.add_argument("--min-agreement", type=float, metavar="F1",
                   help="hold-out agreement an INT8 result needs (default 0.9)")
    p.add_argument("--config", type=Path, help="fcw config: detector model, input size, score "
                                               "threshold and NMS used by the agreement check")
    p.add_argument("--batch", type=int, help="largest batch (default: the graph's fixed batch, "
                                             "else 2: frame and far crop)")
    p.add_argument("--workspace", type=int, default=DEFAULT_WORKSPACE_MB, metavar="MB",
                   help=f"builder workspace in MiB (default {DEFAULT_WORKSPACE_MB})")
    p.add_argument("--models-dir", type=Path, help="look for model files here first")
    p.add_argument("--out", type=Path, help="engine folder (default ~/.cache/fcw/engines)")
    p.set_defaults(func=main, precision=None)


def read_calibration_frames(sources: Sequence[str], every: int, limit: int) -> list[np.ndarray]:
    """Every ``every``-th frame of each source, in order, thinned evenly to at most ``limit``."""
    from fcw.errors import SourceError
    from fcw.sources import open_source

    if every < 1 or limit < 1:
        raise SourceError(f"--calib-every and --calib-max must be >= 1, got {every} and {limit}")
    frames: list[np.ndarray] = []
    for src in sources:
        with open_source(src) as source:
            got = [f.image for i, f in enumerate(source) if i % every == 0]
        if not got:
            raise SourceError(f"{src}: no frames for INT8 calibration")
        frames += got
    if len(frames) > limit:
        keep = np.linspace(0, len(frames) - 1, limit).round().astype(int)
        frames = [frames[i] for i in keep]
    return frames


def gate_decoder(spec: ModelSpec, cfg: Config) -> Optional[Decode]:
    """How the INT8 gate reads a detector's output: fcw's decoder at the configured score
    threshold, then NMS, so it compares the boxes the detector stage would merge. None for a
    classifier (engines compares its top class)."""
    if spec.task != "detector":
        return None
    from fcw.perception.decoders import make_decoder
    from fcw.perception.merge import nms

    decoder, nms_cfg = make_decoder(spec), cfg.detector.nms

    def decode(out: np.ndarray, width: int, height: int) -> Detections:
        dets = decoder(out, cfg.detector.score_threshold, width, height, None)
        return nms(dets, nms_cfg.iou_threshold, nms_cfg.class_agnostic)

    return decode


def main(args: argparse.Namespace) -> int:
    from engines.backends import tensorrt_usable
    from engines.backends.trt_env import tensorrt_unavailable_reason, unavailable
    from engines.input_size import with_input_size
    from engines.spec import load_spec
    from engines.store import resolve_model
    from fcw.config import load_config
    from fcw.errors import ModelError

    cfg = load_config(args.config)
    spec = load_spec(args.model or cfg.detector.model)
    precision = args.precision or ("int8" if args.backend == "onnxruntime" else "fp16")
    if precision == "int8" and not args.calib:
        raise ModelError("--int8 needs --calib SRC (real frames: a folder, glob or video)")
    if args.calib and precision != "int8":
        raise ModelError("--calib is only used with --int8")
    if args.backend == "onnxruntime" and precision != "int8":
        raise ModelError(f"--backend onnxruntime builds only INT8 graphs (--int8); {precision} "
                         "runs the model file as it is")
    if args.backend == "tensorrt" and not tensorrt_usable():
        raise unavailable(tensorrt_unavailable_reason())
    model_path = resolve_model(spec, args.models_dir)
    # The size the detector runs it at: the config's for its own model, else the spec's run size
    # (so the engine built here is the one `fcw run` looks up).
    size = cfg.detector.input_size if spec.name == cfg.detector.model else None
    spec, model_path = with_input_size(spec, model_path, size)
    frames = (read_calibration_frames(args.calib, args.calib_every, args.calib_max)
              if args.calib else None)
    agreement = {} if args.min_agreement is None else {"min_agreement": args.min_agreement}
    if args.backend == "onnxruntime":
        return _quantize(spec, model_path, frames or [], gate_decoder(spec, cfg), args, agreement)

    from engines.build import build_and_cache
    from engines.cache import read_meta

    path = build_and_cache(spec, model_path, precision, args.batch, args.workspace, args.out,
                           calib_frames=frames, decode=gate_decoder(spec, cfg), **agreement)
    meta = read_meta(path)
    extra = f", INT8 agreement {meta.int8_agreement:.3f}" if meta.int8_agreement is not None else ""
    print(f"{path} ({meta.precision}, batch {meta.batch}, TensorRT {meta.trt_version}, "
          f"{meta.gpu_name} sm{meta.compute_capability[0]}{meta.compute_capability[1]}{extra})")
    return 0


def _quantize(spec: ModelSpec, model_path: Path, frames: Sequence[np.ndarray],
              decode: Optional[Decode], args: argparse.Namespace, agreement: dict) -> int:
    from engines.quantize import quantize_int8, read_quant_meta

    path = quantize_int8(spec, model_path, frames, decode, args.out, method=args.calib_method,
                         **agreement)
    meta = read_quant_meta(path)
    speed = meta.fp32_cpu_ms / max(meta.int8_cpu_ms, 1e-9)
    print(f"{path} (int8 for ONNX Runtime {meta.onnxruntime_version}, calibrated on "
          f"{meta.calib_frames} frames, agreement with fp32 {meta.int8_agreement:.3f} on "
          f"{meta.holdout_frames} held-out frames; CPU ms per run fp32 {meta.fp32_cpu_ms:.1f}, "
          f"int8 {meta.int8_cpu_ms:.1f} ({speed:.2f}x); use it with detector.int8: true)")
    return 0
