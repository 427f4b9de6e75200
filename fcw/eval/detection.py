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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fcw.boxes import containment, iou_matrix
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
    ignore = np.array([b.ignore or b.occlusion > MAX_OCCLUSION for b in vehicles], bool)
    ignore |= (xyxy[:, 3] - xyxy[:, 1]) < MIN_HEIGHT_FRAC * height
    return np.array([b.track_id for b in vehicles], np.int64), xyxy, ignore


def images_of(run: ClipRun) -> list[ImageBoxes]:
    """The labelled frames of a clip run, paired with what was detected in them."""
    if run.clip.labels.boxes != "all":
        return []  # only some vehicles are boxed: the others would read as misses
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


def _coco_eval(images: Sequence[ImageBoxes], size: Any,
               ranges: Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    """pycocotools at IoU 0.5 with ``size(xyxy, image)`` as COCO's area, one area range per band:
    (precision [R, A], recall [A], the ground-truth records)."""
    cocoeval = require("pycocotools.cocoeval", "pycocotools")
    imgs: list[dict] = []
    gts: list[dict] = []
    dts: list[dict] = []
    for i, im in enumerate(images, start=1):
        imgs.append({"id": i, "height": im.height, "width": 1})
        for box, ign in zip(im.gt_xyxy, im.gt_ignore):
            gts.append({"id": len(gts) + 1, "image_id": i, "category_id": 1, "bbox": _xywh(box),
                        "area": size(box, im), "iscrowd": int(ign)})
        for box, score in zip(im.det_xyxy, im.det_score):
            dts.append({"id": len(dts) + 1, "image_id": i, "category_id": 1, "bbox": _xywh(box),
                        "area": size(box, im), "score": float(score)})
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt_coco, dt_coco = _coco(imgs, gts), _coco(imgs, dts)
        ev = cocoeval.COCOeval(gt_coco, dt_coco, "bbox")
        ev.params.iouThrs = np.array([0.5])
        ev.params.maxDets = [100]
        ev.params.areaRng = [[lo, min(hi, 1e9)] for lo, hi in ranges]
        ev.params.areaRngLbl = [str(i) for i in range(len(ranges))]
        ev.evaluate()
        ev.accumulate()
    # [T,R,K,A,M] and [T,K,A,M] -> [R,A] and [A]
    return ev.eval["precision"][0, :, 0, :, 0], ev.eval["recall"][0, 0, :, 0], gts


def _ap(precision: np.ndarray, a: int) -> float | None:
    p = precision[:, a]
    return round(float(p.mean()), 4) if (p > -1).all() else None


def _recall(recall: np.ndarray, a: int) -> float | None:
    r = float(recall[a])
    return round(r, 4) if r > -1 else None


def evaluate_detection(images: Sequence[ImageBoxes]) -> dict[str, Any]:
    """AP50, recall and labelled-vehicle counts per band, and recall per height bin."""
    bins = list(zip(HEIGHT_BINS[:-1], HEIGHT_BINS[1:]))
    precision, recall, gts = _coco_eval(
        images, lambda box, im: float(box[3] - box[1]) / im.height, [*BANDS.values(), *bins])

    def n_gt(lo: float, hi: float) -> int:
        return sum(1 for g in gts if not g["iscrowd"] and lo <= g["area"] <= hi)

    return {
        "images": len(images),
        "ap50": {name: _ap(precision, a) for a, name in enumerate(BANDS)},
        "recall": {name: _recall(recall, a) for a, name in enumerate(BANDS)},
        "n_gt": {name: n_gt(*BANDS[name]) for name in BANDS},
        "n_det": int(sum(len(im.det_score) for im in images)),
        "recall_by_height": [
            {"lo_frac": lo, "hi_frac": hi, "recall": _recall(recall, len(BANDS) + j),
             "n_gt": n_gt(lo, hi)}
            for j, (lo, hi) in enumerate(bins)],
    }


# --- hand-labelled real frames: the detector stage alone, bands by box width ---------------------
#
# On real drives the camera is unknown, so the bands go by the labelled box's width in pixels.
# Vehicles under MIN_WIDTH_PX wide, or marked ``ignore`` by the labeller, count neither way: a
# detection on one is neither a hit nor a false box (COCO's crowd rule).

MIN_WIDTH_PX = 12.0
MATCH_IOU = 0.5
WIDTH_BANDS: dict[str, tuple[float, float]] = {
    "all": (MIN_WIDTH_PX, math.inf), "12-24": (12.0, 24.0), "24-48": (24.0, 48.0),
    "48-96": (48.0, 96.0), "96+": (96.0, math.inf)}
SPLITS = ("tune", "heldout", "all")


@dataclass(frozen=True)
class LabelledFrame:
    """One hand-labelled frame of a clip and the detector's vehicle boxes on it.

    gt_id: (N,) the labelled vehicles' track ids, in the order of ``boxes.gt_xyxy``; split: the
    label file's "tune" / "heldout" (None: unsplit)."""

    clip: str
    frame: int
    split: str | None
    boxes: ImageBoxes
    gt_id: np.ndarray

    def __post_init__(self) -> None:
        if self.gt_id.shape != (len(self.boxes.gt_xyxy),):
            raise ValueError(f"LabelledFrame.gt_id must be (N,), got {self.gt_id.shape}")


def detect_labelled_frames(detector: Any, clip: Any,
                           vehicle_ids: Sequence[int]) -> list[LabelledFrame]:
    """Run ``detector`` (fcw's stage: ``update(frame) -> Detections``) on the labelled frames of
    ``clip`` (a ``fcw.eval.dataset.Clip``), reading its video or image folder in order."""
    from fcw.eval import EvalError
    from fcw.sources import open_source

    labels = clip.labels
    wanted = {f.frame: f for f in labels.frames}
    out: list[LabelledFrame] = []
    if not wanted:
        return out
    source = open_source(str(clip.video), folder_fps=labels.fps)
    try:
        for frame in source:
            fl = wanted.get(frame.index)
            if fl is not None:
                if (frame.width, frame.height) != (labels.width, labels.height):
                    raise EvalError(f"{clip.video}: frames are {frame.width}x{frame.height}, "
                                    f"{clip.labels_path} says {labels.width}x{labels.height}")
                dets = detector.update(frame)
                veh = dets[np.isin(dets.class_id, np.asarray(vehicle_ids))]
                ids, xyxy, ignore = vehicle_truth(fl.boxes, labels.height)
                out.append(LabelledFrame(clip.name, fl.frame, fl.split, ImageBoxes(
                    labels.height, xyxy, ignore, np.asarray(veh.xyxy, np.float64).reshape(-1, 4),
                    np.asarray(veh.score, np.float64)), ids))
            if frame.index >= max(wanted):
                break
    finally:
        source.close()
    if len(out) != len(wanted):
        seen = {f.frame for f in out}
        missing = sorted(set(wanted) - seen)
        raise EvalError(f"{clip.labels_path}: labelled frames {missing[:5]} are not in "
                        f"{clip.video} ({len(missing)} missing)")
    return out


def _width(xyxy: np.ndarray) -> np.ndarray:
    return np.asarray(xyxy, np.float64).reshape(-1, 4) @ np.array([-1.0, 0.0, 1.0, 0.0])


def match_frame(im: ImageBoxes) -> tuple[np.ndarray, np.ndarray]:
    """(gt_det: (N,) the detection matched to each labelled vehicle or -1, false: (M,) the
    detections that are false boxes), matched as COCO does: by descending score, each detection
    to the unmatched counted vehicle it overlaps most at IoU >= 0.5."""
    counted = ~im.gt_ignore & (_width(im.gt_xyxy) >= MIN_WIDTH_PX)
    gt_det = np.full(len(im.gt_xyxy), -1)
    false = np.zeros(len(im.det_xyxy), bool)
    if not len(im.det_xyxy):
        return gt_det, false
    iou = iou_matrix(im.det_xyxy, im.gt_xyxy)
    for d in np.argsort(-im.det_score, kind="stable"):
        cand = np.where(counted & (gt_det < 0) & (iou[d] >= MATCH_IOU))[0]
        if len(cand):
            gt_det[cand[np.argmax(iou[d, cand])]] = d
        else:
            false[d] = True
    # A box on an ignored or too-small vehicle, or itself too small to count, is not false.
    if (~counted).any():
        false &= containment(im.det_xyxy, im.gt_xyxy[~counted]).max(axis=1) < MATCH_IOU
    false &= _width(im.det_xyxy) >= MIN_WIDTH_PX
    return gt_det, false


def _pct(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 4) if len(values) else None


def width_jitter(frames: Sequence[LabelledFrame]) -> dict[str, Any]:
    """|dw| / w of the detection matched to the same labelled vehicle in two consecutive
    labelled frames (median, p90, pairs), and the same for the labels themselves: the part of
    the figure that is the vehicles' real growth and the labeller's hand."""
    by_key = {(f.clip, f.frame): f for f in frames}
    det_rel, gt_rel = [], []
    for f in frames:
        prev = by_key.get((f.clip, f.frame - 1))
        if prev is None:
            continue
        m0, _ = match_frame(prev.boxes)
        m1, _ = match_frame(f.boxes)
        pos0 = {int(t): i for i, t in enumerate(prev.gt_id)}
        for i1, tid in enumerate(f.gt_id):
            i0 = pos0.get(int(tid))
            if i0 is None or m0[i0] < 0 or m1[i1] < 0:
                continue
            w0, w1 = (_width(prev.boxes.det_xyxy[m0[i0]])[0], _width(f.boxes.det_xyxy[m1[i1]])[0])
            det_rel.append(abs(w1 - w0) / w0)
            g0, g1 = _width(prev.boxes.gt_xyxy[i0])[0], _width(f.boxes.gt_xyxy[i1])[0]
            gt_rel.append(abs(g1 - g0) / g0)
    return {"pairs": len(det_rel), "median": _pct(det_rel, 50), "p90": _pct(det_rel, 90),
            "label_median": _pct(gt_rel, 50), "label_p90": _pct(gt_rel, 90)}


def evaluate_by_width(frames: Sequence[LabelledFrame]) -> dict[str, Any]:
    """AP50, recall and labelled vehicles per width band, false boxes per frame and width jitter."""
    if not frames:
        return {"frames": 0}
    images = [f.boxes for f in frames]
    # Half-open bands: COCO's area ranges include both ends, so a 24 px box would count twice.
    precision, recall, gts = _coco_eval(images, lambda box, im: float(box[2] - box[0]),
                                        [(lo, hi - 1e-6) for lo, hi in WIDTH_BANDS.values()])
    n_false = sum(int(match_frame(im)[1].sum()) for im in images)

    def n_gt(lo: float, hi: float) -> int:
        return sum(1 for g in gts if not g["iscrowd"] and lo <= g["area"] < hi)

    return {
        "frames": len(frames),
        "ap50": {name: _ap(precision, a) for a, name in enumerate(WIDTH_BANDS)},
        "recall": {name: _recall(recall, a) for a, name in enumerate(WIDTH_BANDS)},
        "n_gt": {name: n_gt(*WIDTH_BANDS[name]) for name in WIDTH_BANDS},
        "false_boxes": n_false,
        "false_per_frame": round(n_false / len(frames), 4),
        "jitter": width_jitter(frames),
    }


def evaluate_splits(frames: Sequence[LabelledFrame]) -> dict[str, Any]:
    """``evaluate_by_width`` on the tune frames, the held-out frames and all of them, and the
    recall and false boxes per frame of each clip."""
    out = {split: evaluate_by_width([f for f in frames if split == "all" or f.split == split])
           for split in SPLITS}
    clips: dict[str, Any] = {}
    for name in dict.fromkeys(f.clip for f in frames):
        r = evaluate_by_width([f for f in frames if f.clip == name])
        clips[name] = {"frames": r["frames"], "n_gt": r["n_gt"]["all"],
                       "recall": r["recall"]["all"], "false_per_frame": r["false_per_frame"]}
    return {**out, "clips": clips}
