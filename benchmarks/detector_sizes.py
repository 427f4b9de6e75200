"""Detector choices on hand-labelled real frames: recall by box width, false boxes, time per frame.

For each (model, input size, far crop on/off) it runs fcw's detector stage (the real ONNX models,
default thresholds and merging) over every labelled frame of ``tests/data/real/*.labels.json``
and ``tests/data/udacity_far_cars.json``, and prints, separately for the frames marked ``tune``
and ``heldout``: recall at IoU >= 0.5 of the non-ignored vehicles by box width (12-24, 24-48,
48-96, 96+ px), false vehicle boxes per frame, the far cars of udacity_far_cars.json found
(IoU >= 0.3: they are 15 px wide), and the median CPU time of pre-processing + inference per
frame on one ONNX Runtime thread (what the threaded pipeline gives the model on 2 cores). CPU
time, not wall time: on a shared machine it moves much less with the other jobs' load.

    python benchmarks/detector_sizes.py [--json out.json] [--choice yolox_nano:416x256:0.3,0.33]
    python benchmarks/detector_sizes.py --choice yolox_nano:416x256:on+tight  # the tight crop too

CPU times still vary somewhat with the machine (caches, clock); compare within one run.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engines.backends import create_backend  # noqa: E402
from engines.input_size import with_input_size  # noqa: E402
from engines.spec import load_spec  # noqa: E402
from engines.store import resolve_model  # noqa: E402
from fcw.boxes import iou_matrix  # noqa: E402
from fcw.config import CameraConfig, DetectorConfig, FarCropConfig  # noqa: E402
from fcw.eval.dataset import default_data_roots, resolve_video  # noqa: E402
from fcw.labels import load_labels  # noqa: E402
from fcw.perception.detector import Detector  # noqa: E402
from fcw.sources import open_source  # noqa: E402
from fcw.sources.images import read_image  # noqa: E402
from fcw.types import Frame  # noqa: E402

VEHICLES = {"car", "truck", "bus", "motorcycle"}
BINS = [(12, 24), (24, 48), (48, 96), (96, 1e9)]
CHOICES = [  # model:input size (WxH, or "native": the graph's own):far crop (on, off, or WF,HF)
    "fastestdet:native:on", "fastestdet:native:off",
    "yolox_nano:native:on", "yolox_nano:native:off",
    "yolox_nano:416x256:on", "yolox_nano:416x256:off", "yolox_nano:512x288:off",
    "yolox_nano:640x384:on", "yolox_nano:640x384:off",
]


def parse_choice(text: str) -> tuple[str, tuple[int, int] | None, FarCropConfig, float | None]:
    """"model:WxH|native:on|off|WF,HF[+tight][:score threshold]" as a detector configuration;
    "+tight" adds the tight crop (detector.far_crop.tight: on), which is otherwise off here
    (no focal length is given, so "auto" leaves it off as on a normal lens)."""
    model, size, crop, *thr = text.split(":")
    wh: tuple[int, int] | None = None
    if size != "native":
        w, h = (int(v) for v in size.split("x"))
        wh = (w, h)
    crop, plus_tight = crop.removesuffix("+tight"), crop.endswith("+tight")
    tight: Literal["on", "off"] = "on" if plus_tight else "off"
    if crop in ("on", "off"):
        far = FarCropConfig(enabled=crop == "on", tight=tight)
    else:
        wf, hf = (float(v) for v in crop.split(","))
        far = FarCropConfig(enabled=True, width_frac=wf, height_frac=hf, tight=tight)
    return model, wh, far, float(thr[0]) if thr else None


def crop_record(crop: FarCropConfig) -> dict | None:
    """The far crop's settings as the figures record them: the tight crop's only when on."""
    if not crop.enabled:
        return None
    keys = {"enabled", "width_frac", "height_frac"}
    if crop.tight == "on":
        keys |= {"tight", "tight_width_frac", "tight_height_frac"}
    return crop.model_dump(include=keys)


def labelled_frames() -> list[tuple[str, str, np.ndarray, np.ndarray, np.ndarray]]:
    """(clip, split, BGR image, (n, 4) vehicle boxes, (n,) ignore) for every labelled frame."""
    out = []
    for path in sorted((ROOT / "tests" / "data" / "real").glob("*.labels.json")):
        if path.name.endswith(".ttc.labels.json"):
            continue  # per-frame range for TTC, no boxes
        labels = load_labels(path)
        wanted = {f.frame: f for f in labels.frames if f.split}
        if not wanted:
            continue  # a per-frame TTC file, not box labels
        src = open_source(str(resolve_video(path, labels, default_data_roots())))
        try:
            for frame in src:
                f = wanted.get(frame.index)
                if f is None or f.split is None:
                    continue
                veh = [b for b in f.boxes if b.cls in VEHICLES]
                xyxy = np.array([b.xyxy for b in veh], float).reshape(-1, 4)
                out.append((path.name.split(".")[0], f.split, frame.image, xyxy,
                            np.array([b.ignore for b in veh], bool)))
                if frame.index >= max(wanted):
                    break
        finally:
            src.close()
    return out


def far_cars() -> list[tuple[np.ndarray, np.ndarray]]:
    data = json.loads((ROOT / "tests" / "data" / "udacity_far_cars.json").read_text())["frames"]
    d = default_data_roots()[0] / "data" / "udacity-vehicle-detection" / "test_images"
    return [(read_image(d / name), np.array([b["xyxy"] for b in v["far"]], float))
            for name, v in data.items()]


def score_frame(dets_xyxy: np.ndarray, truth: np.ndarray, ignore: np.ndarray):
    """(per-truth matched flags, number of false boxes): greedy one-to-one at IoU >= 0.5."""
    matched = np.zeros(len(truth), bool)
    used = np.zeros(len(dets_xyxy), bool)
    if len(truth) and len(dets_xyxy):
        iou = iou_matrix(truth, dets_xyxy)
        for t, d in sorted(np.argwhere(iou >= 0.5), key=lambda td: -iou[td[0], td[1]]):
            if not matched[t] and not used[d]:
                matched[t], used[d] = True, True
    false = ~used
    if len(dets_xyxy) and ignore.any():  # a box on a vehicle nobody could judge is not false
        false &= iou_matrix(dets_xyxy, truth[ignore]).max(axis=1) < 0.5
    return matched, int(false.sum())


@dataclass
class SplitStats:
    """One split's figures: labelled and found vehicles per width bin (BINS), false boxes."""

    hit: np.ndarray = field(default_factory=lambda: np.zeros(len(BINS)))
    n: np.ndarray = field(default_factory=lambda: np.zeros(len(BINS)))
    false: int = 0
    frames: int = 0


def evaluate(choice: str, frames, far, models_dir) -> dict:
    model, size, crop, thr = parse_choice(choice)
    spec = load_spec(model)
    size = size or (spec.input.width, spec.input.height)  # "native": the graph's own size
    run_spec, path = with_input_size(spec, resolve_model(spec, models_dir), size)
    backend = create_backend("onnxruntime", run_spec, path, threads=1)
    cfg = DetectorConfig(model=model, input_size=size, far_crop=crop)
    if thr is not None:
        cfg = cfg.model_copy(update={"score_threshold": thr})
    det = Detector(backend, cfg, CameraConfig())
    vehicles = np.asarray(run_spec.vehicle_class_ids)
    stats = {s: SplitStats() for s in ("tune", "heldout")}
    ms = []
    for _clip, split, img, truth, ignore in frames:
        t0 = time.process_time()
        raw = det.run(det.prepare(Frame(0, 0.0, img)))
        ms.append((time.process_time() - t0) * 1e3)
        dets = det.decode(Frame(0, 0.0, img), raw)
        dets = dets[np.isin(dets.class_id, vehicles)]
        matched, false = score_frame(dets.xyxy, truth, ignore)
        s = stats[split]
        s.false += false
        s.frames += 1
        w = truth[:, 2] - truth[:, 0]
        for i, (lo, hi) in enumerate(BINS):
            sel = (w >= lo) & (w < hi) & ~ignore
            s.hit[i] += matched[sel].sum()
            s.n[i] += sel.sum()
    far_found = 0
    for img, boxes in far:
        dets = det.update(Frame(0, 0.0, img))
        if len(dets):
            far_found += int((iou_matrix(boxes, dets.xyxy).max(axis=1) >= 0.3).sum())
    backend.close()
    return {"choice": choice, "model": model,
            "input": list(size or (spec.input.width, spec.input.height)),
            "far_crop": crop_record(crop),
            "score_threshold": cfg.score_threshold,
            "cpu_ms_per_frame": round(float(np.median(ms)), 2),
            "udacity_far_cars": f"{far_found}/{sum(len(b) for _, b in far)}",
            **{split: {"frames": s.frames,
                       "false_per_frame": round(s.false / max(1, s.frames), 2),
                       "recall": {f"{lo}-{hi if hi < 1e9 else ''}": (round(h / n, 3) if n else None)
                                  for (lo, hi), h, n in zip(BINS, s.hit, s.n)},
                       "n": [int(n) for n in s.n]}
               for split, s in stats.items()}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path)
    ap.add_argument("--choice", action="append",
                    help="model:WxH|native:on|off|WF,HF[+tight][:score threshold], repeatable "
                         "(default: the list in CHOICES)")
    ap.add_argument("--models-dir", type=Path)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    frames, far = labelled_frames(), far_cars()
    print(f"{len(frames)} labelled frames ({sum(f[1] == 'tune' for f in frames)} tune, "
          f"{sum(f[1] == 'heldout' for f in frames)} held out), {len(far)} far-car stills")
    rows = []
    for choice in args.choice or CHOICES:
        r = evaluate(choice, frames, far, args.models_dir)
        rows.append(r)
        rec = {s: " ".join(f"{v if v is not None else '-':>5}" for v in r[s]["recall"].values())
               for s in ("tune", "heldout")}
        print(f"{choice:<36} {r['cpu_ms_per_frame']:6.1f} CPU ms"
              f" | tune recall 12-24/24-48/48-96/96+ {rec['tune']}"
              f" false/frame {r['tune']['false_per_frame']:4.2f} | held out {rec['heldout']}"
              f" false/frame {r['heldout']['false_per_frame']:4.2f}"
              f" | far cars {r['udacity_far_cars']}",
              flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
