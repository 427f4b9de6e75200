"""``fcw bench``: how fast the pipeline runs here, stage by stage."""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from engines.spec import available_models
from fcw.app import RunOptions, build_pipeline
from fcw.bench import BenchSink, format_comparison, format_report, machine
from fcw.config import Config, ConfigError, load_config
from fcw.perception.detector import Detector
from fcw.sinks.events import read_events

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "sample_videos" / "lead_stopped.mp4"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure per-stage latency and fps",
                       description="Run the pipeline over a source (every frame, as fast as it "
                                   "can) and print per-stage median and p99 latency, fps and "
                                   "peak memory, with the machine and model.")
    p.add_argument("--source", default=str(DEFAULT_SOURCE),
                   help="any fcw run source (default: sample_videos/lead_stopped.mp4)")
    p.add_argument("--config", type=Path, help="YAML config (default: configs/default.yaml)")
    p.add_argument("--backend", choices=["auto", "onnxruntime", "tensorrt"],
                   help="inference backend (default: the config's detector.backend)")
    p.add_argument("--frames", type=int, help="stop after this many frames")
    p.add_argument("--models-dir", type=Path, help="look for model files here first")
    p.add_argument("--models", type=lambda v: [m.strip() for m in v.split(",") if m.strip()],
                   help="comma-separated detector models to run one after the other on the same "
                        "source and compare (e.g. yolox_nano,fastestdet); default: the config's")
    p.add_argument("--json", type=Path, help="also write the report here")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    models = getattr(args, "models", None)
    if not models:
        report = _bench(cfg, args)
        print(format_report(report))
        _write_json(args.json, report)
        return 0
    known = available_models()
    for m in models:
        if m not in known:
            raise ConfigError(f"--models: unknown model {m!r}; known: {', '.join(known)}")
    reports = []
    for m in models:
        # Each model with its own run size (detector.input_size applies to the config's model).
        det = cfg.detector.model_copy(update={
            "model": m, "input_size": cfg.detector.input_size if m == cfg.detector.model else None})
        reports.append(_bench(cfg.model_copy(update={"detector": det}), args))
        print(format_report(reports[-1]) + "\n", flush=True)
    print(format_comparison(reports))
    _write_json(args.json, reports)
    return 0


def _write_json(path: Path | None, data: Any) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2) + "\n")


def _bench(cfg: Config, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fcw-bench-") as tmp:
        # Events are written to a real events file, so capture-to-event includes the write.
        pipeline = build_pipeline(cfg, RunOptions(source=args.source, max_frames=args.frames,
                                                  models_dir=args.models_dir,
                                                  backend=args.backend, status=False,
                                                  events=Path(tmp) / "events.jsonl"))
        detector = pipeline.detector
        assert isinstance(detector, Detector), "fcw bench runs a model, never ground truth"
        backend = detector.backend
        sink = BenchSink(backend.spec.class_names)
        pipeline.sinks = [*pipeline.sinks, sink]
        pipeline.run()
        records = read_events(Path(tmp) / "events.jsonl")
        start = next(records, {})  # the start record names the light models, if any
        records.close()
    return {"source": args.source, "backend": backend.name, "model": backend.spec.name,
            "model_sha256": backend.spec.sha256,
            "model_input_size": [backend.spec.input.width, backend.spec.input.height],
            "lights": start.get("lights"), "machine": machine(),
            "config_far_crop": cfg.detector.far_crop.enabled, **sink.report()}
