"""One scenario's verdicts from several runs of benchmarks/scenarios.py side by side, as markdown:
one row per mount and seed, one column per labelled set of ``scenarios.json`` files (a commit).

    python benchmarks/compare_runs.py SCENARIO --tuned 0,1,2,wide:4 LABEL=FILE[,FILE...] ...

Cells in --tuned are marked "tuned on", the others "held out": a seed (tuned on through every
mount) or MOUNT:SEED (through that mount only), comma-separated.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

MOUNTS = ("centred", "windscreen", "wide")


def verdicts(scenario: str, files: list[Path]) -> dict[tuple[str, int], str]:
    out = {}
    for f in files:
        for r in json.loads(f.read_text(encoding="utf-8"))["runs"]:
            if r["scenario"] == scenario:
                t = r["first_warning_true_ttc_s"]
                out[(r["camera"], r["seed"])] = ("pass" if r["passed"] else
                                                 "fails" if t is None else f"warns at {t:.2f} s")
    return out


def parse_tuned(spec: str) -> set[int | tuple[str, int]]:
    """``"0,1,wide:4"`` -> {0, 1, ("wide", 4)}."""
    out: set[int | tuple[str, int]] = set()
    for item in filter(None, spec.split(",")):
        mount, _, seed = item.rpartition(":")
        out.add((mount, int(seed)) if mount else int(seed))
    return out


def table(scenario: str, columns: list[tuple[str, list[Path]]],
          tuned: set[int | tuple[str, int]]) -> str:
    cols = [(label, verdicts(scenario, files)) for label, files in columns]
    keys = sorted({k for _, v in cols for k in v},
                  key=lambda k: (MOUNTS.index(k[0]) if k[0] in MOUNTS else 9, k[1]))
    lines = ["| mount | seed | " + " | ".join(label for label, _ in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for cam, seed in keys:
        tag = "tuned on" if seed in tuned or (cam, seed) in tuned else "held out"
        lines.append(f"| {cam} | {seed} ({tag}) | "
                     + " | ".join(v.get((cam, seed), "-") for _, v in cols) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scenario")
    p.add_argument("columns", nargs="+", help="LABEL=FILE[,FILE...]")
    p.add_argument("--tuned", "--tuned-seeds", default="",
                   help="cells looked at while choosing: SEED (every mount) or MOUNT:SEED")
    args = p.parse_args(argv)
    columns = []
    for col in args.columns:
        label, _, files = col.partition("=")
        columns.append((label, [Path(f) for f in files.split(",")]))
    tuned = parse_tuned(args.tuned)
    print(table(args.scenario, columns, tuned), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
