"""Check TensorRT against ONNX Runtime on a machine with an NVIDIA GPU.

    python engines/check_gpu.py [--models-dir DIR] [--frames DIR|VIDEO] [--tolerance X]

Builds each model's engine (fp32 and fp16) into a temporary folder, runs the same real frames
through ONNX Runtime (CPU) and TensorRT, prints the largest absolute output difference and the
per-frame latency (median / p99 ms) of both, and exits 1 if any difference exceeds its tolerance.
Exit 2 when TensorRT is not usable here. This is the check no CI without a GPU can run.
"""
from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder would come first on sys.path and its siblings (spec.py,
# store.py ...) would shadow same-named modules; the repository root is what is wanted.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if str(_HERE.parent) not in sys.path:
    sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

TOLERANCE = {"fp32": 1e-3, "fp16": 2e-2}
DEFAULT_FRAMES = (_HERE.parent.parent / "shared" / "data" / "udacity-vehicle-detection"
                  / "test_images")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def checked_models() -> list[str]:
    """Every detector with a spec (FastestDet, YOLOX-Nano, ...) and the whole-frame light model."""
    from engines.spec import available_models, load_spec

    return [m for m in available_models()
            if load_spec(m).task == "detector" or m == "nexar_tl"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Build fcw's TensorRT engines (fp32, fp16) and compare their outputs and "
                    "latency with ONNX Runtime on real frames. Tolerances on the largest absolute "
                    f"output difference: fp32 {TOLERANCE['fp32']:g}, fp16 {TOLERANCE['fp16']:g}. "
                    "Exit 0: all agree; 1: some differ beyond tolerance; 2: no TensorRT here.")
    p.add_argument("--models-dir", type=Path, help="folder holding the model files")
    p.add_argument("--frames", type=Path, default=DEFAULT_FRAMES,
                   help=f"image folder or video file (default {DEFAULT_FRAMES})")
    p.add_argument("--max-frames", type=int, default=100, help="frames to use at most")
    p.add_argument("--tolerance", type=float,
                   help="one tolerance for every precision instead of fp32 1e-3 / fp16 2e-2")
    p.add_argument("--models", nargs="+", default=checked_models(), metavar="NAME",
                   help=f"model specs to check (default: {' '.join(checked_models())})")
    return p.parse_args(argv)


def read_frames(src: Path, limit: int) -> list[np.ndarray]:
    """Up to ``limit`` frames of an image folder (sorted by name) or a video file.

    Plain OpenCV: engines sits below fcw and does not use its sources; a GPU check needs only
    real frames, not timestamps or reconnection.
    """
    import cv2

    frames: list[np.ndarray] = []
    if src.is_dir():
        for path in sorted(p for p in src.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES):
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                raise SystemExit(f"check_gpu: {path}: not a readable image")
            frames.append(img)
            if len(frames) == limit:
                break
    elif src.is_file():
        cap = cv2.VideoCapture(str(src))
        while len(frames) < limit:
            ok, img = cap.read()
            if not ok:
                break
            frames.append(img)
        cap.release()
    else:
        raise SystemExit(f"check_gpu: {src}: no such folder or video file")
    if not frames:
        raise SystemExit(f"check_gpu: {src}: no frames")
    return frames


def timed(backend, frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Outputs and per-frame latencies (ms), one frame per call as the live pipeline runs."""
    backend.infer(frames[:1])  # warm-up: first-call allocations and kernel selection
    outs, ms = [], []
    for f in frames:
        t0 = time.perf_counter()
        outs.append(backend.infer([f]))
        ms.append((time.perf_counter() - t0) * 1e3)
    return np.concatenate(outs), np.asarray(ms)


def main(argv=None) -> int:
    args = parse_args(argv)
    from engines.backends.trt_env import TENSORRT_HINT, tensorrt_unavailable_reason

    reason = tensorrt_unavailable_reason()
    if reason is not None:
        print(f"check_gpu: no usable TensorRT/CUDA here ({reason}), nothing checked "
              f"({TENSORRT_HINT})")
        return 2
    from engines.backends.onnxruntime import OnnxRuntimeBackend
    from engines.backends.tensorrt import TensorRTBackend
    from engines.build import build_and_cache
    from engines.cache import current_device
    from engines.spec import load_spec
    from engines.store import resolve_model, sha256_of

    frames = read_frames(args.frames, args.max_frames)
    dev = current_device()
    print(f"{dev.name} ({dev.sm}), {len(frames)} frames from {args.frames}")
    failed = False
    with tempfile.TemporaryDirectory(prefix="fcw-engines-") as out:
        for name in args.models:
            spec = load_spec(name)
            onnx = resolve_model(spec, args.models_dir)
            with OnnxRuntimeBackend(spec, onnx) as ort:
                ref, ref_ms = timed(ort, frames)
            for precision in ("fp32", "fp16"):
                tol = args.tolerance if args.tolerance is not None else TOLERANCE[precision]
                engine = build_and_cache(spec, onnx, precision, out_dir=Path(out))
                with TensorRTBackend(spec, engine, precision=precision,
                                     onnx_sha256=sha256_of(onnx)) as trt_backend:
                    got, trt_ms = timed(trt_backend, frames)
                diff = float(np.abs(got - ref).max())
                ok = diff <= tol
                failed |= not ok
                print(f"{name:10s} {precision}: max |trt - ort| = {diff:.2e} (tol {tol:g}) "
                      f"{'OK' if ok else 'FAIL'}; ms/frame median/p99: onnxruntime "
                      f"{np.median(ref_ms):.2f}/{np.percentile(ref_ms, 99):.2f}, tensorrt "
                      f"{np.median(trt_ms):.2f}/{np.percentile(trt_ms, 99):.2f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
