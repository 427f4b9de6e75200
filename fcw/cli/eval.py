"""``fcw eval``: score the pipeline on labelled clips (detection, tracking, TTC, warnings, lights)."""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

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
    p.add_argument("--report", type=Path, metavar="DIR",
                   help="write report.json, summary.md and the plots here")
    p.add_argument("--config", type=Path)
    p.add_argument("--models-dir", type=Path)
    p.add_argument("--backend", choices=["auto", "onnxruntime", "tensorrt"])
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
    from fcw.eval.floors import check_floors, load_floors, make_floors
    from fcw.eval.report import build_report, figures, markdown, write_report
    from fcw.eval.runner import run_clip

    # An evaluation replays many clips: no beeps, no heartbeat lines on stderr.
    cfg = load_config(args.config, {"alert.enabled": False, "output.heartbeat_s": 0.0})
    floors = load_floors(args.check_floors) if args.check_floors else None
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
    if floors is not None:
        failures = check_floors(figs, floors)
        for line in failures:
            print(f"fcw eval: floors: {line}", file=sys.stderr)
        if failures:
            return 1
        print(f"all {len(figs)} figures within the floors of {args.check_floors}")
    return 0
