"""README figures that cannot drift: each comes from a command that writes it.

    python -m benchmarks.readme write [NAME ...]   # rerun the figures' commands -> docs/figures/
    python -m benchmarks.readme render             # rewrite the README's blocks from docs/figures/
    python -m benchmarks.readme check              # exit 1 where a block differs from its file

A figure is a block in README.md between ``<!-- fig:NAME -->`` and ``<!-- /fig:NAME -->``. Its
text is rendered from ``docs/figures/NAME.json``, which holds the values, the command that
measured them and, for a timing, the date and machine it was measured on. ``write`` reruns a
figure's command (for ``quickstart``: ``fcw demo``, exactly as the README tells a newcomer) and
``render`` puts the text into the README; never edit a block by hand.

Deterministic figures (events, frames, TTCs of a replay) are checked by
``tests/test_readme_figures.py`` against a fresh run, so a change to the code that moves them
fails until they are rewritten. Timings move with the machine and its load: they are written by
hand (``--measured-by-hand``: the date and machine are kept with them) and only the README's text
is checked against their file.
"""
from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
FIGURES_DIR = REPO / "docs" / "figures"
SAMPLE = REPO / "sample_videos" / "lead_stopped.mp4"
BLOCK = re.compile(r"<!-- fig:(?P<name>[a-z0-9_-]+) -->\n(?P<body>.*?)<!-- /fig:(?P=name) -->",
                   re.S)


@dataclass(frozen=True)
class Figure:
    """How one figure is measured and shown.

    command: what a reader runs to see it, written beside the values.
    measure: the values, as JSON-able data; None for a timing (measured by hand, never rerun).
    render: the README text (Markdown) from the values.
    tolerance: for a deterministic figure, how far a float of a fresh run may be from the
        committed one (ONNX Runtime's last digits differ between CPUs), keyed by value name.
    """

    name: str
    command: str
    measure: Callable[[], dict[str, Any]] | None
    render: Callable[[dict[str, Any]], str]
    tolerance: dict[str, float]


# --- quickstart: the first run of the README -----------------------------------------------------

def run_demo(out: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``fcw demo --out out``, in a subprocess, as a newcomer runs it."""
    fcw = [sys.executable, "-m", "fcw"]
    return subprocess.run([*fcw, "demo", "--out", str(out)], capture_output=True, text=True,
                          env=env, timeout=900, check=False)


def demo_figures(events: Path) -> dict[str, Any]:
    """The quick start's figures from the events file ``fcw demo`` wrote."""
    from fcw.labels import labels_path_for, load_labels
    from fcw.sinks.events import read_events

    records = list(read_events(events))
    levels = [r for r in records if r["type"] == "fcw"]
    caution = next((r for r in levels if r["level"] == "caution"), None)
    warning = next(r for r in levels if r["level"] == "warning")
    labels = load_labels(labels_path_for(SAMPLE))
    truth = labels.frame_at(warning["frame"])
    true_ttc = truth.lead.ttc_s if truth is not None and truth.lead is not None else None
    return {"frames": records[-1]["frames"],
            "caution_frame": caution["frame"] if caution is not None else None,
            "warning_frame": warning["frame"], "warning_t_s": warning["t"],
            "warning_ttc_s": warning["ttc_s"], "warning_ttc_sigma_s": warning["ttc_sigma_s"],
            "warning_true_ttc_s": round(true_ttc, 3) if true_ttc is not None else None,
            "required_ttc_s": labels.expect.required_ttc_s, "warning_record": warning}


def measure_quickstart() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fcw-fig-") as tmp:
        proc = run_demo(Path(tmp) / "demo")
        if proc.returncode != 0:
            raise RuntimeError(f"fcw demo failed: {proc.stderr.strip()}")
        return demo_figures(Path(tmp) / "demo" / "events.jsonl")


def render_quickstart(v: dict[str, Any]) -> str:
    caution = f", after a caution at frame {v['caution_frame']}" if v["caution_frame"] else ""
    text = (f"On this clip, a rendered approach at 45 mph to a stopped car, the collision warning "
            f"comes at frame {v['warning_frame']} ({v['warning_t_s']:.2f} s in, true TTC "
            f"{v['warning_true_ttc_s']:.2f} s, estimated {v['warning_ttc_s']:.2f} s; NHTSA asks "
            f"for {v['required_ttc_s']:g} s){caution}:")
    line = json.dumps(v["warning_record"], separators=(",", ":"))
    return f"{textwrap.fill(text, width=100)}\n\n```\n{line}\n```\n"


# --- timings, measured by hand -------------------------------------------------------------------

def render_timings(v: dict[str, Any]) -> str:
    rows = "".join(f"| `{r['command']}` | {r['figure']} |\n" for r in v["rows"])
    intro = (f"Measured by hand on {v['measured']} ({v['machine']}; timings move with the "
             f"load, so no test checks them):")
    return f"{textwrap.fill(intro, width=100)}\n\n| command | time |\n|---|---|\n{rows}"


# --- real_detection: both detectors on the hand-labelled real frames ---------------------------

DETECTION_COMMAND = ("fcw eval tests/data/real --detection-only --models yolox_nano,fastestdet "
                     "--report detection.md")
BANDS = ("all", "12-24", "24-48", "48-96", "96+")


def _fcw_eval(args: list[str], report: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "fcw", "eval", *args, "--report", str(report)],
                          capture_output=True, text=True, timeout=1800, check=False, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"fcw eval failed: {proc.stderr.strip()}")


def detection_figures(report: dict[str, Any]) -> dict[str, Any]:
    """The README's detection figures from ``fcw eval --detection-only``'s JSON report."""
    return {name: {split: {"frames": m[split]["frames"],
                           "ap50": {b: m[split]["ap50"][b] for b in BANDS},
                           "recall": {b: m[split]["recall"][b] for b in BANDS},
                           "n_gt": {b: m[split]["n_gt"][b] for b in BANDS},
                           "false_per_frame": m[split]["false_per_frame"],
                           "jitter_median": m[split]["jitter"]["median"],
                           "jitter_p90": m[split]["jitter"]["p90"]}
                   for split in ("tune", "heldout")}
            for name, m in report["models"].items()}


def measure_real_detection() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fcw-fig-") as tmp:
        md = Path(tmp) / "detection.md"
        _fcw_eval(["tests/data/real", "--detection-only", "--models", "yolox_nano,fastestdet"], md)
        return detection_figures(json.loads(md.with_suffix(".json").read_text(encoding="utf-8")))


def render_real_detection(v: dict[str, Any]) -> str:
    head = ("| model | split (frames) | AP50 all | recall all / 12-24 / 24-48 / 48-96 / 96+ px "
            "| false boxes per frame | width jitter median / p90 |\n|---|---|---|---|---|---|\n")
    rows = ""
    for name, splits in v.items():
        for split, f in splits.items():
            rec = " / ".join(f"{f['recall'][b]:.2f}" for b in BANDS)
            rows += (f"| {name} | {split} ({f['frames']}) | {f['ap50']['all']:.3f} | {rec} | "
                     f"{f['false_per_frame']:.2f} | {100 * f['jitter_median']:.1f}% / "
                     f"{100 * f['jitter_p90']:.1f}% |\n")
    return f"`{DETECTION_COMMAND}`:\n\n{head}{rows}"


# --- kitti_ttc: TTC against the lidar on the KITTI stop-and-go drive -----------------------------

KITTI_LABELS = "tests/data/real/kitti_stop_and_go.ttc.labels.json"


def kitti_figures(report: dict[str, Any]) -> dict[str, Any]:
    """The README's KITTI figures from ``fcw eval --report``'s report.json."""
    clip = next(iter(report["warnings"]["clips"].values()))
    return {"buckets": {k: report["ttc"][k] for k in ("3-6s", "6-20s")},
            "warnings": clip["warnings"], "cautions": clip["cautions"]}


def measure_kitti_ttc() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fcw-fig-") as tmp:
        _fcw_eval([KITTI_LABELS], Path(tmp))
        return kitti_figures(json.loads((Path(tmp) / "report.json").read_text(encoding="utf-8")))


def render_kitti_ttc(v: dict[str, Any]) -> str:
    rows = "".join(
        f"| {k} | {b['frames']} | {100 * b['coverage']:.0f}% | {100 * b['median_rel_error']:.1f}% "
        f"| {100 * b['p90_rel_error']:.1f}% |\n" for k, b in v["buckets"].items())
    return (f"`fcw eval {KITTI_LABELS} --report DIR` (warnings: {v['warnings']}, cautions: "
            f"{v['cautions']}):\n\n| true TTC | frames | coverage | median relative error | p90 |"
            f"\n|---|---|---|---|---|\n{rows}")


FIGURES = {f.name: f for f in (
    Figure("quickstart", "fcw demo", measure_quickstart, render_quickstart,
           {"warning_t_s": 1e-6, "warning_ttc_s": 0.005, "warning_ttc_sigma_s": 0.005,
            "warning_true_ttc_s": 1e-6, "t": 1e-6, "ttc_s": 0.005, "ttc_sigma_s": 0.005}),
    Figure("timings", "by hand (see each row)", None, render_timings, {}),
    Figure("real_detection", DETECTION_COMMAND, measure_real_detection, render_real_detection,
           {}),
    Figure("kitti_ttc", f"fcw eval {KITTI_LABELS} --report DIR", measure_kitti_ttc,
           render_kitti_ttc, {"median_rel_error": 0.005, "p90_rel_error": 0.01}),
)}


# --- files and README blocks ---------------------------------------------------------------------

def figure_path(name: str) -> Path:
    return FIGURES_DIR / f"{name}.json"


def load(name: str) -> dict[str, Any]:
    return json.loads(figure_path(name).read_text(encoding="utf-8"))


def save(name: str, values: dict[str, Any], measured_by_hand: str | None = None) -> Path:
    fig = FIGURES[name]
    doc: dict[str, Any] = {"figure": name, "command": fig.command,
                           "deterministic": fig.measure is not None, "values": values}
    if measured_by_hand:
        doc["measured_by_hand"] = measured_by_hand
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    path = figure_path(name)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def rendered(name: str) -> str:
    return FIGURES[name].render(load(name)["values"])


def render_readme(text: str) -> str:
    """The README with every figure block's text rendered afresh from its file."""
    def sub(m: re.Match[str]) -> str:
        name = m["name"]
        if name not in FIGURES:
            raise KeyError(f"README.md: unknown figure {name!r} (benchmarks/readme.py FIGURES)")
        return f"<!-- fig:{name} -->\n{rendered(name)}<!-- /fig:{name} -->"
    return BLOCK.sub(sub, text)


def stale_blocks(text: str) -> list[str]:
    """The names of the README's figure blocks whose text is not what their file renders."""
    return [m["name"] for m in BLOCK.finditer(text) if m["body"] != rendered(m["name"])]


def differences(name: str, fresh: dict[str, Any], committed: dict[str, Any]) -> list[str]:
    """Where a fresh measurement departs from the committed one, beyond the figure's
    tolerances; an empty list when it matches."""
    tolerance = FIGURES[name].tolerance
    out = []

    def walk(path: str, a: Any, b: Any) -> None:
        key = path.split(".")[-1]
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                walk(f"{path}.{k}" if path else k, a.get(k), b.get(k))
        elif isinstance(a, float) and isinstance(b, (int, float)) and key in tolerance:
            if abs(a - b) > tolerance[key]:
                out.append(f"{path}: {b} committed, {a} now")
        elif a != b:
            out.append(f"{path}: {b!r} committed, {a!r} now")

    walk("", fresh, committed)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.readme",
                                description="Write, render and check the README's figures.")
    sub = p.add_subparsers(dest="action", required=True)
    w = sub.add_parser("write", help="rerun the deterministic figures' commands into docs/figures")
    w.add_argument("names", nargs="*", help="figures to rewrite (default: every deterministic one)")
    sub.add_parser("render", help="rewrite README.md's figure blocks from docs/figures")
    sub.add_parser("check", help="exit 1 when a README block differs from its file")
    args = p.parse_args(argv)
    if args.action == "write":
        names = args.names or [n for n, f in FIGURES.items() if f.measure is not None]
        for name in names:
            fig = FIGURES.get(name)
            if fig is None or fig.measure is None:
                p.error(f"{name}: not a figure a command rewrites ({', '.join(FIGURES)})")
            print(f"{save(name, fig.measure())}")
        return 0
    text = README.read_text(encoding="utf-8")
    if args.action == "render":
        new = render_readme(text)
        if new != text:
            README.write_text(new, encoding="utf-8")
        print(f"README.md: {len(BLOCK.findall(text))} figure blocks rendered")
        return 0
    stale = stale_blocks(text)
    for name in stale:
        print(f"README.md: figure {name!r} differs from docs/figures/{name}.json "
              "(python -m benchmarks.readme render)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
