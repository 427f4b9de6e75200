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
import sys
from pathlib import Path

from ui import overlay_unavailable, parse_size


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _at_least_zero(text: str) -> float:
    value = _number(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _share(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


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
    gt.add_argument("--gt-noise-px", type=_at_least_zero, default=2.0, metavar="PX",
                    help="sigma of the Gaussian noise added to each box coordinate (default 2 px)")
    gt.add_argument("--gt-miss-rate", type=_share, default=0.0, metavar="P",
                    help="share of the boxes dropped, as a detector misses them (default 0)")
    gt.add_argument("--gt-false-rate", type=_at_least_zero, default=0.0, metavar="N",
                    help="false boxes added, per frame on average (default 0)")
    gt.add_argument("--seed", type=int, default=0,
                    help="seed of the noise, misses and false boxes (default 0)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    # Here, not at the top: `fcw --help` must not pay for OpenCV, ONNX Runtime and scipy.
    from fcw.config import load_config
    from fcw.errors import FcwError

    # None: show the overlay; "": headless as asked; else why there can be no overlay here.
    why = ("" if args.headless and not args.screenshot
           else overlay_unavailable(bool(args.screenshot)))
    if why and args.screenshot:
        raise FcwError(f"--screenshot needs the overlay: {why}")
    overrides: dict[str, object] = {}
    if why is None:
        # Pause, step and seek act on the frame on screen: the overlay reads none ahead.
        overrides["pipeline.threaded"] = False
    if args.realtime:
        overrides["source.realtime"] = True
    if args.fps is not None:
        overrides["source.folder_fps"] = args.fps
    cfg = load_config(args.config, overrides)
    # After the config: a mistyped field is reported without waiting a second for scipy.
    from fcw.app import GroundTruthOptions, RunOptions, build_parts
    from fcw.runtime import run_pipeline

    gt = None
    if args.gt_boxes:
        gt = GroundTruthOptions(args.gt_boxes, args.gt_noise_px, args.gt_miss_rate,
                                args.gt_false_rate, args.seed)
    options = RunOptions(source=args.source, events=args.events, record=args.record,
                         tracks=args.tracks, max_frames=args.max_frames,
                         models_dir=args.models_dir, backend=args.backend,
                         status=not args.no_status, ground_truth=gt)
    parts = build_parts(cfg, options)
    if why is None:
        from ui.app import run_overlay  # PyQt6 only here, so a headless run works without it

        return run_overlay(parts, cfg, args.screenshot, args.window_size)
    if why:
        print(f"fcw: {why}; running headless", file=sys.stderr)
    return run_pipeline(parts.assemble())
