"""The real drives as other cameras would film them: warnings and cautions of ``fcw run`` on
each clip of benchmarks/real_drives.py after one image-level change (issue 16).

    FCW_SHARED_DIR=../shared python -m benchmarks.real_perturbed [--models fastestdet,yolox_nano]
        [--perturbations mirror,dusk,...] [--cache DIR]

Eight sources are few next to the dashcams fcw will meet. Each perturbation stands for a camera or
a condition the drives lack, made from the same real footage, which still holds no collision
threat: a change of the image cannot make one. So any warning here is a false one.

- ``mirror``: flipped left to right (traffic on the left; overtakes from the other side).
- ``dusk``: a third of the light, gamma 1.4, and the sensor noise that comes with it (sigma 6
  grey levels, seeded).
- ``rolled``: rotated 3 degrees about the centre and zoomed 8% to hide the corners (a mount
  rolled further than the rendered windscreen mount's 1 degree).
- ``pitched``: the top 12% of the frame cut away, so the horizon sits higher in the frame (a
  camera pitched down).
- ``tele``: the central 70% of the frame, scaled back up (a narrower lens: far cars larger).
- ``low_res``: half the width and height (a cheap dashcam's stream).
- ``half_rate``: every other frame, at half the frame rate (a camera at 12-15 fps).
- ``blur``: a Gaussian blur of sigma 1.5 px at 1280 px wide (rain, a dirty windscreen).

Those eight were run before fcw was changed for them: three of their 128 runs warned (the
far-speck and flat-box checks of fcw/risk/plausibility.py were designed on those three), so they
are "looked at". Four more were made only after that change and run once, "held out":

- ``rolled_ccw``: rotated 3 degrees the other way, zoomed 8%.
- ``pitched_up``: the bottom 12% cut away (the horizon sits lower: a camera pitched up).
- ``tele_more``: the central 55%, scaled back up.
- ``night_noise``: a fifth of the light, gamma 1.6, noise of sigma 10.

The perturbed clips are written once (video: MPEG-4 Part 2 at the source's rate, which adds
its own compression; image folders: JPEG quality 90) into ``--cache`` and then run like the
real drives (benchmarks/real_drives.py: the default configuration but for the detector and the
light stage). The README's figure is this script's table
(``python -m benchmarks.readme write real_perturbed``).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.real_drives import (
    CLIPS,
    MODELS,
    ROOT,
    DriveClip,
    counts,
    fcw_run_source,
    shared_dir,
)

Image = np.ndarray


def _mirror(img: Image, rng: np.random.Generator) -> Image:
    return cv2.flip(img, 1)


def _dusk(img: Image, rng: np.random.Generator) -> Image:
    x = (img.astype(np.float32) / 255.0) ** 1.4 * (255.0 / 3.0)
    x += rng.normal(0.0, 6.0, img.shape).astype(np.float32)
    return np.clip(x, 0, 255).astype(np.uint8)


def _rolled(img: Image, rng: np.random.Generator) -> Image:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 3.0, 1.08)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


def _pitched(img: Image, rng: np.random.Generator) -> Image:
    h = img.shape[0]
    return img[int(round(0.12 * h)):].copy()


def _centre_zoom(img: Image, frac: float) -> Image:
    """The central ``frac`` of the frame, scaled back up: a lens 1 / frac times longer."""
    h, w = img.shape[:2]
    ch, cw = int(round(frac * h)), int(round(frac * w))
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return cv2.resize(img[y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_LINEAR)


def _tele(img: Image, rng: np.random.Generator) -> Image:
    return _centre_zoom(img, 0.7)


def _low_res(img: Image, rng: np.random.Generator) -> Image:
    h, w = img.shape[:2]
    return cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)


def _blur(img: Image, rng: np.random.Generator) -> Image:
    sigma = 1.5 * img.shape[1] / 1280.0
    return cv2.GaussianBlur(img, (0, 0), sigma)


def _same(img: Image, rng: np.random.Generator) -> Image:
    return img


def _rolled_ccw(img: Image, rng: np.random.Generator) -> Image:
    return cv2.flip(_rolled(cv2.flip(img, 1), rng), 1)


def _pitched_up(img: Image, rng: np.random.Generator) -> Image:
    h = img.shape[0]
    return img[:h - int(round(0.12 * h))].copy()


def _tele_more(img: Image, rng: np.random.Generator) -> Image:
    return _centre_zoom(img, 0.55)


def _night_noise(img: Image, rng: np.random.Generator) -> Image:
    x = (img.astype(np.float32) / 255.0) ** 1.6 * (255.0 / 5.0)
    x += rng.normal(0.0, 10.0, img.shape).astype(np.float32)
    return np.clip(x, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Perturbation:
    """``change``: one frame to its perturbed copy (``rng`` seeded per clip); ``step``: keep
    every step-th frame, at the rate divided by it; ``half``: "looked at" or "held out" (see the
    module's docstring)."""

    name: str
    change: Callable[[Image, np.random.Generator], Image]
    step: int = 1
    half: str = "looked at"


PERTURBATIONS = (
    Perturbation("mirror", _mirror),
    Perturbation("dusk", _dusk),
    Perturbation("rolled", _rolled),
    Perturbation("pitched", _pitched),
    Perturbation("tele", _tele),
    Perturbation("low_res", _low_res),
    Perturbation("half_rate", _same, step=2),
    Perturbation("blur", _blur),
    Perturbation("rolled_ccw", _rolled_ccw, half="held out"),
    Perturbation("pitched_up", _pitched_up, half="held out"),
    Perturbation("tele_more", _tele_more, half="held out"),
    Perturbation("night_noise", _night_noise, half="held out"),
)


def _frames(source: Path) -> tuple[Iterator[Image], float | None]:
    """A clip's frames as ``fcw run`` reads them (fcw/sources/) and its frame rate (None for an
    image folder, which plays at --fps)."""
    from fcw.sources.factory import open_source
    from fcw.sources.images import ImageSequenceSource

    src = open_source(str(source))
    rate = None if isinstance(src, ImageSequenceSource) else src.fps
    if rate is None and not isinstance(src, ImageSequenceSource):
        raise RuntimeError(f"{source}: the container gives no frame rate")

    def read() -> Iterator[Image]:
        with src:
            yield from (frame.image for frame in src)
    return read(), rate


def perturbed_clip(clip: DriveClip, p: Perturbation, cache: Path) -> tuple[Path, tuple[str, ...]]:
    """Writes ``clip`` perturbed by ``p`` under ``cache`` (once) and returns the source to give
    ``fcw run`` and its extra arguments."""
    source = shared_dir() / "data" / clip.rel
    rng = np.random.default_rng(sum(map(ord, clip.name)))
    extra = clip.extra
    if source.is_dir():  # an image folder, at its --fps (10 Hz unless the clip says)
        fps = float(extra[extra.index("--fps") + 1]) if "--fps" in extra else 10.0
        out = cache / p.name / clip.name
        extra = ("--fps", f"{fps / p.step:g}")
        if not (out / "done").exists():
            out.mkdir(parents=True, exist_ok=True)
            frames, _ = _frames(source)
            for i, img in enumerate(frames):
                if i % p.step == 0:
                    cv2.imwrite(str(out / f"{i:06d}.jpg"), p.change(img, rng),
                                [cv2.IMWRITE_JPEG_QUALITY, 90])
            (out / "done").touch()
        return out, extra
    out = cache / p.name / f"{clip.name}.mp4"
    if not out.exists():
        frames, rate = _frames(source)
        assert rate is not None  # _frames gives a video its container's rate or raises
        out.parent.mkdir(parents=True, exist_ok=True)
        part = out.with_suffix(".part.mp4")
        writer = None
        for i, img in enumerate(frames):
            if i % p.step:
                continue
            img = p.change(img, rng)
            if writer is None:
                writer = cv2.VideoWriter(str(part), cv2.VideoWriter.fourcc(*"mp4v"),
                                         rate / p.step, (img.shape[1], img.shape[0]))
            writer.write(img)
        if writer is None:
            raise RuntimeError(f"{source}: no frames")
        writer.release()
        part.rename(out)
    return out, extra


def run_cell(p: Perturbation, clip: DriveClip, model: str, cache: Path) -> dict[str, int]:
    """``fcw run`` on ``clip`` perturbed by ``p`` with ``model``: frames, warnings, cautions."""
    from fcw.sinks.events import read_events

    source, extra = perturbed_clip(clip, p, cache)
    with tempfile.TemporaryDirectory(prefix="fcw-perturbed-") as tmp:
        proc = fcw_run_source(source, extra, model, Path(tmp))
        if proc.returncode != 0:
            raise RuntimeError(f"{p.name} {clip.name} with {model}: fcw run failed: "
                               f"{proc.stderr.strip()[-500:]}")
        return counts(list(read_events(Path(tmp) / "events.jsonl")))


def measure(models: tuple[str, ...] = MODELS,
            perturbations: tuple[Perturbation, ...] = PERTURBATIONS,
            clips: tuple[DriveClip, ...] = CLIPS,
            cache: Path = ROOT / "out" / "real-perturbed") -> dict[str, Any]:
    """Per perturbation, clip and model: frames, warnings and cautions."""
    out: dict[str, Any] = {}
    for p in perturbations:
        for clip in clips:
            row = {"models": {model: run_cell(p, clip, model, cache) for model in models}}
            out.setdefault(p.name, {"half": p.half, "clips": {}})["clips"][clip.name] = row
            print(p.name, clip.name, row["models"], flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--perturbations", default=",".join(p.name for p in PERTURBATIONS))
    ap.add_argument("--cache", type=Path, default=ROOT / "out" / "real-perturbed")
    args = ap.parse_args()
    names = args.perturbations.split(",")
    chosen = tuple(p for p in PERTURBATIONS if p.name in names)
    print(json.dumps(measure(tuple(args.models.split(",")), chosen, cache=args.cache), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
