"""Traffic lights: how well fcw reads the light that governs the ego lane, per clip.

Figures, over the frames whose label gives a light state (``light`` not null):

* ``accuracy``: the share of frames where fcw's state equals the label (debounce lag included:
  fcw reports what it would have said at that frame);
* ``recall``: per labelled state, the share of its frames fcw called that state;
* ``green_while_red``: frames labelled red that fcw called green, the dangerous confusion;
* ``heads``: of the head boxes labelled (class ``traffic light``), the share fcw found lit, by
  head height in pixels of the frame fcw was given (``HEAD_BANDS_PX``: what the finders have to
  work with; ``replay_clip(..., scale=0.5)`` shrinks a clip's frames to try smaller heads). A
  labelled head is found when a lit head's centre lies within half its height of the label's
  centre and the heights agree within a factor of two: heads are a few pixels wide, so IoU would
  judge the labeller's hand more than the finder.

Each figure is given for all labelled frames and, where the labels split their frames
(``split``: "tune" / "heldout"), for each part, so that a threshold tuned on one part is
judged on the other.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fcw.eval.dataset import resolve_video
from fcw.eval.runner import ClipRun
from fcw.labels import BoxLabel, ClipLabels
from fcw.sources import open_source
from fcw.sources.images import IMAGE_SUFFIXES, read_image
from fcw.types import Event, Frame

LIGHT_CLASS = "traffic light"
STILL_S = 1.0  # how long a labelled still image is shown to the lights stage
# Head height bands (px in the frame): 6-40 px heads at 1280x720 must be found.
HEAD_BANDS_PX = {"6-12": (0.0, 12.0), "12-20": (12.0, 20.0), "20-40": (20.0, 40.0),
                 "40+": (40.0, float("inf"))}


@dataclass(frozen=True)
class LightOutput:
    """fcw's light reading of one frame: state (a LightState value) and heads_xyxy (N, 4), the
    lit heads it found (pixels)."""

    state: str
    heads_xyxy: np.ndarray

    def __post_init__(self) -> None:
        if np.shape(self.heads_xyxy)[1:] != (4,):
            raise ValueError("LightOutput.heads_xyxy must be (N, 4), got "
                             f"{np.shape(self.heads_xyxy)}")


def outputs_of(run: ClipRun) -> dict[int, LightOutput]:
    return {f.index: LightOutput(f.light, f.light_heads) for f in run.frames}


def heads_found(truth_xyxy: np.ndarray, found_xyxy: np.ndarray) -> np.ndarray:
    """(M,) bool: which labelled heads a found head matches (centre within half the label's
    height, heights within a factor of two)."""
    t = np.asarray(truth_xyxy, float).reshape(-1, 4)
    f = np.asarray(found_xyxy, float).reshape(-1, 4)
    if not len(t) or not len(f):
        return np.zeros(len(t), bool)
    th, fh = t[:, 3] - t[:, 1], f[:, 3] - f[:, 1]
    tc, fc = (t[:, :2] + t[:, 2:]) / 2, (f[:, :2] + f[:, 2:]) / 2
    close = np.hypot(*(tc[:, None] - fc[None]).transpose(2, 0, 1)) <= 0.5 * th[:, None]
    ratio = fh[None] / th[:, None]
    return (close & (ratio >= 0.5) & (ratio <= 2.0)).any(1)


def _band(height_px: float) -> str:
    return next(b for b, (lo, hi) in HEAD_BANDS_PX.items() if lo <= height_px < hi)


def _figures(pairs: Sequence[tuple[str, str]], heads: Sequence[tuple[str, bool]]) -> dict[str, Any]:
    correct = sum(t == g for t, g in pairs)
    by_truth = Counter(t for t, _ in pairs)
    recall = {s: round(sum(t == g == s for t, g in pairs) / n, 4)
              for s, n in sorted(by_truth.items())}
    bands = {b: [ok for band, ok in heads if band == b] for b in HEAD_BANDS_PX}
    return {
        "n": len(pairs),
        "accuracy": round(correct / len(pairs), 4) if pairs else None,
        "recall": recall,
        "green_while_red": sum(t == "red" and g == "green" for t, g in pairs),
        # "truth->fcw": frames, to show which confusions there are.
        "confusion": {f"{t}->{g}": n for (t, g), n in sorted(Counter(pairs).items())},
        "heads": {b: {"n": len(v), "recall": round(sum(v) / len(v), 4) if v else None}
                  for b, v in bands.items()},
    }


def evaluate_clip_lights(labels: ClipLabels, outputs: Mapping[int, LightOutput]) -> dict[str, Any]:
    """All figures of one clip, overall and per split."""
    rows = []  # (split, (truth, fcw), [(band, found)])
    for fl in labels.frames:
        out = outputs.get(fl.frame)
        if out is None:
            continue
        truth = np.array([b.xyxy for b in fl.boxes if b.cls == LIGHT_CLASS], float).reshape(-1, 4)
        found = heads_found(truth, out.heads_xyxy)
        heads = [(_band(float(h)), bool(ok)) for h, ok in zip(truth[:, 3] - truth[:, 1], found)]
        pair = [(fl.light.lower(), out.state)] if fl.light is not None else []
        rows.append((getattr(fl, "split", None), pair, heads))
    result = _figures([p for _, ps, _ in rows for p in ps], [h for _, _, hs in rows for h in hs])
    splits = sorted({s for s, _, _ in rows if s is not None})
    result["splits"] = {s: _figures([p for r, ps, _ in rows if r == s for p in ps],
                                    [h for r, _, hs in rows if r == s for h in hs]) for s in splits}
    return result


def _merge(per_clip: Iterable[dict[str, Any]]
           ) -> tuple[list[tuple[str, str]], list[tuple[str, bool]]]:
    pairs: list[tuple[str, str]] = []
    heads: list[tuple[str, bool]] = []
    for c in per_clip:
        for key, n in c["confusion"].items():
            t, g = key.split("->")
            pairs += [(t, g)] * n
        for b, h in c["heads"].items():
            found = round((h["recall"] or 0.0) * h["n"])
            heads += [(b, True)] * found + [(b, False)] * (h["n"] - found)
    return pairs, heads


def summarize(per_clip: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """Figures over all clips (``n``, ``accuracy``, ...) with the per-clip ones under ``clips``;
    the splits summed over the clips under ``splits``."""
    out = _figures(*_merge(per_clip.values()))
    splits = sorted({s for c in per_clip.values() for s in c["splits"]})
    out["splits"] = {s: _figures(*_merge(c["splits"][s] for c in per_clip.values()
                                         if s in c["splits"])) for s in splits}
    out["clips"] = dict(per_clip)
    return out


def evaluate_lights(runs: Sequence[ClipRun]) -> dict[str, Any]:
    return summarize({r.clip.name: evaluate_clip_lights(r.clip.labels, outputs_of(r))
                      for r in runs})


def scaled_labels(labels: ClipLabels, scale: float) -> ClipLabels:
    """The labels of the clip with its frames resized by ``scale`` (boxes and frame size)."""
    if scale == 1.0:
        return labels
    def box(b: BoxLabel) -> BoxLabel:
        x1, y1, x2, y2 = b.xyxy
        return replace(b, xyxy=(x1 * scale, y1 * scale, x2 * scale, y2 * scale))

    frames = tuple(replace(f, boxes=tuple(box(b) for b in f.boxes)) for f in labels.frames)
    return replace(labels, width=round(labels.width * scale), height=round(labels.height * scale),
                   frames=frames)


def _resized(frames: Iterable[Frame], scale: float) -> Iterator[Frame]:
    for f in frames:
        size = (round(f.width * scale), round(f.height * scale))
        yield f if scale == 1.0 else Frame(f.index, f.t_s, cv2.resize(f.image, size,
                                                                       interpolation=cv2.INTER_AREA))


def replay_clip(labels_path: Path, labels: ClipLabels, detector: Any, stage: Any,
                data_roots: Sequence[Path], max_frames: int | None = None, scale: float = 1.0
                ) -> dict[int, LightOutput]:
    """The detector and the lights stage over a labelled clip's frames (the first
    ``max_frames``; None: all), resized by ``scale`` (judge them with ``scaled_labels``). A
    still image (one labelled frame) is shown for ``STILL_S`` at the labels' fps and judged on
    its last frame: the state that fcw settles on, not its first frame's, which the debounce
    holds back."""
    video = resolve_video(labels_path, labels, data_roots)
    if video.is_file() and video.suffix.lower() in IMAGE_SUFFIXES:
        image = read_image(video)
        n = max(1, round(STILL_S * labels.fps))
        frames = (Frame(i, i / labels.fps, image) for i in range(n))
        outputs, _ = replay_lights(_resized(frames, scale), detector, stage)
        return {labels.frames[0].frame: outputs[n - 1]}
    with open_source(str(video), folder_fps=labels.fps) as source:
        return replay_lights(_resized(islice(source, max_frames), scale), detector, stage)[0]


def replay_lights(frames: Iterable[Frame], detector: Any, stage: Any
                  ) -> tuple[dict[int, LightOutput], list[Event]]:
    """The detector and the lights stage alone over ``frames`` (no tracker, no risk): the light
    figures of a clip in a fraction of a full run, for tests and tuning."""
    outputs: dict[int, LightOutput] = {}
    events: list[Event] = []
    for frame in frames:
        light, ev = stage.update(frame, detector.update(frame))
        outputs[frame.index] = LightOutput(light.state.value, light.heads_xyxy)
        events += ev
    return outputs, events


def light_figures(report: Mapping[str, Any]) -> dict[str, tuple[float, str]]:
    """The light figures the regression floors hold: ``name -> (value, "min" | "max")``, over
    all clips and per clip; figures that could not be measured are left out."""
    out: dict[str, tuple[float, str]] = {}
    parts = [("lights", report)] + [(f"lights.{n}", c) for n, c in report["clips"].items()]
    for prefix, r in parts:
        if r["n"]:
            out[f"{prefix}.accuracy"] = (r["accuracy"], "min")
            out[f"{prefix}.green_while_red"] = (float(r["green_while_red"]), "max")
    for band, h in report["heads"].items():
        if h["n"]:
            out[f"lights.heads.{band}.recall"] = (h["recall"], "min")
    return out


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1%}"


def light_markdown(report: Mapping[str, Any]) -> list[str]:
    """The report's traffic-light section: a row per clip (and per split), then head recall."""
    if not report["n"]:
        return ["No frame has a labelled light state (n = 0)."]
    states = ("none", "red", "yellow", "green")
    lines = ["| clip | frames | state accuracy | " + " | ".join(f"{s} recall" for s in states)
             + " | green while red |", "|---|---|---|" + "---|" * len(states) + "---|"]
    rows = [(n, c) for n, c in report["clips"].items() if c["n"]]
    rows += [(f"{n} ({s})", c["splits"][s]) for n, c in report["clips"].items()
             for s in c["splits"] if c["splits"][s]["n"]]
    rows += [("all", report)] + [(f"all ({s})", v) for s, v in report["splits"].items()]
    for name, c in rows:
        lines.append(f"| {name} | {c['n']} | {_pct(c['accuracy'])} | "
                     + " | ".join(_pct(c["recall"].get(s)) for s in states)
                     + f" | {c['green_while_red']} |")
    heads = list(report["heads"].values())
    lines += ["", "| head height (px) | " + " | ".join(HEAD_BANDS_PX) + " |",
              "|---|" + "---|" * len(HEAD_BANDS_PX),
              "| labelled heads | " + " | ".join(str(h["n"]) for h in heads) + " |",
              "| found lit | " + " | ".join(_pct(h["recall"]) for h in heads) + " |"]
    return lines
