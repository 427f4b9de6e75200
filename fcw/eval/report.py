"""The evaluation report: one JSON file, plots to look at, and a short Markdown summary.

``DIR/report.json``    every figure, overall and per clip;
``DIR/summary.md``     the headline figures as tables, linking the plots;
``DIR/ttc_<clip>.png`` fcw's TTC (with one sigma) against the truth over time, warnings marked;
``DIR/recall_by_size.png`` detection recall by box height, the stand-in for distance.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fcw.eval import require
from fcw.eval.detection import BANDS, SPLITS, WIDTH_BANDS, evaluate_detection, images_of
from fcw.eval.lights import evaluate_lights, light_figures, light_markdown
from fcw.eval.runner import ClipRun
from fcw.eval.tracking import evaluate_tracking
from fcw.eval.ttc import evaluate_ttc
from fcw.eval.warnings import evaluate_warnings, onsets


def build_report(runs: Sequence[ClipRun], meta: dict[str, Any]) -> dict[str, Any]:
    return {
        **meta,
        "clips": {r.clip.name: {"video": str(r.clip.video), "labels": str(r.clip.labels_path),
                                "frames": len(r.frames),
                                "labelled_frames": len(r.clip.labels.frames),
                                "detection": evaluate_detection(images_of(r))}
                  for r in runs},
        "detection": evaluate_detection([im for r in runs for im in images_of(r)]),
        "tracking": evaluate_tracking(runs),
        "ttc": evaluate_ttc(runs),
        "warnings": evaluate_warnings(runs),
        "lights": evaluate_lights(runs),
    }


# --- the figures the regression floors hold -------------------------------------------------------

def figures(report: dict[str, Any]) -> dict[str, tuple[float, str]]:
    """Every headline figure as ``name -> (value, "min" | "max")``: "min" where higher is better,
    "max" where lower is. Figures that could not be measured (no such labels) are left out."""
    out: dict[str, tuple[float, str]] = {}

    def put(name: str, value: Any, better: str) -> None:
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            out[name] = (float(value), better)

    det = report["detection"]
    for band in BANDS:
        put(f"detection.ap50.{band}", det["ap50"][band], "min")
        put(f"detection.recall.{band}", det["recall"][band], "min")
    trk = report["tracking"]["overall"]
    if trk is not None:
        put("tracking.mota", trk["mota"], "min")
        put("tracking.idf1", trk["idf1"], "min")
    for bucket, v in report["ttc"].items():
        put(f"ttc.{bucket}.coverage", v["coverage"], "min")
        put(f"ttc.{bucket}.median_rel_error", v["median_rel_error"], "max")
        put(f"ttc.{bucket}.p90_rel_error", v["p90_rel_error"], "max")
    w = report["warnings"]
    put("warnings.passed_fraction", w["passed"] / w["judged"] if w["judged"] else None, "min")
    put("warnings.false_per_hour", w["false_warnings_per_hour"], "max")
    for name, c in w["clips"].items():
        if c["expect"] == "required":
            # A missed warning reads as 0 s of warning time: the worst value.
            put(f"warnings.{name}.first_warning_true_ttc_s", c["first_warning_true_ttc_s"] or 0.0,
                "min")
    out.update(light_figures(report["lights"]))
    return out


# --- detector stage on hand-labelled real frames (fcw eval --detection-only) ---------------------

def detection_figures(result: dict[str, Any]) -> dict[str, tuple[float, str]]:
    """One model's figures for the floors, per split: AP50 and recall per width band, false
    boxes per frame, width jitter (median, p90)."""
    out: dict[str, tuple[float, str]] = {}
    for split in ("tune", "heldout"):
        r = result.get(split, {})
        if not r.get("frames"):
            continue
        for band in WIDTH_BANDS:
            for kind in ("ap50", "recall"):
                if r[kind][band] is not None:
                    out[f"{split}.{kind}.{band}"] = (float(r[kind][band]), "min")
        out[f"{split}.false_per_frame"] = (float(r["false_per_frame"]), "max")
        for q in ("median", "p90"):
            if r["jitter"][q] is not None:
                out[f"{split}.jitter_{q}"] = (float(r["jitter"][q]), "max")
    return out


def detection_markdown(report: dict[str, Any]) -> str:
    """The per-model tables: AP50 / recall by box width, false boxes and width jitter, by split."""
    models = report["models"]
    any_r = next(iter(models.values()))
    lines = [f"# fcw eval --detection-only: {len(report['clips'])} clips", "",
             f"fcw {report['fcw_version']}; labelled frames: "
             + ", ".join(f"{s} {any_r[s]['frames']}" for s in SPLITS if any_r[s].get("frames"))
             + f"; clips: {', '.join(report['clips'])}.", "",
             "## AP50 / recall at IoU 0.5, by labelled box width (px)", "",
             "| model | split | " + " | ".join(f"{b} (n)" for b in WIDTH_BANDS) + " |",
             "|---|---|" + "---|" * len(WIDTH_BANDS)]
    for m, r in models.items():
        for split in SPLITS:
            s = r[split]
            if not s.get("frames"):
                continue
            cells = [f"{_fmt(s['ap50'][b])} / {_fmt(s['recall'][b])} ({s['n_gt'][b]})"
                     for b in WIDTH_BANDS]
            lines.append(f"| {m} | {split} | " + " | ".join(cells) + " |")
    lines += ["", "## False boxes and box-width jitter", "",
              ("| model | split | frames | false boxes / frame | jitter median | jitter p90 "
               "| pairs | labels' own jitter (median / p90) |"),
              "|---|---|---|---|---|---|---|---|"]
    for m, r in models.items():
        for split in SPLITS:
            s = r[split]
            if not s.get("frames"):
                continue
            j = s["jitter"]
            lines.append(f"| {m} | {split} | {s['frames']} | {s['false_per_frame']:.2f} "
                         f"| {_fmt(j['median'], True)} | {_fmt(j['p90'], True)} | {j['pairs']} "
                         f"| {_fmt(j['label_median'], True)} / {_fmt(j['label_p90'], True)} |")
    lines += ["", "## Per clip (all frames): recall / false boxes per frame", "",
              "| clip | frames | vehicles | " + " | ".join(models) + " |",
              "|---|---|---|" + "---|" * len(models)]
    for clip, c in any_r["clips"].items():
        cells = [f"{_fmt(r['clips'][clip]['recall'])} / {r['clips'][clip]['false_per_frame']:.2f}"
                 for r in models.values()]
        lines.append(f"| {clip} | {c['frames']} | {c['n_gt']} | " + " | ".join(cells) + " |")
    lines += ["", ("Vehicles under 12 px wide or marked ignore count neither way. A false box is a "
                   "vehicle detection matching no labelled vehicle at IoU 0.5. Jitter: |dw| / w of "
                   "the detections matched to the same vehicle on consecutive labelled frames; the "
                   "labels' own figure is the real growth plus the labeller's hand.")]
    for m, r in models.items():
        lines.append(f"Model {m}: {r['backend']}, input {r['input_size']}, "
                     f"sha256 {str(r['sha256'])[:12]}.")
    return "\n".join(lines) + "\n"


# --- files ---------------------------------------------------------------------------------------

def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "pass" if v else "FAIL"
    return f"{v:.1%}" if pct else (f"{v:.3g}" if isinstance(v, float) else str(v))


def markdown(report: dict[str, Any], plots: Sequence[str]) -> str:
    det, trk, w, lights = (report["detection"], report["tracking"]["overall"], report["warnings"],
                           report["lights"])
    lines = [f"# fcw eval: {', '.join(report['clips'])}", "",
             f"fcw {report['fcw_version']}, model {report['model']} ({report['backend']}), "
             f"{det['images']} labelled frames.", "",
             "## Vehicle detection (IoU 0.5)", "",
             "| band | labelled vehicles | AP50 | recall |", "|---|---|---|---|"]
    for band in BANDS:
        lines.append(f"| {band} | {det['n_gt'][band]} | {_fmt(det['ap50'][band])} "
                     f"| {_fmt(det['recall'][band])} |")
    lines += ["", "Bands by box height: near >= 10% of the frame height, mid 4-10%, far 1.25-4%.",
              "", "## Tracking", ""]
    if trk is None:
        lines.append("No labelled tracks.")
    else:
        lines.append(f"MOTA {trk['mota']:.3f}, IDF1 {trk['idf1']:.3f} over {trk['num_objects']} "
                     f"labelled boxes ({trk['num_misses']} missed, {trk['num_false_positives']} "
                     f"false, {trk['num_switches']} id switches).")
    lines += ["", "## TTC relative error, by true TTC", "",
              "| true TTC | frames | coverage | with a TTC | median | p90 |",
              "|---|---|---|---|---|---|"]
    for bucket, v in report["ttc"].items():
        lines.append(f"| {bucket} | {v['frames']} | {_fmt(v['coverage'], True)} "
                     f"| {v['with_estimate']} | {_fmt(v['median_rel_error'], True)} "
                     f"| {_fmt(v['p90_rel_error'], True)} |")
    lines += ["", "Coverage: the frames where fcw has a lead; the errors are over those, a frame "
              "with a lead but no TTC counting as a 100% error.", "", "## Warnings", "",
              "| clip | expected | warnings | first warning at true TTC | required | result |",
              "|---|---|---|---|---|---|"]
    for name, c in w["clips"].items():
        ttc, req = c["first_warning_true_ttc_s"], c["required_ttc_s"]
        lines.append(f"| {name} | {c['expect'] or '-'} | {c['warnings']} "
                     f"| {'-' if ttc is None else f'{ttc:.2f} s'} "
                     f"| {'-' if req is None else f'>= {req} s'} | {_fmt(c['passed'])} |")
    lines += ["", f"False warnings on normal driving: {w['false_warnings']} in "
              f"{w['normal_driving_s']:.0f} s ({_fmt(w['false_warnings_per_hour'])} per hour).",
              "", "## Traffic lights", ""]
    lines += light_markdown(lights)
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _plot_ttc(plt: Any, run: ClipRun, judged: dict[str, Any], path: Path) -> None:
    labels = run.clip.labels
    truth = [(fl.t_s, fl.lead.ttc_s) for fl in labels.frames
             if fl.lead is not None and fl.lead.ttc_s is not None]
    t = np.array([f.t_s for f in run.frames])
    est = np.array([np.nan if f.ttc_s is None else f.ttc_s for f in run.frames])
    sig = np.array([np.nan if f.ttc_sigma_s is None else f.ttc_sigma_s for f in run.frames])
    fig, ax = plt.subplots(figsize=(9, 4.5))
    if truth:
        ax.plot(*zip(*truth), color="black", lw=2, label="true TTC")
    ax.plot(t, est, ".", color="tab:blue", ms=4, label="fcw TTC")
    ax.fill_between(t, est - sig, est + sig, color="tab:blue", alpha=0.2, label="fcw ± 1 sigma")
    for i, e in enumerate(onsets(run.events, "caution")):
        ax.axvline(e.t_s, color="orange", ls="--", label="caution" if i == 0 else None)
    for i, e in enumerate(onsets(run.events, "warning")):
        ax.axvline(e.t_s, color="red", lw=2, label="warning" if i == 0 else None)
    if labels.expect.required_ttc_s is not None:
        ax.axhline(labels.expect.required_ttc_s, color="gray", ls=":",
                   label=f"required TTC {labels.expect.required_ttc_s} s")
    ax.set_ylim(0, 12)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("TTC (s)")
    verdict = {True: "pass", False: "FAIL", None: "no expectation"}[judged["passed"]]
    ax.set_title(f"{run.clip.name}: TTC over time ({verdict})")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _plot_recall(plt: Any, report: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4))
    curves = {"all clips": report["detection"]}
    curves.update({name: c["detection"] for name, c in report["clips"].items()})
    for name, det in curves.items():
        bins = [b for b in det["recall_by_height"] if b["recall"] is not None]
        x = [100 * math.sqrt(b["lo_frac"] * b["hi_frac"]) for b in bins]
        y = [b["recall"] for b in bins]
        if name == "all clips":
            ax.plot(x, y, "o-", lw=2.5, color="black", label=f"{name} (n = labelled vehicles)")
            for xi, yi, b in zip(x, y, bins):
                ax.annotate(f"n={b['n_gt']}", (xi, yi), textcoords="offset points",
                            xytext=(0, -14), ha="center", fontsize=7)
        else:  # markers only: a clip's bins are often far apart
            ax.plot(x, y, "o", ms=5, alpha=0.7, label=name)
    for edge in (BANDS["mid"][0], BANDS["near"][0]):
        ax.axvline(100 * edge, color="gray", ls=":")
    ax.set_xscale("log")
    ticks = [1.25, 2, 3, 4, 6, 8, 10, 15, 25, 50]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("vehicle box height, % of the frame height (far <- -> near; 720p: x 7.2 px)")
    ax.set_ylabel("recall at IoU 0.5")
    ax.set_title("Detection recall by size (distance)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_report(report: dict[str, Any], runs: Sequence[ClipRun], out_dir: Path) -> list[Path]:
    """Write the JSON, the plots and the summary into ``out_dir``; the paths written."""
    matplotlib = require("matplotlib", "matplotlib")
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    plots = []
    for run in runs:
        name = f"ttc_{run.clip.name}.png"
        _plot_ttc(plt, run, report["warnings"]["clips"][run.clip.name], out_dir / name)
        plots.append(name)
    _plot_recall(plt, report, out_dir / "recall_by_size.png")
    plots.append("recall_by_size.png")
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (out_dir / "summary.md").write_text(markdown(report, plots), encoding="utf-8")
    return [out_dir / "report.json", out_dir / "summary.md", *(out_dir / p for p in plots)]
