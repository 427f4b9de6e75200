"""``fcw render``: write scenario clips and their label files."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from fcw.scenarios.camera import CAMERAS
from fcw.scenarios.kinematics import SCENARIOS


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("render", help="render synthetic scenario clips with exact labels",
                              description="Render SCENARIO (or 'all') to DIR/<name>.mp4 and "
                                          "DIR/<name>.labels.json.")
    p.add_argument("scenario", nargs="?", help="scenario name, or 'all'")
    p.add_argument("--out", type=Path, default=Path("out/scenarios"), help="output folder")
    p.add_argument("--fps", type=float, default=30.0,
                   help="frame rate of the clip; the motion is the same at any rate (default 30)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the textures and sensor noise: a seed always gives the same "
                        "pixels (default 0)")
    p.add_argument("--camera", default="centred",
                   help=f"camera mount: {', '.join(CAMERAS)} (default centred); the label file "
                        "records it")
    p.add_argument("--size", default="1280x720", metavar="WxH", help="frame size in pixels")
    p.add_argument("--list", action="store_true", help="list the scenarios and cameras and exit")
    p.set_defaults(func=main)
    return p


def _error(msg: str) -> int:
    print(f"fcw: error: {msg}", file=sys.stderr)
    return 2


def main(args: argparse.Namespace) -> int:
    if args.list or not args.scenario:
        for s in SCENARIOS.values():
            print(f"{s.name:22s} {s.expect.warning or '-':9s} {s.description}")
        for c in CAMERAS.values():
            print(f"camera {c.name:15s} {c.hfov_deg:g} deg hfov, {c.height_m:g} m high, pitch "
                  f"{c.pitch_deg:g}, roll {c.roll_deg:g}, yaw {c.yaw_deg:g} deg, "
                  f"offset {c.offset_m:g} m")
        return 0 if args.list else 2
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        return _error(f"unknown scenario {unknown[0]!r}; see fcw render --list")
    if args.camera not in CAMERAS:
        return _error(f"--camera: unknown camera {args.camera!r}; known: {', '.join(CAMERAS)}")
    size = re.fullmatch(r"(\d+)x(\d+)", args.size)
    if size is None or min(int(size[1]), int(size[2])) < 16:
        return _error(f"--size: expected WxH of at least 16x16 pixels, got {args.size!r}")
    if not args.fps > 0:
        return _error(f"--fps: must be > 0, got {args.fps}")
    from fcw.scenarios.render import (
        render_scenario,  # heavy imports only when rendering
    )
    for name in names:
        labels = render_scenario(name, args.out / f"{name}.mp4", fps=args.fps, seed=args.seed,
                                 width=int(size[1]), height=int(size[2]), camera=args.camera)
        print(f"{args.out / (name + '.mp4')}: {len(labels.frames)} frames, camera {args.camera}")
    return 0
