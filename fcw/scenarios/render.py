"""Render a named scenario to an mp4 plus its exact labels (``<stem>.labels.json``).

Frame i is captured at t = i / fps. Vehicles are drawn far to near so nearer cars hide farther
ones; each label box is the projection of the car's 3D hull, and its ``occlusion`` is the share
of it covered by nearer cars' boxes. Everything random (texture, sensor noise) comes from the
seed, so a seed always gives the same pixels. A mounted camera (pitched, rolled, yawed) sees the
scene drawn on a level canvas through the homography of its rotation
(``PinholeCamera.level_canvas``); its labels are projected through the full mount, so they stay
exact.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from fcw.errors import FcwError
from fcw.labels import (
    BoxLabel,
    CameraLabel,
    ClipLabels,
    FrameLabels,
    LeadTruth,
    labels_path_for,
    save_labels,
)
from fcw.scenarios.camera import PinholeCamera, get_camera
from fcw.scenarios.kinematics import (
    Scenario,
    frame_times_s,
    get_scenario,
    lead_state,
    vehicle_states,
)
from fcw.scenarios.signal import draw_signal, signal_box
from fcw.scenarios.vehicle import draw_vehicle, vehicle_box
from fcw.scenarios.world import RoadLayout, World


def _occlusion(box: np.ndarray, nearer: list[np.ndarray]) -> float:
    """Fraction of ``box`` covered by the union of the ``nearer`` boxes (pixel grid)."""
    x1, y1, x2, y2 = np.floor(box[:2]).astype(int).tolist() + np.ceil(box[2:]).astype(int).tolist()
    if not nearer or x2 <= x1 or y2 <= y1:
        return 0.0
    mask = np.zeros((y2 - y1, x2 - x1), bool)
    for b in nearer:
        a1, b1 = int(round(b[0])) - x1, int(round(b[1])) - y1
        a2, b2 = int(round(b[2])) - x1, int(round(b[3])) - y1
        mask[max(b1, 0):max(b2, 0), max(a1, 0):max(a2, 0)] = True
    return float(mask.mean())


def frame_labels(scn: Scenario, cam: PinholeCamera, index: int, t_s: float) -> FrameLabels:
    """The exact labels of the frame captured at t_s."""
    states = sorted(vehicle_states(scn, t_s), key=lambda s: s.range_m)
    classes = {v.track_id: v.cls for v in scn.vehicles}
    boxes: list[BoxLabel] = []
    drawn: list[np.ndarray] = []
    for s in states:  # nearest first, so each box knows what is in front of it
        box = vehicle_box(cam, s.offset_m, s.range_m, scn.curvature_per_m)
        if box is None:
            continue
        x1, y1, x2, y2 = (float(v) for v in box)
        boxes.append(BoxLabel(s.track_id, classes[s.track_id], (x1, y1, x2, y2),
                              _occlusion(box, drawn)))
        drawn.append(box)
    lead = lead_state(scn, t_s)
    lead_truth = None
    if lead is not None and any(b.track_id == lead.track_id for b in boxes):
        lead_truth = LeadTruth(lead.track_id, lead.range_m, lead.closing_speed_mps, lead.ttc_s,
                               lead.ttc2_s)
    return FrameLabels(index, t_s, tuple(sorted(boxes, key=lambda b: b.track_id)), lead_truth,
                       light_label(scn, cam, t_s))


def light_label(scn: Scenario, cam: PinholeCamera, t_s: float) -> str | None:
    """The state of the light governing the ego lane: null for a scenario without one (no
    expectation), "none" while its head is out of view."""
    if scn.light is None:
        return None
    range_m = scn.light.position_m - scn.ego.state(t_s)[0]
    return scn.light.state(t_s) if signal_box(cam, scn.light, range_m) is not None else "none"


def _through_mount(img: np.ndarray, cam: PinholeCamera, canvas: PinholeCamera,
                   to_cam: np.ndarray) -> np.ndarray:
    """The canvas image as the mounted camera sees it."""
    if canvas is cam:
        return img
    return cv2.warpPerspective(img, to_cam, (cam.width, cam.height), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)


def render_image(scn: Scenario, cam: PinholeCamera, world: World, t_s: float,
                 rng: np.random.Generator) -> np.ndarray:
    """The BGR frame at t_s (before encoding). ``world`` draws on ``cam.level_canvas()[0]``."""
    canvas, to_cam = cam.level_canvas()
    if world.cam != canvas:
        raise ValueError(f"the world was built for camera {world.cam.name!r}, not {canvas.name!r}")
    ego_travel_m, _, _ = scn.ego.state(t_s)
    img = world.render(ego_travel_m)
    if scn.light is not None:
        draw_signal(img, canvas, scn.light, scn.light.position_m - ego_travel_m,
                    scn.light.state(t_s))
    styles = {v.track_id: v.style for v in scn.vehicles}
    for s in sorted(vehicle_states(scn, t_s), key=lambda s: -s.range_m):
        draw_vehicle(img, canvas, s.offset_m, s.range_m, styles[s.track_id], scn.curvature_per_m)
    img = _through_mount(img, cam, canvas, to_cam)
    return world.finish(img, rng)


def scenario_world(scn: Scenario, cam: PinholeCamera, seed: int = 0,
                   layout: RoadLayout | None = None) -> World:
    """The background renderer for ``scn`` seen by ``cam`` (``layout``: the default road)."""
    return World(cam.level_canvas()[0], seed, layout or RoadLayout(),
                  curvature_per_m=scn.curvature_per_m)


def iter_scenario(scn: Scenario, cam: PinholeCamera, fps: float = 30.0, seed: int = 0,
                  layout: RoadLayout | None = None) -> Iterator[tuple[np.ndarray, FrameLabels]]:
    """(image, labels) for every frame of the clip, in order."""
    world = scenario_world(scn, cam, seed, layout)
    for i, t in enumerate(frame_times_s(scn, fps)):
        rng = np.random.default_rng([seed, i])
        yield render_image(scn, cam, world, t, rng), frame_labels(scn, cam, i, t)


def render_scenario(name: str, out_video: Path, fps: float = 30.0, seed: int = 0,
                    width: int = 1280, height: int = 720, fov_deg: float | None = None,
                    camera: str = "centred") -> ClipLabels:
    """Write ``out_video`` (mp4v) and its ``<stem>.labels.json``; return the labels.

    camera: a mount from ``fcw.scenarios.camera.CAMERAS``; fov_deg overrides its field of view.
    """
    scn = get_scenario(name)
    cam = get_camera(camera, width, height)
    if fov_deg is not None:
        cam = replace(cam, hfov_deg=fov_deg)
    out_video = Path(out_video)
    out_video.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out_video), cv2.VideoWriter.fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise FcwError(f"{out_video}: cannot open an mp4v video writer")
    frames = []
    try:
        for img, labels in iter_scenario(scn, cam, fps, seed):
            writer.write(img)
            frames.append(labels)
    finally:
        writer.release()
    clip = ClipLabels(video=out_video.name, fps=float(fps), width=width, height=height,
                      scenario=name, expect=scn.expect, frames=tuple(frames),
                      camera=CameraLabel(**cam.describe()))
    save_labels(clip, labels_path_for(out_video))
    return clip


def renderer_digest() -> str:
    """A digest of the renderer's source: a cached clip rendered by other code is stale."""
    h = hashlib.sha256()
    for p in sorted(Path(__file__).resolve().parent.glob("*.py")):
        h.update(p.read_bytes())
    return h.hexdigest()[:12]


def render_cached(name: str, cache_dir: Path, camera: str = "centred", seed: int = 0,
                  fps: float = 30.0, width: int = 1280, height: int = 720) -> Path:
    """The video of (name, camera, seed, fps, size), rendered into ``cache_dir`` once; its labels
    lie beside it. Safe for several processes at once: one renders while the others wait for it
    (a lock file beside the video, where the platform has ``fcntl``), into a folder of its own,
    and moves the finished files into place (the labels first, so a video there is complete)."""
    folder = Path(cache_dir) / renderer_digest()
    video = folder / f"{name}-{camera}-s{seed}-{fps:g}fps-{width}x{height}.mp4"
    if video.is_file() and labels_path_for(video).is_file():
        return video
    folder.mkdir(parents=True, exist_ok=True)
    with _exclusive(folder / f".{video.stem}.lock"):
        if video.is_file() and labels_path_for(video).is_file():
            return video  # another process rendered it while this one waited
        tmp = folder / f".tmp-{os.getpid()}-{video.stem}"
        tmp.mkdir(parents=True, exist_ok=True)
        try:
            render_scenario(name, tmp / video.name, fps=fps, seed=seed, width=width,
                            height=height, camera=camera)
            os.replace(labels_path_for(tmp / video.name), labels_path_for(video))
            os.replace(tmp / video.name, video)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return video


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (released when the process dies, too); without
    ``fcntl`` (Windows) no lock: two processes may then render the same clip, both correctly."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(lock_path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def render_still(range_m: float, offset_m: float = 0.0, style: int = 0, seed: int = 0,
                 cam: PinholeCamera = PinholeCamera()) -> tuple[np.ndarray, np.ndarray]:
    """One frame with a single parked car ahead, and its true box: for checking the drawing."""
    box = vehicle_box(cam, offset_m, range_m)
    if box is None:
        raise ValueError(f"a car at {range_m} m, {offset_m} m across is not in the frame")
    return _still(cam, seed, (range_m, offset_m, style)), box


def render_empty_road(seed: int = 0, cam: PinholeCamera = PinholeCamera()) -> np.ndarray:
    """``render_still``'s frame without the car."""
    return _still(cam, seed, None)


def _still(cam: PinholeCamera, seed: int, car: tuple[float, float, int] | None) -> np.ndarray:
    canvas, to_cam = cam.level_canvas()
    world = World(canvas, seed)
    img = world.render(0.0)
    if car is not None:
        draw_vehicle(img, canvas, car[1], car[0], car[2])
    img = _through_mount(img, cam, canvas, to_cam)
    return world.finish(img, np.random.default_rng([seed, 1]))
