"""``fcw eval``: score fcw on labelled clips (detection, tracking, TTC, warnings, lights)."""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from fcw import __version__
from fcw.config import load_config


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="evaluate the pipeline on labelled clips",
        description="Run the same pipeline as `fcw run` over labelled clips and report vehicle "
                    "detection AP50 and recall per size band, MOTA and IDF1, TTC error by true "
                    "TTC, warnings against each clip's expectation and traffic-light accuracy.")
    p.add_argument("dataset", nargs="+", metavar="DATASET",
                   help="a video with its .labels.json beside it, a .labels.json file, a folder "
                        "of them, or a scenario name (fcw render --list) or 'all'")
    p.add_argument("--report", type=Path, metavar="DIR|FILE.md",
                   help="write report.json, summary.md and the plots into DIR; with "
                        "--detection-only, FILE.md gets the Markdown tables and FILE.json the "
                        "figures")
    p.add_argument("--detection-only", action="store_true",
                   help="run only the detector stage on the labelled frames (hand-labelled real "
                        "drives): AP50 and recall by box width, false boxes per frame and box "
                        "width jitter, for the tune and held-out frames apart")
    p.add_argument("--models", metavar="NAME[,NAME...]",
                   help="with --detection-only: the detector models to compare in one run "
                        "(default: the config's detector.model); floors hold the first")
    p.add_argument("--config", type=Path, help="YAML config (default: configs/default.yaml)")
    p.add_argument("--models-dir", type=Path, help="look for model files here first")
    p.add_argument("--backend", choices=["auto", "onnxruntime", "tensorrt"],
                   help="inference backend (default: the config's detector.backend)")
    p.add_argument("--data-root", type=Path, action="append", metavar="DIR",
                   help="where a label file's video is looked for when it is not beside the "
                        "label file (repeatable; default: $FCW_SHARED_DIR, else ../shared)")
    p.add_argument("--check-floors", type=Path, metavar="FILE",
                   help="exit 1 when a figure falls outside the floors in FILE")
    p.add_argument("--write-floors", type=Path, metavar="FILE",
                   help="write floors a margin below the figures of this run to FILE")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    # Metric libraries and the renderer are loaded only for this command.
    from engines.spec import load_spec
    from fcw.eval.dataset import find_clips
    from fcw.eval.floors import load_floors, make_floors
    from fcw.eval.report import build_report, figures, markdown, write_report
    from fcw.eval.runner import run_clip

    # An evaluation replays many clips: no beeps, no heartbeat lines on stderr.
    cfg = load_config(args.config, {"alert.enabled": False, "output.heartbeat_s": 0.0})
    floors = load_floors(args.check_floors) if args.check_floors else None
    if args.detection_only:
        return _detection_only(args, cfg, floors)
    if args.models:
        print("fcw eval: --models compares detectors with --detection-only only", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="fcw-eval-") as tmp:
        clips = find_clips(args.dataset, Path(tmp), args.data_root)
        runs = [run_clip(cfg, clip, args.models_dir, args.backend) for clip in clips]
    meta = {"fcw_version": __version__, "dataset": list(args.dataset),
            "model": load_spec(cfg.detector.model).name,
            "backend": runs[0].backend if runs else None}
    report = build_report(runs, meta)
    figs = figures(report)
    report["figures"] = {k: v for k, (v, _) in sorted(figs.items())}
    if args.report:
        write_report(report, runs, args.report)
    print(markdown(report, []).split("\n## Plots")[0].rstrip())
    if args.report:
        print(f"\nreport: {args.report / 'report.json'}, {args.report / 'summary.md'}")
    if args.write_floors:
        import json

        args.write_floors.parent.mkdir(parents=True, exist_ok=True)
        args.write_floors.write_text(json.dumps(make_floors(figs, list(args.dataset)), indent=2)
                                     + "\n", encoding="utf-8")
        print(f"floors: {args.write_floors}")
    return _check_floors(figs, floors, args.check_floors, "")


def _detection_only(args: argparse.Namespace, cfg: Any, floors: Any) -> int:
    """``fcw eval --detection-only``: each model's detector stage, built from the config with
    ``detector.model`` set, on every labelled frame of the clips that box every vehicle."""
    import json

    from engines.spec import load_spec
    from fcw.app import RunOptions, build_detector
    from fcw.eval.dataset import find_clips
    from fcw.eval.detection import detect_labelled_frames, evaluate_splits
    from fcw.eval.floors import make_floors
    from fcw.eval.report import detection_figures, detection_markdown

    models = [m.strip() for m in (args.models or cfg.detector.model).split(",") if m.strip()]
    if floors is not None:  # before minutes of work: floors are one model's
        floors_model = json.loads(args.check_floors.read_text(encoding="utf-8")).get("model")
        if floors_model not in (None, models[0]):
            print(f"fcw eval: {args.check_floors}: floors are for model {floors_model!r}, not "
                  f"{models[0]!r} (put it first in --models)", file=sys.stderr)
            return 1
    with tempfile.TemporaryDirectory(prefix="fcw-eval-") as tmp:
        clips = [c for c in find_clips(args.dataset, Path(tmp), args.data_root)
                 if c.labels.boxes == "all"]
    if not clips:
        print(f"fcw eval: {', '.join(args.dataset)}: no label file boxes every vehicle (only "
              "'boxes': 'lead_only' ones): nothing to score", file=sys.stderr)
        return 1
    results = {}
    for model in models:
        mcfg = cfg.model_copy(update={"detector": cfg.detector.model_copy(update={"model": model})})
        spec = load_spec(model)
        detector, info = build_detector(mcfg, spec, RunOptions(
            source="", status=False, models_dir=args.models_dir, backend=args.backend))
        frames = [f for clip in clips
                  for f in detect_labelled_frames(detector, clip, spec.vehicle_class_ids)]
        results[model] = {"model": spec.name, "backend": info.get("backend"),
                          "sha256": spec.sha256, "input_size": info.get("model_input_size"),
                          **evaluate_splits(frames)}
    report = {"fcw_version": __version__, "dataset": list(args.dataset),
              "clips": [c.name for c in clips], "models": results}
    text = detection_markdown(report)
    print(text.rstrip())
    if args.report:
        md = args.report if args.report.suffix == ".md" else args.report / "detection.md"
        md.parent.mkdir(parents=True, exist_ok=True)
        md.write_text(text, encoding="utf-8")
        md.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        print(f"\nreport: {md}, {md.with_suffix('.json')}")
    figs = detection_figures(results[models[0]])
    if args.write_floors:
        args.write_floors.parent.mkdir(parents=True, exist_ok=True)
        doc = make_floors(figs, list(args.dataset), about=DETECTION_FLOORS_ABOUT,
                          model=models[0])
        args.write_floors.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        print(f"floors ({models[0]}): {args.write_floors}")
    return _check_floors(figs, floors, args.check_floors, models[0])


DETECTION_FLOORS_ABOUT = (
    "Floors (min) and ceilings (max) for the detector figures of `fcw eval tests/data/real "
    "--detection-only` (the default model, on the hand-labelled real frames, tune and held-out "
    "apart); tests/test_real_detection.py fails when a figure falls outside them. After a "
    "deliberate change of model, input size, crop or thresholds, re-measure with `fcw eval "
    "tests/data/real --detection-only --write-floors tests/data/real_detection_floors.json` and "
    "commit the file with the change; 'measured' records the figures they were set from.")


def _check_floors(figs: Any, floors: Any, path: Any, model: str) -> int:
    """Exit status of a run held to ``floors`` (None: not held), each failure on stderr."""
    if floors is None:
        return 0
    from fcw.eval.floors import check_floors

    failures = check_floors(figs, floors)
    for line in failures:
        print(f"fcw eval: floors: {model + ': ' if model else ''}{line}", file=sys.stderr)
    if failures:
        return 1
    print(f"all {len(figs)} figures{' of ' + model if model else ''} within the floors of {path}")
    return 0
