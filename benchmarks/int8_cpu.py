"""INT8 on the CPU: agreement with fp32 and speed-up, per detector, on real clips.

    FCW_MODELS_DIR=../shared/models FCW_SHARED_DIR=../shared python benchmarks/int8_cpu.py \
        [--models yolox_nano fastestdet] [--method minmax] [--threads 1] [--runs 60] [--json FILE]

For each model: ONNX Runtime static quantisation (engines/quantize.py, the same code as
``fcw build-engine --backend onnxruntime --int8``) calibrated on every 5th frame of the
CALIBRATION clips (highway_solid_white_right, motorway_dawn, kitti_stop_and_go), at most 200
frames. It then reports the detection agreement with fp32 (F1 of same-class boxes at IoU 0.5,
after fcw's decoder at the default score threshold and NMS), on three sets of frames:
- the gate's hold-out: every 5th of those frames, not calibrated on, but from the same clips;
- the SELECTION clips, the Udacity test video and highway_traffic (every 5th frame): which
  layers stay in float (engines/quantize.py, FLOAT_FIRST_CONVS) was chosen on these, so their
  figure is a tuned-on one;
- the HELD-OUT clips, used for nothing else: night_highway and city_sf_pandaset (every 5th).
The gate's verdict uses the first figure, as ``fcw build-engine`` does; a model is built and
measured here even when the gate would refuse it (threshold 0), so that both figures print.
Speed: median model time (prepared input to raw output, one frame) of fp32 and int8, wall and
CPU, their runs interleaved so that other load on the machine hits both alike; the load average
is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engines.backends.onnxruntime import OnnxRuntimeBackend  # noqa: E402
from engines.calibrator import holdout_agreement, split_holdout  # noqa: E402
from engines.quantize import interleaved_ms, quantize_int8, read_quant_meta  # noqa: E402
from engines.spec import load_spec  # noqa: E402
from engines.store import resolve_model  # noqa: E402
from fcw.cli.build_engine import gate_decoder, read_calibration_frames  # noqa: E402
from fcw.config import load_config  # noqa: E402

SHARED = Path(os.environ.get("FCW_SHARED_DIR") or ROOT.parent / "shared")
DRIVES = SHARED / "data" / "real-drives"
CALIBRATION = [DRIVES / "highway_solid_white_right.mp4", DRIVES / "motorway_dawn.mp4",
               DRIVES / "kitti_stop_and_go" / "images"]
SELECTION = [SHARED / "data" / "udacity-vehicle-detection" / "test_video.mp4",
             DRIVES / "highway_traffic.mp4"]
HELD_OUT = [DRIVES / "night_highway.mp4", DRIVES / "city_sf_pandaset"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["yolox_nano", "fastestdet"])
    p.add_argument("--method", default="minmax", choices=("minmax", "percentile", "entropy"))
    p.add_argument("--threads", type=int, default=1,
                   help="ONNX Runtime threads for both (default 1: CPU time is then the work)")
    p.add_argument("--runs", type=int, default=60, help="timed runs of each model")
    p.add_argument("--json", type=Path, help="write the figures here too")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = load_config(None)
    tuning = read_calibration_frames([str(p) for p in CALIBRATION], every=5, limit=200)
    selection = read_calibration_frames([str(p) for p in SELECTION], every=5, limit=200)
    held_out = read_calibration_frames([str(p) for p in HELD_OUT], every=5, limit=200)
    print(f"calibration clips: {len(tuning)} frames (4 of 5 calibrate, every 5th is the gate's "
          f"hold-out); selection clips: {len(selection)} frames; held-out clips: "
          f"{len(held_out)} frames; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores")
    results = {}
    with tempfile.TemporaryDirectory(prefix="fcw-int8-") as tmp:
        for name in args.models:
            spec = load_spec(name)
            source = resolve_model(spec)
            decode = gate_decoder(spec, cfg)
            if decode is None:
                raise SystemExit(f"{name}: not a detector; this benchmark compares detections")
            t0 = time.perf_counter()
            path = quantize_int8(spec, source, tuning, decode, out_dir=Path(tmp),
                                 min_agreement=0.0, threads=args.threads, method=args.method)
            build_s = time.perf_counter() - t0
            meta = read_quant_meta(path)
            with OnnxRuntimeBackend(spec, source, threads=args.threads) as fp32, \
                    OnnxRuntimeBackend(spec, path, threads=args.threads, precision="int8") as q:
                tuned = holdout_agreement(fp32, q, selection, decode)
                unseen = holdout_agreement(fp32, q, held_out, decode)
                x = fp32.prepare([held_out[0]])
                ms = interleaved_ms(fp32, q, x, args.runs)
            _, gate_frames = split_holdout(tuning)
            results[name] = {
                "method": args.method, "calib_frames": meta.calib_frames,
                "gate_holdout_frames": len(gate_frames), "gate_agreement": meta.int8_agreement,
                "selection_clip_frames": len(selection), "selection_agreement": round(tuned, 4),
                "held_out_clip_frames": len(held_out), "held_out_agreement": round(unseen, 4),
                "accepted_at_0.9": meta.int8_agreement >= 0.9,
                "fp32_wall_ms": ms["a_wall"], "int8_wall_ms": ms["b_wall"],
                "fp32_cpu_ms": ms["a_cpu"], "int8_cpu_ms": ms["b_cpu"],
                "speedup_wall": round(ms["a_wall"] / ms["b_wall"], 2),
                "speedup_cpu": round(ms["a_cpu"] / ms["b_cpu"], 2),
                "load_average": round(os.getloadavg()[0], 1),
                "build_s": round(build_s, 1), "threads": args.threads,
                "fp32_bytes": source.stat().st_size, "int8_bytes": path.stat().st_size}
            r = results[name]
            print(f"{name:11s} {args.method}: agreement with fp32 {r['gate_agreement']:.3f} on "
                  f"the gate's {r['gate_holdout_frames']} hold-out frames "
                  f"({'accepted' if r['accepted_at_0.9'] else 'refused'} at 0.9), "
                  f"{r['selection_agreement']:.3f} on {len(selection)} frames of the selection "
                  f"clips (tuned on), {r['held_out_agreement']:.3f} on {len(held_out)} frames of "
                  f"held-out clips; "
                  f"per run fp32 / int8: wall {r['fp32_wall_ms']:.1f} / {r['int8_wall_ms']:.1f} "
                  f"ms ({r['speedup_wall']:.2f}x), CPU {r['fp32_cpu_ms']:.1f} / "
                  f"{r['int8_cpu_ms']:.1f} ms ({r['speedup_cpu']:.2f}x), {args.threads} "
                  f"thread(s), load {r['load_average']}; built in {build_s:.0f} s",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
