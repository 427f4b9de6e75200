"""Finding the labelled clips of a dataset.

A DATASET argument is one of:

* a video ``clip.mp4`` with its labels beside it in ``clip.labels.json``;
* a label file ``*.labels.json``; its ``video`` is looked up relative to the label file, then
  under each data root (``--data-root``, default ``$FCW_SHARED_DIR`` or ``../shared`` beside the
  repository), so labels for third-party clips can live in ``tests/data/`` and name the video by
  its path inside ``shared/`` without the video ever being copied into the repository; the
  ``video`` may also be a folder of images (frame N = the N-th image in natural name order, as
  ``fcw run --source DIR`` reads it);
* a folder: every ``*.labels.json`` under it, in name order;
* a scenario name (``fcw render --list``) or ``all``: rendered into a temporary folder first.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fcw.eval import EvalError
from fcw.labels import LABELS_SUFFIX, ClipLabels, labels_path_for, load_labels

_REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Clip:
    name: str
    video: Path
    labels_path: Path
    labels: ClipLabels


def default_data_roots() -> list[Path]:
    shared = os.environ.get("FCW_SHARED_DIR")
    return [Path(shared)] if shared else [_REPO_ROOT.parent / "shared"]


def resolve_video(labels_path: Path, labels: ClipLabels, data_roots: Sequence[Path]) -> Path:
    candidates = [labels_path.parent / labels.video, *(Path(r) / labels.video for r in data_roots)]
    for c in candidates:
        if c.is_file() or c.is_dir():
            return c
    roots = ", ".join(str(r) for r in data_roots) or "(none)"
    raise EvalError(f"{labels_path}: video: {labels.video!r} not found beside the label file "
                    f"or under the data roots {roots} (set --data-root or FCW_SHARED_DIR)")


def _clip(labels_path: Path, data_roots: Sequence[Path]) -> Clip:
    labels = load_labels(labels_path)
    name = labels_path.name[:-len(LABELS_SUFFIX)] if labels_path.name.endswith(LABELS_SUFFIX) \
        else labels_path.stem
    return Clip(name, resolve_video(labels_path, labels, data_roots), labels_path, labels)


def _render(names: Sequence[str], workdir: Path) -> list[Clip]:
    from fcw.scenarios.render import render_scenario  # heavy: only when a scenario is asked for

    clips = []
    for name in names:
        video = workdir / f"{name}.mp4"
        labels = render_scenario(name, video, fps=30.0, seed=0)
        clips.append(Clip(name, video, labels_path_for(video), labels))
    return clips


def find_clips(items: Sequence[str], workdir: Path,
               data_roots: Sequence[Path] | None = None) -> list[Clip]:
    """The clips named by the DATASET arguments; ``workdir`` receives rendered scenarios."""
    from fcw.scenarios.kinematics import SCENARIOS

    roots = default_data_roots() if data_roots is None else list(data_roots)
    clips: list[Clip] = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(path.rglob(f"*{LABELS_SUFFIX}"))
            if not found:
                raise EvalError(f"{path}: no *{LABELS_SUFFIX} files in this folder")
            clips += [_clip(p, roots) for p in found]
        elif path.is_file() and path.name.endswith(LABELS_SUFFIX):
            clips.append(_clip(path, roots))
        elif path.is_file():
            labels_path = labels_path_for(path)
            if not labels_path.is_file():
                raise EvalError(f"{path}: no label file beside it (expected {labels_path.name})")
            clip = _clip(labels_path, roots)
            clips.append(Clip(clip.name, path, labels_path, clip.labels))
        elif item in SCENARIOS or item == "all":
            clips += _render(list(SCENARIOS) if item == "all" else [item], workdir)
        else:
            raise EvalError(f"{item}: no such file, folder or scenario (see fcw render --list)")
    names = [c.name for c in clips]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise EvalError(f"two clips are named {dup!r}; each clip's name must be unique")
    return clips
