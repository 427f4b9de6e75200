"""The scenario matrix: NHTSA's three tests and every benign scene, on several seeds and cameras,
through fcw with the real detector (the default config's model), judged as NHTSA scores them.

    python benchmarks/scenarios.py [--scenarios a,b] [--cameras centred,windscreen,wide]
        [--seeds 0,1,2] [--cache out/scenario-cache] [--out out/scenario-matrix]
        [--models-dir DIR] [--config FILE]

Each clip runs as in tests/test_scenario_runs.py: the wide mount is told its lens
(``camera.focal_px``), and the light stage runs only in a scene with a light.

Clips are rendered once into the cache (keyed by scenario, camera, seed, fps, size and a digest
of the renderer's source) by worker processes that render ahead while fcw runs the previous clip.
Writes ``scenarios.json`` (every run's verdict) and ``scenarios.md`` (the table) into --out after
each clip, so an interrupted run still leaves what it measured. Order: the NHTSA tests first, then
the benign scenes seed by seed (those that come close first).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fcw.scenarios.camera import CAMERAS
from fcw.scenarios.kinematics import SCENARIOS


def _order() -> list[str]:
    nhtsa = [n for n, s in SCENARIOS.items() if s.expect.warning == "required"]
    close = [n for n, s in SCENARIOS.items() if s.expect.warning == "forbidden" and s.comes_close]
    new = [n for n in ("overtake_close",) if n in SCENARIOS]
    rest = [n for n in SCENARIOS if n not in nhtsa + close + new]
    return nhtsa + close + new + rest


def _render(name: str, cache: str, camera: str, seed: int, fps: float) -> str:
    import cv2

    from fcw.scenarios.render import render_cached

    cv2.setNumThreads(1)  # the workers already share the cores with fcw

    return str(render_cached(name, Path(cache), camera=camera, seed=seed, fps=fps))


def _min_true_ttc_s(labels: Any) -> float | None:
    vals = [getattr(f.lead, labels.expect.ttc) for f in labels.frames if f.lead is not None]
    vals = [v for v in vals if v is not None]
    return round(min(vals), 3) if vals else None


def clip_config(path: Path | None, name: str, camera: str) -> Any:
    """The config a clip runs with, as in tests/test_scenario_runs.py: the wide mount is told its
    lens (``stated_focal_px``), and the light stage runs only in a scene with a light (elsewhere
    it only costs time; the lights are judged by their own tests)."""
    from fcw.config import load_config
    from fcw.scenarios.camera import stated_focal_px

    overrides: dict[str, Any] = {"alert.enabled": False, "output.heartbeat_s": 0.0}
    if SCENARIOS[name].light is None:
        overrides["lights.enabled"] = False
    focal_px = stated_focal_px(camera)
    if focal_px is not None:
        overrides["camera.focal_px"] = round(focal_px, 1)
    return load_config(path, overrides)


def _fmt(x: Any) -> str:
    return "-" if x is None else (f"{x:.2f}" if isinstance(x, float) else str(x))


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [(f"Model `{meta['model']}`, {meta['fps']:g} fps, 1280x720; "
             f"{len(rows)} runs in {meta['elapsed_s']:.0f} s."), "",
             ("| scenario | camera | seed | expect | warned at true TTC (s) "
              "| first-order TTC then | required | result | warnings | too early | cautions "
              "| caution at true TTC |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        req = f">= {r['required_ttc_s']:g} ({r['ttc']})" if r["expect"] == "required" else "none"
        verdict = {True: "pass", False: "**FAIL**", None: "-"}[r["passed"]]
        too_early = r["nuisance_warnings"] if r["expect"] == "required" else "-"
        lines.append(
            f"| {r['scenario']} | {r['camera']} | {r['seed']} | {r['expect']} | "
            f"{_fmt(r['first_warning_true_ttc_s'])} | {_fmt(r['first_warning_true_ttc1_s'])} | "
            f"{req} | {verdict} | {r['warnings']} | {too_early} | "
            f"{r['cautions']} | {_fmt(r['first_caution_true_ttc_s'])} |")
    lines += ["", "Passed, by scenario and camera (seeds passed / run):", "",
              "| scenario | " + " | ".join(meta["cameras"]) + " |",
              "|---|" + "---|" * len(meta["cameras"])]
    for name in dict.fromkeys(r["scenario"] for r in rows):
        cells = []
        for cam in meta["cameras"]:
            rs = [r for r in rows if r["scenario"] == name and r["camera"] == cam]
            cells.append(f"{sum(bool(r['passed']) for r in rs)}/{len(rs)}" if rs else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    benign = [r for r in rows if r["expect"] == "forbidden"]
    lines += ["", (f"Benign runs: {len(benign)}, with a warning: "
              f"{sum(r['warnings'] > 0 for r in benign)} ({sum(r['warnings'] for r in benign)} "
              f"warnings), with a caution: {sum(r['cautions'] > 0 for r in benign)} "
              f"({sum(r['cautions'] for r in benign)} cautions).")]
    return "\n".join(lines) + "\n"


#: What the README figure keeps of each run (``python -m benchmarks.readme write scenario_matrix``).
FIGURE_KEYS = ("expect", "passed", "warnings", "cautions", "first_warning_true_ttc_s",
               "required_ttc_s", "ttc")


def figure_values(doc: dict[str, Any]) -> dict[str, Any]:
    """The figure's values from a ``scenarios.json``: the run's settings and, per cell
    ("scenario/camera/seed"), the judge's verdict (no timings: they move with the machine)."""
    meta = doc["meta"]
    return {"model": meta["model"], "fps": meta["fps"], "cameras": meta["cameras"],
            "seeds": meta["seeds"],
            "cells": {f"{r['scenario']}/{r['camera']}/{r['seed']}": {k: r[k] for k in FIGURE_KEYS}
                      for r in doc["runs"]}}


def run_cell(name: str, camera: str, seed: int, video: Path, config: Path | None = None,
             models_dir: Path | None = None, ground_truth: Any = None) -> dict[str, Any]:
    """One cell of the matrix: fcw on the rendered ``video`` (labels beside it), judged.
    ``ground_truth``: a ``fcw.app.GroundTruthOptions`` to feed the labels' boxes instead of the
    detector's (``fcw run --gt-boxes``)."""
    from fcw.eval.dataset import Clip
    from fcw.eval.runner import run_clip
    from fcw.eval.warnings import judge_clip
    from fcw.labels import labels_path_for, load_labels

    labels_path = labels_path_for(video)
    labels = load_labels(labels_path)
    run = run_clip(clip_config(config, name, camera),
                   Clip(video.stem, video, labels_path, labels), models_dir,
                   ground_truth=ground_truth)
    return {"scenario": name, "camera": camera, "seed": seed, **judge_clip(run),
            "min_true_ttc_s": _min_true_ttc_s(labels), "frames": len(run.frames)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scenarios", default=",".join(_order()))
    p.add_argument("--cameras", default=",".join(CAMERAS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--cache", type=Path, default=REPO / "out" / "scenario-cache")
    p.add_argument("--out", type=Path, default=REPO / "out" / "scenario-matrix")
    p.add_argument("--models-dir", type=Path)
    p.add_argument("--config", type=Path)
    p.add_argument("--resume", action="store_true",
                   help="keep the runs already in --out/scenarios.json and do only the others")
    p.add_argument("--render-workers", type=int, default=1,
                   help="processes rendering ahead while fcw runs (rendering is the slower part)")
    args = p.parse_args(argv)
    names, cameras = args.scenarios.split(","), args.cameras.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    bad = [n for n in names if n not in SCENARIOS] + [c for c in cameras if c not in CAMERAS]
    if bad:
        print(f"scenarios.py: error: unknown scenario or camera {bad[0]!r}", file=sys.stderr)
        return 2

    from engines.spec import load_spec
    from fcw.config import load_config

    cfg = load_config(args.config, {"alert.enabled": False, "output.heartbeat_s": 0.0})
    meta: dict[str, Any] = {"model": load_spec(cfg.detector.model).name, "fps": args.fps,
                            "cameras": cameras, "seeds": seeds, "elapsed_s": 0.0}
    # Benign scenes seed by seed, so that an interrupted run has seen every scene on every camera.
    nhtsa = [n for n in names if SCENARIOS[n].expect.warning == "required"]
    jobs = [(n, c, s) for n in nhtsa for c in cameras for s in seeds]
    jobs += [(n, c, s) for s in seeds for n in names if n not in nhtsa for c in cameras]
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    if args.resume and (args.out / "scenarios.json").is_file():
        rows = json.loads((args.out / "scenarios.json").read_text(encoding="utf-8"))["runs"]
        done = {(r["scenario"], r["camera"], r["seed"]) for r in rows}
        jobs = [j for j in jobs if j not in done]
    t0 = time.monotonic()
    with ProcessPoolExecutor(max_workers=args.render_workers) as pool:
        renders: list[Future[str]] = [pool.submit(_render, n, str(args.cache), c, s, args.fps)
                                      for n, c, s in jobs]
        for (name, camera, seed), fut in zip(jobs, renders):
            row = run_cell(name, camera, seed, Path(fut.result()), args.config, args.models_dir)
            rows.append(row)
            meta["elapsed_s"] = time.monotonic() - t0
            print(f"{name:22s} {camera:10s} seed {seed}: passed={row['passed']} warnings="
                  f"{row['warnings']} at true TTC {row['first_warning_true_ttc_s']} cautions="
                  f"{row['cautions']}", flush=True)
            (args.out / "scenarios.json").write_text(
                json.dumps({"meta": meta, "runs": rows}, indent=1) + "\n", encoding="utf-8")
            (args.out / "scenarios.md").write_text(markdown(rows, meta), encoding="utf-8")
    print(f"wrote {args.out / 'scenarios.json'} and {args.out / 'scenarios.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
