"""``fcw build-engine``: build a model's TensorRT engine for this GPU and cache it."""
from __future__ import annotations

import argparse
from pathlib import Path

from engines.build import DEFAULT_WORKSPACE_MB


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build-engine", help="build and cache a TensorRT engine for this GPU",
        description="Build a model's TensorRT engine for this GPU, TensorRT version and "
                    "precision, and cache it (default ~/.cache/fcw/engines) with a JSON sidecar. "
                    "Needs an NVIDIA GPU, TensorRT 10 and pycuda.")
    p.add_argument("--model", required=True, help="model name (engines/specs/NAME.yaml)")
    prec = p.add_mutually_exclusive_group()
    prec.add_argument("--fp32", dest="precision", action="store_const", const="fp32",
                      help="full precision")
    prec.add_argument("--fp16", dest="precision", action="store_const", const="fp16",
                      help="half precision (the default)")
    prec.add_argument("--int8", dest="precision", action="store_const", const="int8",
                      help="INT8, calibrated on --calib; kept only if its detections on held-out "
                           "frames agree with fp32 (F1 >= 0.9)")
    p.add_argument("--calib", type=Path, metavar="DIR",
                   help="folder of real frames for INT8 calibration (every 5th is held out)")
    p.add_argument("--batch", type=int, help="largest batch (default: the graph's fixed batch, "
                                             "else 2: frame and far crop)")
    p.add_argument("--workspace", type=int, default=DEFAULT_WORKSPACE_MB, metavar="MB",
                   help=f"builder workspace in MiB (default {DEFAULT_WORKSPACE_MB})")
    p.add_argument("--models-dir", type=Path, help="look for model files here first")
    p.add_argument("--out", type=Path, help="engine folder (default ~/.cache/fcw/engines)")
    p.set_defaults(func=main, precision="fp16")


def main(args: argparse.Namespace) -> int:
    from engines.backends import TENSORRT_HINT, tensorrt_usable
    from engines.build import build_and_cache
    from engines.cache import read_meta
    from engines.calibrator import list_images
    from engines.spec import load_spec
    from engines.store import resolve_model
    from fcw.errors import BackendUnavailable, ModelError

    spec = load_spec(args.model)
    if args.precision == "int8" and not args.calib:
        raise ModelError("--int8 needs --calib DIR (a folder of real frames)")
    if args.calib and args.precision != "int8":
        raise ModelError("--calib is only used with --int8")
    if not tensorrt_usable():
        raise BackendUnavailable(TENSORRT_HINT)
    onnx = resolve_model(spec, args.models_dir)
    calib = list_images(args.calib) if args.calib else None
    path = build_and_cache(spec, onnx, args.precision, args.batch, args.workspace, args.out,
                           calib_images=calib)
    meta = read_meta(path)
    extra = f", INT8 agreement {meta.int8_agreement:.3f}" if meta.int8_agreement is not None else ""
    print(f"{path} ({meta.precision}, batch {meta.batch}, TensorRT {meta.trt_version}, "
          f"{meta.gpu_name} sm{meta.compute_capability[0]}{meta.compute_capability[1]}{extra})")
    return 0
