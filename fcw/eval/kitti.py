"""TTC ground truth for the KITTI stop-and-go drive, from its lidar (``shared/data/real-drives/
kitti_stop_and_go``): a label file that ``fcw eval`` scores like any other.

The drive's own ``lead_range.csv`` gives the range to the car ahead per frame (the 2nd percentile
of the lidar's forward distance over the ego-lane corridor). The truth written here:

* ``range_m``: that range;
* ``closing_speed_mps``: minus the slope of a straight line fitted to the range over a centred
  window of ``WINDOW_S`` (the range is steady to a centimetre, the closing speed at most about
  1 m/s, so one frame's difference would be mostly noise);
* ``ttc_s``: range / closing speed while closing faster than ``MIN_CLOSING_MPS``, else null (the
  ego stands still from about 5.3 s);
* the lead's box: the lidar points on the lead (|y| < 1.1 m, within ``REAR_DEPTH_M`` behind its
  nearest point) projected into the image with the drive's calibration, its bottom edge where the
  rear face meets the road (the lidar sits ``LIDAR_HEIGHT_M`` above it).

Only the lead is boxed, so the file says ``"boxes": "lead_only"`` and detection metrics skip it.
Scan 77 lost its lower laser block (see the drive's README), so frame 77 is left out.

    python -m fcw.eval.kitti [--drive DIR] [--out tests/data/real/kitti_stop_and_go.ttc.labels.json]
"""
from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import numpy as np

WINDOW_S = 1.0
MIN_CLOSING_MPS = 0.2
REAR_DEPTH_M = 1.0
LEAD_HALF_WIDTH_M = 1.1
LIDAR_HEIGHT_M = 1.73
FPS = 10.0
SKIP_FRAMES = frozenset({77})
_DEFAULT_OUT = (Path(__file__).resolve().parents[2]
                / "tests/data/real/kitti_stop_and_go.ttc.labels.json")


def read_calib(path: Path) -> np.ndarray:
    """The 3x4 matrix taking homogeneous Velodyne points to image_02 pixels (P · R_rect · RT)."""
    rows: dict[str, np.ndarray] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, values = line.partition(":")
        if sep and not name.startswith("#") and name.strip() in ("P_rect_00", "R_rect_00", "RT"):
            rows[name.strip()] = np.array(values.split(), float)
    missing = {"P_rect_00", "R_rect_00", "RT"} - set(rows)
    if missing:
        raise ValueError(f"{path}: missing {', '.join(sorted(missing))}")
    return (rows["P_rect_00"].reshape(3, 4) @ rows["R_rect_00"].reshape(4, 4)
            @ rows["RT"].reshape(4, 4))


def closing_speeds_mps(t_s: np.ndarray, range_m: np.ndarray, window_s: float = WINDOW_S
                       ) -> np.ndarray:
    """Minus the least-squares slope of range over a centred window (m/s; > 0 while closing);
    the window shrinks at the ends of the drive."""
    out = np.empty(len(t_s))
    for i, t in enumerate(t_s):
        m = np.abs(t_s - t) <= window_s / 2 + 1e-9
        out[i] = -np.polyfit(t_s[m], range_m[m], 1)[0]
    return out


def lead_box(points: np.ndarray, range_m: float, projection: np.ndarray, width: int,
             height: int) -> list[float] | None:
    """The lead's box in pixels from its lidar points (N x 4: x fwd, y left, z up, reflectance)."""
    p = points[(np.abs(points[:, 1]) < LEAD_HALF_WIDTH_M) & (points[:, 0] >= range_m - 0.05)
               & (points[:, 0] < range_m + REAR_DEPTH_M)]
    if len(p) < 20:
        return None
    ground = np.array([[range_m, float(np.median(p[:, 1])), -LIDAR_HEIGHT_M]])
    xyz1 = np.c_[np.vstack([p[:, :3], ground]), np.ones(len(p) + 1)]
    uvw = xyz1 @ projection.T
    uv = uvw[:, :2] / uvw[:, 2:3]
    x1, y1 = np.percentile(uv[:-1, 0], 1), np.percentile(uv[:-1, 1], 1)
    x2 = np.percentile(uv[:-1, 0], 99)
    y2 = uv[-1, 1]
    box = [max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2)]
    return [round(v, 1) for v in box] if box[0] < box[2] and box[1] < box[3] else None


def build_labels(drive: Path) -> dict:
    import cv2

    projection = read_calib(drive / "calib.txt")
    with open(drive / "lead_range.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if int(r["frame"]) not in SKIP_FRAMES]
    frames = np.array([int(r["frame"]) for r in rows])
    t_s = frames / FPS
    range_m = np.array([float(r["range_m"]) for r in rows])
    closing = closing_speeds_mps(t_s, range_m)
    first = cv2.imread(str(drive / "images" / f"{frames[0]:010d}.jpg"))
    if first is None:
        raise FileNotFoundError(f"{drive / 'images'}: cannot read frame {frames[0]}")
    h, w = first.shape[:2]
    out = []
    for i, n in enumerate(frames):
        box = lead_box(np.load(drive / "lidar" / f"{n:010d}.npy"), range_m[i], projection, w, h)
        if box is None:
            continue
        ttc = float(range_m[i] / closing[i]) if closing[i] > MIN_CLOSING_MPS else None
        out.append({"frame": int(n), "t": round(float(t_s[i]), 6),
                    "boxes": [{"track_id": 1, "class": "car", "xyxy": box}],
                    "lead": {"track_id": 1, "range_m": round(float(range_m[i]), 3),
                             "closing_speed_mps": round(float(closing[i]), 4),
                             "ttc_s": None if ttc is None else round(ttc, 3), "ttc2_s": None}})
    return {"version": 1, "video": "data/real-drives/kitti_stop_and_go/images", "fps": FPS,
            "width": w, "height": h, "scenario": "kitti_stop_and_go (lidar truth)",
            "boxes": "lead_only", "expect": {"warning": "forbidden", "required_ttc_s": None},
            "frames": out}


def main(argv: list[str] | None = None) -> int:
    shared = Path(os.environ.get("FCW_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))
    ap = argparse.ArgumentParser(prog="python -m fcw.eval.kitti",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--drive", type=Path, default=shared / "data/real-drives/kitti_stop_and_go",
                    help="the kitti_stop_and_go folder (images/, lidar/, calib.txt, "
                         "lead_range.csv)")
    ap.add_argument("--out", type=Path, default=_DEFAULT_OUT, help="the label file to write")
    args = ap.parse_args(argv)
    labels = build_labels(args.drive)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(labels, indent=1) + "\n", encoding="utf-8")
    closing = [f["lead"]["ttc_s"] for f in labels["frames"] if f["lead"]["ttc_s"] is not None]
    print(f"{args.out}: {len(labels['frames'])} frames, {len(closing)} with a TTC "
          f"({min(closing):.2f}-{max(closing):.2f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
