"""One scenario's verdicts from several runs of benchmarks/scenarios.py side by side, as markdown:
one row per mount and seed, one column per labelled set of ``scenarios.json`` files (a commit).

    python benchmarks/compare_runs.py SCENARIO --tuned-seeds 0,1,2 LABEL=FILE[,FILE...] ...

Seeds in --tuned-seeds are marked "tuned on", the others "held out".
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


def table(scenario: str, columns: list[tuple[str, list[Path]]], tuned: set[int]) -> str:
    cols = [(label, verdicts(scenario, files)) for label, files in columns]
    keys = sorted({k for _, v in cols for k in v},
                  key=lambda k: (MOUNTS.index(k[0]) if k[0] in MOUNTS else 9, k[1]))
    lines = ["| mount | seed | " + " | ".join(label for label, _ in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for cam, seed in keys:
        tag = "tuned on" if seed in tuned else "held out"
        lines.append(f"| {cam} | {seed} ({tag}) | "
                     + " | ".join(v.get((cam, seed), "-") for _, v in cols) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("scenario")
    p.add_argument("columns", nargs="+", help="LABEL=FILE[,FILE...]")
    p.add_argument("--tuned-seeds", default="", help="seeds looked at while choosing")
    args = p.parse_args(argv)
    columns = []
    for col in args.columns:
        label, _, files = col.partition("=")
        columns.append((label, [Path(f) for f in files.split(",")]))
    tuned = {int(s) for s in args.tuned_seeds.split(",") if s}
    print(table(args.scenario, columns, tuned), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
