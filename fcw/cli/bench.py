"""``fcw bench``: how fast the pipeline runs here, stage by stage."""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from fcw.app import RunOptions, build_pipeline
from fcw.bench import BenchSink, format_report, machine
from fcw.config import load_config
from fcw.sinks.events import read_events

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "sample_videos" / "lead_stopped.mp4"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure per-stage latency and fps",
                       description="Run the pipeline over a source (every frame, as fast as it "
                                   "can) and print per-stage median and p99 latency, fps and "
                                   "peak memory, with the machine and model.")
    p.add_argument("--source", default=str(DEFAULT_SOURCE),
                   help="any fcw run source (default: sample_videos/lead_stopped.mp4)")
    p.add_argument("--config", type=Path)
    p.add_argument("--backend", choices=["auto", "onnxruntime", "tensorrt"])
    p.add_argument("--frames", type=int, help="stop after this many frames")
    p.add_argument("--models-dir", type=Path)
    p.add_argument("--json", type=Path, help="also write the report here")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    with tempfile.TemporaryDirectory(prefix="fcw-bench-") as tmp:
        # Events are written to a real events file, so capture-to-event includes the write.
        pipeline = build_pipeline(cfg, RunOptions(source=args.source, max_frames=args.frames,
                                                  models_dir=args.models_dir,
                                                  backend=args.backend, status=False,
                                                  events=Path(tmp) / "events.jsonl"))
        backend = pipeline.detector.backend
        sink = BenchSink(backend.spec.class_names)
        pipeline.sinks = [*pipeline.sinks, sink]
        pipeline.run()
        records = read_events(Path(tmp) / "events.jsonl")
        start = next(records, {})  # the start record names the light models, if any
        records.close()
    report = {"source": args.source, "backend": backend.name, "model": backend.spec.name,
              "model_sha256": backend.spec.sha256, "lights": start.get("lights"),
              "machine": machine(), "config_far_crop": cfg.detector.far_crop.enabled,
              **sink.report()}
    print(format_report(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0
