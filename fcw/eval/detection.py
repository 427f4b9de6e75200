"""Vehicle detection: AP at IoU 0.5 and recall, overall and per size band, with pycocotools.

All vehicle classes count as one class, "vehicle": a car called a truck is still a vehicle to
warn about. Bands go by the labelled box's height as a fraction of the frame height, the size a
vehicle has in the image, which is what the detector's difficulty depends on (with fcw's
rendered camera, 1280x720 and 60 degrees wide, a 1.5 m tall car is 10% of the frame high at
23 m and 4% at 57 m):

* near: height >= 10% of the frame;
* mid:  4% to 10%;
* far:  1.25% to 4% (9 to 29 px at 720p).

Vehicles under 1.25% of the frame height, or hidden by more than half (label ``occlusion``), are
ignored: missing them costs nothing and detecting them gains nothing (COCO's crowd/ignore rules).
COCO's ``area`` field carries the box height fraction so that its area ranges select the bands;
AP is computed over the boxes the detector reports at its configured score threshold.
"""
from __future__ import annotations

import contextlib
import io
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from fcw.eval import require
from fcw.eval.runner import ClipRun

VEHICLE_LABELS = frozenset({"car", "truck", "bus", "motorcycle", "motorbike", "van"})
MIN_HEIGHT_FRAC = 0.0125
MAX_OCCLUSION = 0.5
BANDS: dict[str, tuple[float, float]] = {
    "all": (MIN_HEIGHT_FRAC, math.inf),
    "near": (0.10, math.inf),
    "mid": (0.04, 0.10),
    "far": (MIN_HEIGHT_FRAC, 0.04),
}
# Finer bins for the recall-by-size plot (fractions of the frame height).
HEIGHT_BINS = (0.0125, 0.02, 0.03, 0.04, 0.06, 0.08, 0.10, 0.15, 0.25, 1.0)


@dataclass(frozen=True)
class ImageBoxes:
    """One labelled frame: its height (px), the labelled vehicles and the detections."""

    height: int
    gt_xyxy: np.ndarray
    gt_ignore: np.ndarray
    det_xyxy: np.ndarray
    det_score: np.ndarray

    def __post_init__(self) -> None:
        if self.gt_xyxy.shape != (len(self.gt_ignore), 4):
            raise ValueError(f"ImageBoxes.gt_xyxy must be (N, 4), got {self.gt_xyxy.shape}")
        if self.det_xyxy.shape != (len(self.det_score), 4):
            raise ValueError(f"ImageBoxes.det_xyxy must be (N, 4), got {self.det_xyxy.shape}")


def vehicle_truth(boxes: Sequence[Any], height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(track ids, xyxy, ignore) of the labelled vehicles among ``boxes`` (``BoxLabel``s)."""
    vehicles = [b for b in boxes if b.cls in VEHICLE_LABELS]
    xyxy = np.array([b.xyxy for b in vehicles], np.float64).reshape(-1, 4)
    ignore = np.array([b.occlusion > MAX_OCCLUSION for b in vehicles], bool)
    ignore |= (xyxy[:, 3] - xyxy[:, 1]) < MIN_HEIGHT_FRAC * height
    return np.array([b.track_id for b in vehicles], np.int64), xyxy, ignore


def images_of(run: ClipRun) -> list[ImageBoxes]:
    """The labelled frames of a clip run, paired with what was detected in them."""
    out = {f.index: f for f in run.frames}
    height = run.clip.labels.height
    images = []
    for fl in run.clip.labels.frames:
        f = out.get(fl.frame)
        if f is None:
            continue
        _, xyxy, ignore = vehicle_truth(fl.boxes, height)
        images.append(ImageBoxes(height, xyxy, ignore, f.det_xyxy, f.det_score))
    return images


def _xywh(xyxy: np.ndarray) -> list[float]:
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return [x1, y1, x2 - x1, y2 - y1]


def _coco(images: list[dict], anns: list[dict]) -> Any:
    coco = require("pycocotools.coco", "pycocotools").COCO()
    coco.dataset = {"images": images, "annotations": anns,
                    "categories": [{"id": 1, "name": "vehicle"}]}
    coco.createIndex()
    return coco


def evaluate_detection(images: Sequence[ImageBoxes]) -> dict[str, Any]:
    """AP50, recall and labelled-vehicle counts per band, and recall per height bin."""
    cocoeval = require("pycocotools.cocoeval", "pycocotools")
    imgs, gts, dts = [], [], []
    for i, im in enumerate(images, start=1):
        imgs.append({"id": i, "height": im.height, "width": 1})
        for box, ign in zip(im.gt_xyxy, im.gt_ignore):
            gts.append({"id": len(gts) + 1, "image_id": i, "category_id": 1, "bbox": _xywh(box),
                        "area": float(box[3] - box[1]) / im.height, "iscrowd": int(ign)})
        for box, score in zip(im.det_xyxy, im.det_score):
            dts.append({"id": len(dts) + 1, "image_id": i, "category_id": 1, "bbox": _xywh(box),
                        "area": float(box[3] - box[1]) / im.height, "score": float(score)})
    bins = list(zip(HEIGHT_BINS[:-1], HEIGHT_BINS[1:]))
    ranges = [*BANDS.values(), *bins]
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt_coco, dt_coco = _coco(imgs, gts), _coco(imgs, dts)
        ev = cocoeval.COCOeval(gt_coco, dt_coco, "bbox")
        ev.params.iouThrs = np.array([0.5])
        ev.params.maxDets = [100]
        ev.params.areaRng = [[lo, min(hi, 1e9)] for lo, hi in ranges]
        ev.params.areaRngLbl = [*BANDS, *(f"{lo}-{hi}" for lo, hi in bins)]
        ev.evaluate()
        ev.accumulate()
    precision, recall = ev.eval["precision"], ev.eval["recall"]  # [T,R,K,A,M], [T,K,A,M]

    def n_gt(lo: float, hi: float) -> int:
        return sum(1 for g in gts if not g["iscrowd"] and lo <= g["area"] <= hi)

    def ap(a: int) -> float | None:
        p = precision[0, :, 0, a, 0]
        return round(float(p.mean()), 4) if (p > -1).all() else None

    def rec(a: int) -> float | None:
        r = float(recall[0, 0, a, 0])
        return round(r, 4) if r > -1 else None

    return {
        "images": len(images),
        "ap50": {name: ap(a) for a, name in enumerate(BANDS)},
        "recall": {name: rec(a) for a, name in enumerate(BANDS)},
        "n_gt": {name: n_gt(*BANDS[name]) for name in BANDS},
        "n_det": len(dts),
        "recall_by_height": [
            {"lo_frac": lo, "hi_frac": hi, "recall": rec(len(BANDS) + j), "n_gt": n_gt(lo, hi)}
            for j, (lo, hi) in enumerate(bins)],
    }
