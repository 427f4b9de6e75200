"""Hand-labelling vehicle boxes on real frames: draft with a detector, review as PNGs, edit.

``python -m fcw.eval.labeltool`` has four commands, all on a label file in fcw's format
(``fcw/labels.py``) whose ``video`` names a clip or image folder under the shared data root:

* ``propose LABELS --source REL --frames 0,5,10-14 [--size 960x544] [--score 0.15]``: run fcw's
  detector stage (YOLOX-Nano by default) at a generous input size and a low threshold, without
  the far crop, on those frames and add them as draft boxes (frames already in the file are left
  alone). Track ids are carried from the previous frame by IoU so that runs of consecutive
  frames share identities. The last third of the clip is marked ``heldout``, the rest ``tune``.
* ``render LABELS --frames ... --out DIR [--zoom x1,y1,x2,y2] [--stack] [--detector MODEL]``:
  a PNG per frame (or one for all, ``--stack``) with numbered boxes (the number is the track id;
  red = ignore, blue = not a car), a grid with pixel coordinates every 50 px, an optional
  enlarged region (far vehicles) and, in magenta, a model's boxes to look again where they and
  the labels disagree.
* ``crops LABELS --out DIR [--max-width 48] [--detector MODEL]``: sheets of 4-10x crops of every
  counted box narrower than that, with ticks every 2 px, to check small vehicles to a pixel.
* ``edit LABELS FRAME OP...`` or ``edit LABELS --file EDITS``: ``del ID``, ``move ID x1 y1 x2 y2``,
  ``add ID CLASS x1 y1 x2 y2``, ``cls ID CLASS``, ``ign ID``, ``unign ID``, ``clear`` (no
  vehicle), separated by ``;``; an edits file holds ``FRAME OP ...`` lines (``#`` comments).

The detector only drafts and points: every box is looked at and fixed by hand.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fcw.boxes import iou_matrix
from fcw.errors import FcwError
from fcw.labels import (
    BoxLabel,
    ClipLabels,
    Expectation,
    FrameLabels,
    LabelError,
    load_labels,
    save_labels,
)
from fcw.types import Frame

GRID_PX = 50
# Frames at or beyond this fraction of a clip are held out (chosen before any tuning).
HELDOUT_FROM_FRAC = 2 / 3


class LabelToolError(FcwError):
    """A bad command, frame list or edit."""


def parse_frames(text: str) -> list[int]:
    """``"0,5,10-14"`` -> [0, 5, 10, 11, 12, 13, 14]."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        try:
            if "-" in part:
                a, b = (int(v) for v in part.split("-"))
                out += range(a, b + 1)
            elif part:
                out.append(int(part))
        except ValueError:
            raise LabelToolError(f"--frames: cannot read {part!r}") from None
    return sorted(set(out))


def data_root() -> Path:
    """Where label files' videos live: $FCW_SHARED_DIR, else ../shared (as ``fcw eval``)."""
    from fcw.eval.dataset import default_data_roots

    return default_data_roots()[0]


def read_frames(path: Path, wanted: Sequence[int]) -> Iterator[tuple[int, np.ndarray]]:
    """(index, BGR image) of the wanted frames of a video file or an image folder."""
    from fcw.sources import open_source

    wanted_set = set(wanted)
    source = open_source(str(path), folder_fps=10.0)
    try:
        for frame in source:
            if frame.index in wanted_set:
                yield frame.index, frame.image
            if frame.index >= max(wanted_set):
                break
    finally:
        source.close()


# --- drafting ------------------------------------------------------------------------------------

def draft_boxes(stage: Any, vehicle_ids: np.ndarray, class_names: Sequence[str], index: int,
                image: np.ndarray) -> list[BoxLabel]:
    """fcw's detector stage's vehicle boxes on one image, as labels (track ids still 0)."""
    h, w = image.shape[:2]
    dets = stage.update(Frame(index, 0.0, image))
    out = []
    for box, cls in zip(dets.xyxy, dets.class_id):
        x1, y1, x2, y2 = (float(v) for v in np.clip(np.round(box), 0, [w, h, w, h]))
        if cls in vehicle_ids and x2 - x1 >= 6 and y2 - y1 >= 4:
            out.append(BoxLabel(0, class_names[int(cls)], (x1, y1, x2, y2)))
    return out


def _link_ids(prev: FrameLabels | None, boxes: list[BoxLabel],
              next_id: int) -> tuple[list[BoxLabel], int]:
    """Give ``boxes`` the track ids of the previous frame's boxes they overlap best."""
    out: list[BoxLabel] = []
    prev_boxes = list(prev.boxes) if prev is not None else []
    taken: set[int] = set()
    if prev_boxes and boxes:
        iou = iou_matrix(np.array([b.xyxy for b in boxes]), np.array([b.xyxy for b in prev_boxes]))
    for i, b in enumerate(boxes):
        tid = None
        if prev_boxes:
            for j in np.argsort(-iou[i]):
                if iou[i, j] < 0.3:
                    break
                if prev_boxes[j].track_id not in taken:
                    tid = prev_boxes[j].track_id
                    break
        if tid is None:
            tid, next_id = next_id, next_id + 1
        taken.add(tid)
        out.append(replace(b, track_id=tid))
    return out, next_id


def split_of(frame: int, n_frames: int) -> str:
    return "heldout" if frame >= HELDOUT_FROM_FRAC * n_frames else "tune"


def propose(labels_path: Path, source_rel: str, frames: list[int], fps: float, scenario: str,
            model: str, size: tuple[int, int], score: float) -> ClipLabels:
    source = data_root() / source_rel
    if not source.exists():
        raise LabelToolError(f"{source}: no such video or image folder")
    existing = load_labels(labels_path) if labels_path.is_file() else None
    have = {f.frame: f for f in existing.frames} if existing else {}
    n_frames = _count_frames(source)
    # A generous input and a low threshold: a missed vehicle costs the labeller more than a
    # false box, and no far crop, so that every box comes from one view of the frame.
    stage, vehicle_ids, names = _detector_stage(model, {
        "detector.input_size": list(size), "detector.score_threshold": score,
        "detector.far_crop.enabled": False})
    width = height = 0
    new: dict[int, FrameLabels] = dict(have)
    next_id = 1 + max((b.track_id for f in have.values() for b in f.boxes), default=0)
    for index, image in read_frames(source, frames):
        height, width = image.shape[:2]
        if index in have:
            continue
        boxes = draft_boxes(stage, vehicle_ids, names, index, image)
        boxes, next_id = _link_ids(new.get(index - 1), boxes, next_id)
        new[index] = FrameLabels(index, round(index / fps, 6), tuple(boxes),
                                 split=split_of(index, n_frames))
    if existing:
        width, height = existing.width, existing.height
    labels = ClipLabels(source_rel, fps, width, height, scenario, Expectation("forbidden"),
                        tuple(new[k] for k in sorted(new)))
    save_labels(labels, labels_path)
    return labels


def _count_frames(source: Path) -> int:
    from fcw.sources import open_source

    src = open_source(str(source), folder_fps=10.0)
    try:
        n = src.frame_count
    finally:
        src.close()
    if not n:
        raise LabelToolError(f"{source}: cannot count its frames")
    return int(n)


# --- review images -------------------------------------------------------------------------------

def draw(image: np.ndarray, frame: FrameLabels, scale: float = 1.0,
         offset: tuple[int, int] = (0, 0), grid: bool = True,
         dets: np.ndarray | None = None) -> np.ndarray:
    """The image scaled by ``scale`` (pixel ``offset`` = its top-left in the frame) with the grid,
    the numbered boxes and, in magenta, ``dets`` ((M, 4) detector boxes); all in frame pixels."""
    img = cv2.resize(image, None, fx=scale, fy=scale,
                     interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    ox, oy = offset
    h, w = image.shape[:2]
    if grid:
        # Faint lines every 50 px (10 px ticks when enlarged), solid coordinates: the lines must
        # not hide the edges being judged.
        lines = img.copy()
        # Enlarged crops of small vehicles get coordinates every 10 px and ticks every 2 px.
        major_px, minor_px = (10, 2) if scale >= 4 else (GRID_PX, 10)
        for axis, start, length in ((0, ox, w), (1, oy, h)):
            for v in range((start // minor_px + 1) * minor_px, start + length, minor_px):
                p = round((v - start) * scale)
                major = v % major_px == 0
                if not major and scale < 2:
                    continue
                p0, p1 = ((p, 0), (p, img.shape[0])) if axis == 0 else ((0, p), (img.shape[1], p))
                if major:
                    cv2.line(lines, p0, p1, (0, 255, 255), 1)
                tick = 8 if major else 4
                t1, t2 = ((p, 0), (p, tick)) if axis == 0 else ((0, p), (tick, p))
                cv2.line(img, t1, t2, (0, 255, 255), 1)
                if major:
                    org = (p + 2, 20) if axis == 0 else (10, p - 2)
                    cv2.putText(img, str(v), org, cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 255), 1)
        img = cv2.addWeighted(lines, 0.3, img, 0.7, 0)
    for d in (() if dets is None else dets):
        d1, e1, d2, e2 = (int(np.round((v - o) * scale)) for v, o in zip(d, (ox, oy, ox, oy)))
        cv2.rectangle(img, (d1, e1), (d2, e2), (255, 0, 255), 1, cv2.LINE_4)
    for b in frame.boxes:
        x1, y1, x2, y2 = ((v - o) * scale for v, o in zip(b.xyxy, (ox, oy, ox, oy)))
        color = (0, 0, 255) if b.ignore else (0, 255, 0) if b.cls == "car" else (255, 128, 0)
        cv2.rectangle(img, (round(x1), round(y1)), (round(x2), round(y2)), color, 1)
        cv2.putText(img, f"{b.track_id}{'' if b.cls == 'car' else b.cls[0]}",
                    (int(x1), max(10, int(y1) - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1)
    return img


def render(labels_path: Path, frames: list[int] | None, out_dir: Path, width_px: int,
           zoom: tuple[int, int, int, int] | None, zoom_scale: float,
           stack: bool = False, detector: str | None = None) -> list[Path]:
    """PNGs of the labelled frames; ``detector``: also draw that model's boxes from fcw's
    detector stage (to look again where it and the labels disagree, not to copy it)."""
    labels = load_labels(labels_path)
    stage, vehicle_ids, _ = _detector_stage(detector) if detector else (None, np.zeros(0), ())
    wanted = frames or [f.frame for f in labels.frames]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths, sheets = [], []
    stem = labels_path.name.split(".")[0]
    for index, image in read_frames(data_root() / labels.video, wanted):
        fl = labels.frame_at(index) or FrameLabels(index, 0.0)
        dets = None
        if stage is not None:
            found = stage.update(Frame(index, fl.t_s, image))
            dets = found.xyxy[np.isin(found.class_id, vehicle_ids)]
        parts = [draw(image, fl, min(1.0, width_px / image.shape[1]), dets=dets)] \
            if width_px > 0 else []
        if zoom is not None:
            x1, y1, x2, y2 = zoom
            parts.append(draw(image[y1:y2, x1:x2], fl, zoom_scale, (x1, y1), dets=dets))
        wmax = max(p.shape[1] for p in parts)
        sheet = np.vstack([cv2.copyMakeBorder(p, 0, 4, 0, wmax - p.shape[1], cv2.BORDER_CONSTANT)
                           for p in parts])
        cv2.putText(sheet, f"{stem} frame {index} {fl.split or ''}", (60, parts[0].shape[0] - 8),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2)
        sheets.append(sheet)
        if not stack:
            path = out_dir / f"{stem}_{index:04d}.png"
            cv2.imwrite(str(path), sheet)
            paths.append(path)
    if stack and sheets:
        # Consecutive frames one above the other: a run is checked in one look.
        wmax = max(s.shape[1] for s in sheets)
        path = out_dir / f"{stem}_{wanted[0]:04d}-{wanted[-1]:04d}.png"
        cv2.imwrite(str(path), np.vstack([cv2.copyMakeBorder(s, 0, 0, 0, wmax - s.shape[1],
                                                             cv2.BORDER_CONSTANT) for s in sheets]))
        paths.append(path)
    return paths


def crops(labels_path: Path, out_dir: Path, max_width: float, detector: str | None,
          per_sheet: int = 20) -> list[Path]:
    """Sheets of enlarged crops, one per counted (not ignored) box narrower than ``max_width``,
    so the small vehicles' edges can be checked to a pixel."""
    labels = load_labels(labels_path)
    todo = {f.frame: [b for b in f.boxes if not b.ignore and b.xyxy[2] - b.xyxy[0] < max_width]
            for f in labels.frames}
    todo = {k: v for k, v in todo.items() if v}
    stage, vehicle_ids, _ = _detector_stage(detector) if detector else (None, np.zeros(0), ())
    tiles = []
    for index, image in read_frames(data_root() / labels.video, sorted(todo)):
        fl = labels.frame_at(index) or FrameLabels(index, 0.0)
        dets = None
        if stage is not None:
            found = stage.update(Frame(index, fl.t_s, image))
            dets = found.xyxy[np.isin(found.class_id, vehicle_ids)]
        h, w = image.shape[:2]
        for b in todo[index]:
            x1, y1, x2, y2 = b.xyxy
            m = max(8.0, 0.4 * (x2 - x1))
            cx1, cy1 = int(max(0, x1 - m)), int(max(0, y1 - m))
            cx2, cy2 = int(min(w, x2 + m)), int(min(h, y2 + m))
            scale = max(4.0, min(10.0, 220 / (cx2 - cx1)))
            tile = draw(image[cy1:cy2, cx1:cx2], fl, scale, (cx1, cy1), dets=dets)
            tile = cv2.copyMakeBorder(tile, 18, 2, 2, 2, cv2.BORDER_CONSTANT)
            cv2.putText(tile, f"f{index} #{b.track_id} {[round(v) for v in b.xyxy]}",
                        (2, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1)
            tiles.append(tile)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    stem = labels_path.name.split(".")[0]
    for k in range(0, len(tiles), per_sheet):
        group = tiles[k:k + per_sheet]
        th, tw = max(t.shape[0] for t in group), max(t.shape[1] for t in group)
        group = [cv2.copyMakeBorder(t, 0, th - t.shape[0], 0, tw - t.shape[1],
                                    cv2.BORDER_CONSTANT) for t in group]
        group += [np.zeros_like(group[0])] * (-len(group) % 5)
        rows = [np.hstack(group[i:i + 5]) for i in range(0, len(group), 5)]
        path = out_dir / f"{stem}_crops_{k // per_sheet:02d}.png"
        cv2.imwrite(str(path), np.vstack(rows))
        paths.append(path)
    return paths


def _detector_stage(model: str, overrides: dict[str, Any] | None = None
                    ) -> tuple[Any, np.ndarray, tuple[str, ...]]:
    """fcw's detector stage for ``model`` as ``fcw run`` builds it from the default config with
    ``overrides``, its vehicle class ids and its class names."""
    from engines.spec import load_spec
    from fcw.app import RunOptions, build_detector
    from fcw.config import load_config

    spec = load_spec(model)
    stage, _ = build_detector(load_config(None, {"detector.model": model, **(overrides or {})}),
                              spec, RunOptions(source="", status=False))
    return stage, np.asarray(spec.vehicle_class_ids), tuple(spec.class_names)


# --- edits ---------------------------------------------------------------------------------------

def _box(args: Sequence[str], what: str) -> tuple[float, float, float, float]:
    try:
        x1, y1, x2, y2 = (float(v) for v in args)
    except ValueError:
        raise LabelToolError(f"{what}: expected x1 y1 x2 y2, got {' '.join(args)!r}") from None
    return (x1, y1, x2, y2)


def apply_edit(frame: FrameLabels, op: Sequence[str]) -> FrameLabels:
    """One edit (``["move", "3", "10", "20", "30", "40"]``) applied to a frame's boxes."""
    if not op:
        return frame
    cmd, args = op[0], list(op[1:])
    boxes = {b.track_id: b for b in frame.boxes}
    what = f"frame {frame.frame}: {' '.join(op)}"
    if cmd == "clear":
        return replace(frame, boxes=())
    if cmd == "add":
        if len(args) != 6:
            raise LabelToolError(f"{what}: expected add ID CLASS x1 y1 x2 y2")
        tid = int(args[0])
        if tid in boxes:
            raise LabelToolError(f"{what}: track {tid} is already in this frame")
        boxes[tid] = BoxLabel(tid, args[1], _box(args[2:], what))
    else:
        if not args or not args[0].isdigit() or int(args[0]) not in boxes:
            raise LabelToolError(f"{what}: no such track id in this frame")
        tid = int(args[0])
        b = boxes[tid]
        if cmd == "del":
            del boxes[tid]
        elif cmd == "move":
            boxes[tid] = replace(b, xyxy=_box(args[1:], what))
        elif cmd == "cls":
            boxes[tid] = replace(b, cls=args[1])
        elif cmd in ("ign", "unign"):
            boxes[tid] = replace(b, ignore=cmd == "ign")
        elif cmd == "id":
            boxes[tid] = replace(b, track_id=int(args[1]))
        else:
            raise LabelToolError(f"{what}: unknown edit {cmd!r} (del, move, add, cls, ign, unign, "
                                 "id, clear)")
    for b in boxes.values():
        x1, y1, x2, y2 = b.xyxy
        if not (x1 < x2 and y1 < y2):
            raise LabelToolError(f"{what}: expected x1 < x2 and y1 < y2")
    return replace(frame, boxes=tuple(sorted(boxes.values(), key=lambda b: b.track_id)))


def parse_edits(text: str) -> list[tuple[int, list[str]]]:
    """``FRAME OP ARGS; OP ARGS`` lines (``#`` starts a comment) -> [(frame, op)]."""
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.split("#")[0].strip()
        if not line:
            continue
        head, _, rest = line.partition(" ")
        if not head.isdigit():
            raise LabelToolError(f"edits line {n}: expected a frame number first, got {head!r}")
        out += [(int(head), op.split()) for op in rest.split(";") if op.strip()]
    return out


def edit(labels_path: Path, edits: list[tuple[int, list[str]]]) -> ClipLabels:
    labels = load_labels(labels_path)
    frames = {f.frame: f for f in labels.frames}
    for index, op in edits:
        if index not in frames:
            raise LabelToolError(f"{labels_path}: frame {index} is not labelled (propose it first)")
        frames[index] = apply_edit(frames[index], op)
    labels = replace(labels, frames=tuple(frames[k] for k in sorted(frames)))
    save_labels(labels, labels_path)
    return load_labels(labels_path)  # validated as any reader will see it


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fcw.eval.labeltool", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("propose", help="draft boxes with YOLOX-Nano")
    pr.add_argument("labels", type=Path)
    pr.add_argument("--source", required=True,
                    help="video or image folder, relative to the data root")
    pr.add_argument("--frames", required=True)
    pr.add_argument("--fps", type=float, default=10.0, help="for image folders (videos: theirs)")
    pr.add_argument("--scenario", default="real_drive")
    pr.add_argument("--detector", default="yolox_nano", metavar="MODEL")
    pr.add_argument("--size", default="960x544", metavar="WxH", help="the model's input size")
    pr.add_argument("--score", type=float, default=0.15)
    re_ = sub.add_parser("render", help="PNG per frame with numbered boxes and a pixel grid")
    re_.add_argument("labels", type=Path)
    re_.add_argument("--frames")
    re_.add_argument("--out", type=Path, required=True)
    re_.add_argument("--width", type=int, default=1280,
                     help="width of the full-frame view (0: zoomed region only)")
    re_.add_argument("--zoom", help="x1,y1,x2,y2: also draw this region enlarged")
    re_.add_argument("--zoom-scale", type=float, default=3.0)
    re_.add_argument("--stack", action="store_true", help="all frames in one PNG")
    re_.add_argument("--detector", metavar="MODEL",
                     help="also draw this model's boxes from fcw's detector stage, in magenta")
    cr = sub.add_parser("crops", help="sheets of enlarged crops of the small boxes")
    cr.add_argument("labels", type=Path)
    cr.add_argument("--out", type=Path, required=True)
    cr.add_argument("--max-width", type=float, default=48.0)
    cr.add_argument("--detector", metavar="MODEL")
    ed = sub.add_parser("edit", help="apply edits")
    ed.add_argument("labels", type=Path)
    ed.add_argument("frame", nargs="?", type=int)
    ed.add_argument("ops", nargs="*", help="OP ARGS [; OP ARGS ...]")
    ed.add_argument("--file", type=Path)
    a = p.parse_args(argv)
    try:
        if a.cmd == "propose":
            size = tuple(int(v) for v in a.size.lower().split("x") if v.isdigit())
            if len(size) != 2:
                raise LabelToolError(f"--size: expected WxH, got {a.size!r}")
            fps = a.fps
            if (data_root() / a.source).is_file():
                cap = cv2.VideoCapture(str(data_root() / a.source))
                fps = cap.get(cv2.CAP_PROP_FPS) or fps
                cap.release()
            labels = propose(a.labels, a.source, parse_frames(a.frames), fps, a.scenario,
                             a.detector, size, a.score)
            print(f"{a.labels}: {len(labels.frames)} frames, "
                  f"{sum(len(f.boxes) for f in labels.frames)} boxes")
        elif a.cmd == "render":
            zoom = tuple(int(v) for v in a.zoom.split(",")) if a.zoom else None
            if zoom is not None and len(zoom) != 4:
                raise LabelToolError(f"--zoom: expected x1,y1,x2,y2, got {a.zoom!r}")
            for path in render(a.labels, parse_frames(a.frames) if a.frames else None, a.out,
                               a.width, zoom, a.zoom_scale, a.stack, a.detector):
                print(path)
        elif a.cmd == "crops":
            for path in crops(a.labels, a.out, a.max_width, a.detector):
                print(path)
        else:
            text = a.file.read_text(encoding="utf-8") if a.file else \
                f"{a.frame} {' '.join(a.ops)}"
            labels = edit(a.labels, parse_edits(text))
            print(f"{a.labels}: {sum(len(f.boxes) for f in labels.frames)} boxes")
    except (LabelToolError, LabelError, FcwError, OSError) as exc:
        print(f"labeltool: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
