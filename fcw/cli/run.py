"""``fcw run``: replay a drive or watch a camera, and log what fcw sees and says.

Exit codes, for a supervisor (systemd ``Restart=on-failure`` restarts on any but 0):

0  the source ended (a file or folder), ``--max-frames`` was reached, or SIGINT/SIGTERM stopped
   the run; the events file has its end record.
1  a runtime fault: a source, model or output that cannot be opened, a stage that failed.
2  bad configuration or usage (the message names the file, line and field).
3  source lost: a live camera or stream stopped delivering frames and was not reconnected,
   because ``source.reconnect`` is disabled or ``give_up_after_s`` passed. By default a lost
   camera or stream is reopened with backoff for as long as it takes (``source_lost`` and
   ``source_resumed`` events record the gap) and the process does not exit.
"""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from fcw.app import GroundTruthOptions, RunOptions, build_pipeline
from fcw.config import load_config
from fcw.errors import FcwError, SourceError
from fcw.pipeline import Pipeline
from fcw.sinks.base import RunSummary
from fcw.sources import LiveSource
from ui import overlay_unavailable, parse_size

EXIT_OK = 0
EXIT_FAULT = 1
EXIT_USAGE = 2  # returned by fcw.cli.main for ConfigError and by argparse
EXIT_SOURCE_LOST = 3


class SourceLost(SourceError):
    """A live source that failed mid-run; the CLI prints it as one line and exits 3."""

    exit_code = EXIT_SOURCE_LOST


def exit_code(summary: RunSummary, live: bool) -> int:
    """How a finished run ends the process: a live stream has no normal end, so its end is a loss."""
    if summary.error is not None or summary.stop_reason == "error":
        return EXIT_FAULT
    if summary.stop_reason == "end_of_source" and live:
        return EXIT_SOURCE_LOST
    return EXIT_OK


def run_pipeline(pipeline: Pipeline) -> int:
    """Run until the source ends or SIGINT/SIGTERM arrives; the process's exit code."""
    # A camera or network stream; a video file paced with --realtime ends normally.
    live = isinstance(pipeline.source, LiveSource)

    def _stop(signum: int, _frame: object) -> None:
        pipeline.request_stop()  # also wakes a wait for a camera that is gone

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        summary = pipeline.run()
    except SourceError as exc:
        if live and not isinstance(exc, SourceLost):
            raise SourceLost(str(exc)) from exc
        raise
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return exit_code(summary, live)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the pipeline on a video, camera, stream or image folder",
                       description="Run the forward-collision pipeline on a source.")
    p.add_argument("--source", required=True,
                   help="video file, image folder or glob, camera index or /dev/videoN, "
                        "GStreamer pipeline (with '!'), or rtsp:// / http:// URL")
    p.add_argument("--config", type=Path, help="YAML config (default: configs/default.yaml)")
    p.add_argument("--headless", action="store_true",
                   help="no on-screen overlay (also the mode without a display or PyQt6)")
    p.add_argument("--events", type=Path, help="write the events file (JSON Lines) here")
    p.add_argument("--record", type=Path, help="write the annotated video here")
    p.add_argument("--tracks", type=Path, help="write tracks in MOTChallenge format here")
    p.add_argument("--max-frames", type=int, help="stop after this many frames")
    p.add_argument("--realtime", action="store_true",
                   help="pace a video file at its frame rate, dropping frames like a live camera")
    p.add_argument("--fps", type=float, help="frame rate of an image folder or glob")
    p.add_argument("--models-dir", type=Path, help="look for model files here first")
    p.add_argument("--backend", choices=["auto", "onnxruntime", "tensorrt"],
                   help="inference backend (default: the config's detector.backend)")
    p.add_argument("--no-status", action="store_true", help="no console status line")
    ui = p.add_argument_group("the overlay (PyQt6)")
    ui.add_argument("--screenshot", type=Path, metavar="PNG",
                    help="render the overlay offscreen and save it as a PNG when the run ends "
                         "(with --max-frames N: after N frames), then exit")
    ui.add_argument("--window-size", type=parse_size, metavar="WxH",
                    help="overlay window size (default 1280x720; 800x480 for a small screen)")
    gt = p.add_argument_group("ground-truth boxes instead of the detector")
    gt.add_argument("--gt-boxes", type=Path, metavar="LABELS",
                    help="a .labels.json file whose boxes replace the detector's")
    gt.add_argument("--gt-noise-px", type=float, default=2.0)
    gt.add_argument("--gt-miss-rate", type=float, default=0.0)
    gt.add_argument("--gt-false-rate", type=float, default=0.0)
    gt.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    overrides = {}
    if args.realtime:
        overrides["source.realtime"] = True
    if args.fps is not None:
        overrides["source.folder_fps"] = args.fps
    cfg = load_config(args.config, overrides)
    gt = None
    if args.gt_boxes:
        gt = GroundTruthOptions(args.gt_boxes, args.gt_noise_px, args.gt_miss_rate,
                                args.gt_false_rate, args.seed)
    options = RunOptions(source=args.source, events=args.events, record=args.record,
                         tracks=args.tracks, max_frames=args.max_frames,
                         models_dir=args.models_dir, backend=args.backend,
                         status=not args.no_status, ground_truth=gt)
    # None: show the overlay; "": headless as asked; else why there can be no overlay here.
    why = "" if args.headless and not args.screenshot else overlay_unavailable(bool(args.screenshot))
    if why and args.screenshot:
        raise FcwError(f"--screenshot needs the overlay: {why}")
    pipeline = build_pipeline(cfg, options)
    if why is None:
        from ui.app import run_overlay  # PyQt6 only here, so a headless run works without it

        return run_overlay(pipeline, cfg, args.screenshot, args.window_size)
    if why:
        print(f"fcw: {why}; running headless", file=sys.stderr)
    return run_pipeline(pipeline)
