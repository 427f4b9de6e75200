"""How well the geometry stage finds the horizon on real drives, and what it costs.

Runs the real detector, tracker and geometry stage over each drive in ../shared/data/real-drives
and prints, per drive, the final horizon row and vanishing point, their source and sigma, the
stage's median ms per frame and, where the drive's calibration gives them, the true horizon row
and the mount's true roll (beside the stage's, from the road's flow, and the fits it rests on):

- KITTI (kitti_stop_and_go/calib.txt): the row where the lidar's horizontal plane meets the
  image, the lidar being level on the car (camera 1.65 m over the road, KITTI's setup paper).
- PandaSet (city_sf_pandaset/intrinsics.json, poses.json): the row of the world's horizontal
  direction ahead, from each frame's camera orientation (world z is up).

It also prints what the road's bend from image motion (fcw/geometry/motion.py) says on each
drive, which all run straight or nearly so: the largest motion bend, as the offset it gives the
corridor's centre 5% of the frame height under the horizon (% of the width; the lanes take
1.5% for a bend), the measured speed (camera heights a second) and the stage's ms per frame
without the motion. Then the bend's error on the rendered curve (parked_on_curve, 400 m radius,
two mounts) with the lane markings drawn and without them, against the renderer's own
f^2 h kappa / 2.

With --png DIR it draws the estimate (green: horizon and vanishing point, yellow: the prior,
blue: the corridor) on a few frames of each drive, to look at.

    FCW_MODELS_DIR=../shared/models python benchmarks/geometry_accuracy.py --png /tmp/geometry
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engines.spec import ModelSpec, load_spec
from fcw.app import RunOptions, build_detector
from fcw.config import CameraConfig, Config, GeometryConfig, load_config
from fcw.geometry import GeometryStage
from fcw.pipeline import DetectorStage
from fcw.risk.lead import Corridor
from fcw.sources.images import read_image
from fcw.tracking.tracker import Tracker
from fcw.types import CameraGeometry, Frame, Tracks

SHARED = Path(os.environ.get("FCW_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
DRIVES = SHARED / "data" / "real-drives"


def _kitti_projection() -> np.ndarray:
    """KITTI's 3x4 projection of the lidar's frame (x ahead, y left, z up) into the image."""
    rows = {}
    for line in (DRIVES / "kitti_stop_and_go" / "calib.txt").read_text().splitlines():
        if line[:2] in ("P_", "R_", "RT"):
            key, values = line.split(":")
            rows[key] = np.array(values.split(), float)
    return (rows["P_rect_00"].reshape(3, 4) @ rows["R_rect_00"].reshape(4, 4)
            @ rows["RT"].reshape(4, 4))


def _tilt_deg(left: np.ndarray, right: np.ndarray) -> float:
    """The horizon's tilt through two of its points (x, y in pixels), in degrees, positive
    when it falls to the right (``CameraGeometry.roll_rad``'s sign)."""
    return float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))


def kitti_true_horizon_px() -> float:
    y = _kitti_projection() @ np.array([1.0, 0.0, 0.0, 0.0])  # straight ahead, level: lidar x
    return float(y[1] / y[2])


def kitti_true_roll_deg() -> float:
    """The tilt of the line through the vanishing points of two level directions 17 degrees
    either side of straight ahead (the lidar's horizontal plane)."""
    m = _kitti_projection()
    left, right = (m @ np.array([1.0, side, 0.0, 0.0]) for side in (0.3, -0.3))
    return _tilt_deg(left[:2] / left[2], right[:2] / right[2])


def _pandaset_views() -> tuple[np.ndarray, list[np.ndarray]]:
    """PandaSet's camera matrix and each frame's rotation, camera to world (world z up)."""
    from scipy.spatial.transform import Rotation

    k = json.loads((DRIVES / "city_sf_pandaset" / "intrinsics.json").read_text())
    cam = np.array([[k["fx"], 0.0, k["cx"]], [0.0, k["fy"], k["cy"]], [0.0, 0.0, 1.0]])
    rots = []
    for pose in json.loads((DRIVES / "city_sf_pandaset" / "poses.json").read_text()):
        q = pose["heading"]
        rots.append(Rotation.from_quat([q["x"], q["y"], q["z"], q["w"]]).as_matrix())
    return cam, rots


def _pandaset_level_ahead(rot: np.ndarray) -> np.ndarray:
    """The level (world) direction under the camera's optical axis."""
    ahead = rot @ np.array([0.0, 0.0, 1.0])
    return np.array([ahead[0], ahead[1], 0.0]) / np.hypot(ahead[0], ahead[1])


def pandaset_true_horizon_px() -> float:
    cam, rots = _pandaset_views()
    rows = []
    for rot in rots:
        p = cam @ (rot.T @ _pandaset_level_ahead(rot))
        rows.append(p[1] / p[2])
    return float(np.median(rows))


def pandaset_true_roll_deg() -> float:
    """The median over the frames of the tilt of the line through the vanishing points of two
    level directions 17 degrees either side of the level one ahead. Level is the world's, so a
    street's camber (which the road's flow sees as roll) is not in it."""
    cam, rots = _pandaset_views()
    tilts = []
    for rot in rots:
        ahead = _pandaset_level_ahead(rot)
        left = np.cross([0.0, 0.0, 1.0], ahead)
        # Camera x points right: the direction to the world's right lands right in the image.
        pl, pr = (cam @ (rot.T @ (ahead + side * left)) for side in (0.3, -0.3))
        tilts.append(_tilt_deg(pl[:2] / pl[2], pr[:2] / pr[2]))
    return float(np.median(tilts))


def frames_of(path: Path, fps: float = 10.0):
    if path.is_dir():
        files = sorted(glob.glob(str(path / "*.jpg")) + glob.glob(str(path / "images" / "*.jpg")))
        for i, f in enumerate(files):
            yield Frame(i, i / fps, read_image(Path(f)))
        return
    cap = cv2.VideoCapture(str(path))
    rate = cap.get(cv2.CAP_PROP_FPS) or 25.0
    i = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        yield Frame(i, i / rate, img)
        i += 1
    cap.release()


def draw(frame: Frame, g: CameraGeometry, prior: CameraGeometry, corridor: Corridor) -> np.ndarray:
    img = frame.image.copy()
    w, h = frame.width, frame.height
    th = max(1, w // 640)
    cv2.line(img, (0, int(prior.horizon_y_px)), (w, int(prior.horizon_y_px)), (0, 255, 255), th)
    y0, y1 = g.horizon_y_at(0), g.horizon_y_at(w)
    cv2.line(img, (0, int(y0)), (w, int(y1)), (0, 255, 0), 2 * th)
    cv2.circle(img, (int(g.vp_x_px), int(g.horizon_y_px)), 8 * th, (0, 255, 0), 2 * th)
    ys = np.linspace(g.horizon_y_px + 2, h, 40)
    for sign in (-1, 1):
        xs = corridor.centre_x_px(ys) + sign * corridor.half_width_px(ys)
        pts = np.stack([xs, ys], axis=1).astype(np.int32)
        cv2.polylines(img, [pts], False, (255, 128, 0), 2 * th)
    cv2.putText(img, f"{g.source} horizon {g.horizon_y_px:.0f}+-{g.horizon_sigma_px:.0f}px "
                f"vp_x {g.vp_x_px:.0f} bend {g.bend_px2:.0f}", (10, 30 * th),
                cv2.FONT_HERSHEY_SIMPLEX, 0.8 * th, (0, 255, 0), 2 * th)
    return img


# Camera heights and focal lengths: KITTI's from its setup paper and calib.txt; PandaSet's from
# its poses (z, metres over the world origin on the road) and intrinsics.json.
TRUTH = {"kitti_stop_and_go": (kitti_true_horizon_px, 1.65, 721.5),
         "city_sf_pandaset": (pandaset_true_horizon_px, 1.8, 1970.0)}
# The mount's roll where the calibration gives it (degrees, positive falling to the right).
TRUE_ROLL = {"kitti_stop_and_go": kitti_true_roll_deg,
             "city_sf_pandaset": pandaset_true_roll_deg}
DRIVE_NAMES = ("kitti_stop_and_go", "city_sf_pandaset", "highway_solid_white_right.mp4",
               "motorway_dawn.mp4", "night_highway.mp4", "highway_traffic.mp4")
CURVE_CAMERAS = ("centred", "windscreen")
# (lane markings drawn, motion on): the lanes' bend, the motion's alone, neither.
CURVE_CASES = ((True, True), (False, True), (False, False))


def curve_case(markings: bool, motion: bool) -> str:
    """A curve case's key in the figures: what the stage is given."""
    return f"{'markings' if markings else 'no markings'}, motion {'on' if motion else 'off'}"


def drive_figures(name: str, cfg: Config, spec: ModelSpec, detector: DetectorStage,
                  png: Path | None = None) -> dict[str, Any]:
    """One drive: the final horizon row, its sigma and source, the vanishing point's column,
    the true horizon row and the error where the calibration gives them (the error also as a
    pitch angle at the drive's focal length), the mount's roll, the flow fits it is the median
    of and, where the calibration gives it, the true roll, the largest motion bend as the
    corridor offset it gives (% of the width 5% of the height under the horizon), the largest
    measured speed (camera heights a second), and the stage's mean ms per frame with the motion
    and without it (a timing). With ``png``, four annotated frames are written there."""
    true_fn, height, focal = TRUTH.get(name, (None, None, None))
    camera = (cfg.camera.model_copy(update={"height_m": height, "focal_px": focal})
              if height else cfg.camera)
    cars = spec.class_ids(("car",))
    stage, tracker = GeometryStage(camera, cars), Tracker(cfg.tracker, spec.vehicle_class_ids)
    no_motion = {"geometry": cfg.camera.geometry.model_copy(update={"motion_enabled": False})}
    plain = GeometryStage(camera.model_copy(update=no_motion), cars)
    ms, ms_plain, bends, speeds, shots, g = [], [], [], [], [], None
    frames = list(frames_of(DRIVES / name))
    picks = set(np.linspace(0, len(frames) - 1, 4).astype(int))
    for frame in frames:
        tracks = tracker.update(frame.t_s, detector.update(frame))
        t0 = time.perf_counter()
        g = stage.update(frame, tracks)
        ms.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        plain.update(frame, tracks)
        ms_plain.append((time.perf_counter() - t0) * 1e3)
        bends.append(stage.motion_bend_px2)
        speeds.append(stage.motion_speed_hps)
        if png and frame.index in picks:
            corridor = Corridor.from_geometry(g, cfg.corridor, frame.width, frame.height)
            shots.append(draw(frame, g, stage.prior(frame.width, frame.height), corridor))
    if g is None:
        raise SystemExit(f"{DRIVES / name}: no frames")
    if png:
        png.mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(shots):
            cv2.imwrite(str(png / f"{name.split('.')[0]}_{i}.png"), img)
    w, h = frames[0].width, frames[0].height
    true = true_fn() if true_fn else None
    err = g.horizon_y_px - true if true is not None else None
    true_roll = TRUE_ROLL[name]() if name in TRUE_ROLL else None
    return {"size": [w, h], "frames": len(frames),
            "horizon_y_px": round(g.horizon_y_px, 2),
            "horizon_sigma_px": round(g.horizon_sigma_px, 2),
            "true_horizon_y_px": round(true, 2) if true is not None else None,
            "error_px": round(err, 2) if err is not None else None,
            "error_deg": (round(float(np.degrees(np.arctan2(err, focal))), 3)
                          if err is not None and focal else None),
            "vp_x_px": round(g.vp_x_px, 1), "source": g.source,
            "roll_deg": round(float(np.degrees(g.roll_rad)), 2),
            "roll_samples": stage.roll_samples,
            "true_roll_deg": round(true_roll, 2) if true_roll is not None else None,
            "motion_bend_pct": round(float(np.abs(bends).max()) / (0.05 * h) / w * 100, 2),
            "motion_speed_hps": round(max(speeds), 2),
            "ms_per_frame": round(float(np.mean(ms)), 2),
            "ms_no_motion": round(float(np.mean(ms_plain)), 2)}


def measure_drives(names: tuple[str, ...] = DRIVE_NAMES, config: Path | None = None,
                   png: Path | None = None) -> dict[str, dict[str, Any]]:
    """``drive_figures`` for each drive, with the real detector and the config's settings."""
    cfg = load_config(config)
    spec = load_spec(cfg.detector.model)
    detector, _ = build_detector(cfg, spec, RunOptions(source=""))
    return {name: drive_figures(name, cfg, spec, detector, png) for name in names}


def print_drives(rows: dict[str, dict[str, Any]]) -> None:
    print(f"{'drive':<32}{'horizon px':>11}{'sigma':>7}{'true':>8}{'error':>7}{'vp_x':>7}"
          f"{'roll':>6}{'fits':>5}{'true':>6}"
          f"{'ms/frame':>9}{'no motion':>10}{'motion bend %':>14}{'speed h/s':>10}  source")
    for name, r in rows.items():
        true = r["true_horizon_y_px"]
        err = f"{r['error_px']:+7.1f}" if r["error_px"] is not None else f"{'':>7}"
        print(f"{name:<32}{r['horizon_y_px']:>11.1f}{r['horizon_sigma_px']:>7.1f}"
              f"{true if true is not None else float('nan'):>8.1f}{err}{r['vp_x_px']:>7.0f}"
              f"{r['roll_deg']:>+6.2f}{r['roll_samples']:>5d}"
              f"{r['true_roll_deg'] if r['true_roll_deg'] is not None else float('nan'):>+6.2f}"
              f"{r['ms_per_frame']:>9.2f}{r['ms_no_motion']:>10.2f}"
              f"{r['motion_bend_pct']:>14.2f}{r['motion_speed_hps']:>10.1f}  {r['source']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--png", type=Path, help="folder for annotated frames")
    ap.add_argument("--config", type=Path)
    args = ap.parse_args()
    print_drives(measure_drives(config=args.config, png=args.png))
    print_curve(measure_curve())


def curve_bend(camera: str, markings: bool, motion: bool, seconds: float = 4.0) -> dict[str, Any]:
    """The bend on the rendered 400 m curve through one mount, markings drawn or not, the motion
    on or off; the stage gets the true boxes as tracks (the detector is not what is measured
    here). The bend is the median over the last 2 s; its error is relative to the renderer's
    own f^2 h kappa / 2."""
    from fcw.scenarios.camera import get_camera
    from fcw.scenarios.kinematics import get_scenario
    from fcw.scenarios.render import iter_scenario
    from fcw.scenarios.world import RoadLayout

    scn = get_scenario("parked_on_curve")
    cam = get_camera(camera)
    true = cam.focal_px ** 2 * cam.height_m * scn.curvature_per_m / 2
    geo = GeometryConfig(motion_enabled=motion)
    stage = GeometryStage(CameraConfig(height_m=cam.height_m, geometry=geo), (2,))
    got = []
    layout = RoadLayout(markings=markings)
    for i, (img, labels) in enumerate(iter_scenario(scn, cam, fps=10, layout=layout)):
        n = len(labels.boxes)
        z = np.zeros(n)
        tracks = Tracks(np.array([b.track_id for b in labels.boxes], np.int64),
                        np.array([b.xyxy for b in labels.boxes], np.float32).reshape(n, 4),
                        np.ones(n, np.float32), np.full(n, 2, np.int32),
                        np.ones(n, bool), z, z.copy(), z.copy())
        g = stage.update(Frame(i, i / 10, img), tracks)
        got.append(g.bend_px2)
        if i >= seconds * 10:
            break
    bend = float(np.median(got[-20:]))
    source = "motion" if "motion" in g.source else ("lanes" if bend else "-")
    return {"markings": markings, "motion": motion, "true_bend_px2": round(true, 1),
            "bend_px2": round(bend, 1), "bend_error": round(bend / true - 1, 4), "from": source}


def measure_curve(cameras: tuple[str, ...] = CURVE_CAMERAS,
                  cases: tuple[tuple[bool, bool], ...] = CURVE_CASES
                  ) -> dict[str, dict[str, dict[str, Any]]]:
    """``curve_bend`` for each mount and case (markings drawn, motion on)."""
    return {camera: {curve_case(*case): curve_bend(camera, *case) for case in cases}
            for camera in cameras}


def print_curve(rows: dict[str, dict[str, dict[str, Any]]]) -> None:
    print(f"\n{'parked_on_curve, 10 fps':<26}{'markings':>9}{'motion':>7}{'true px^2':>10}"
          f"{'bend px^2':>10}{'error':>7}{'from':>9}  (median over the last 2 s)")
    for camera, cases in rows.items():
        for r in cases.values():
            print(f"{camera:<26}{'yes' if r['markings'] else 'no':>9}"
                  f"{'on' if r['motion'] else 'off':>7}"
                  f"{r['true_bend_px2']:>10.0f}{r['bend_px2']:>10.0f}{r['bend_error']:>+7.0%}"
                  f"{r['from']:>9}")


if __name__ == "__main__":
    main()
