"""``fcw render``: write scenario clips and their label files."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fcw.scenarios.kinematics import SCENARIOS


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser("render", help="render synthetic scenario clips with exact labels",
                              description="Render SCENARIO (or 'all') to DIR/<name>.mp4 and "
                                          "DIR/<name>.labels.json.")
    p.add_argument("scenario", nargs="?", help="scenario name, or 'all'")
    p.add_argument("--out", type=Path, default=Path("out/scenarios"), help="output folder")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.set_defaults(func=main)
    return p


def main(args: argparse.Namespace) -> int:
    if args.list or not args.scenario:
        for s in SCENARIOS.values():
            print(f"{s.name:20s} {s.expect.warning or '-':9s} {s.description}")
        return 0 if args.list else 2
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        print(f"fcw: error: unknown scenario {unknown[0]!r}; see fcw render --list",
              file=sys.stderr)
        return 2
    from fcw.scenarios.render import render_scenario  # heavy imports only when rendering
    for name in names:
        labels = render_scenario(name, args.out / f"{name}.mp4", fps=args.fps, seed=args.seed)
        print(f"{args.out / (name + '.mp4')}: {len(labels.frames)} frames")
    return 0
