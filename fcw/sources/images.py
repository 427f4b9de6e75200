"""A folder or glob of still images as a frame source, at a stated frame rate.

An image that cannot be read (truncated, not an image at all) is skipped with a warning and a
``frames_skipped`` event, so one bad file does not end a long replay; a sequence in which no image
at all can be read is an error.
"""
from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from fcw.errors import SourceError
from fcw.sources.base import FrameSource
from fcw.types import Event, Frame

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})

_DIGITS = re.compile(r"(\d+)")


def natural_key(path: Path) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders ``img2`` before ``img10`` (numbers compare as numbers)."""
    # Each part is tagged so that a number and a text never get compared with each other.
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part.lower())
        for part in _DIGITS.split(str(path))
        if part
    )


def read_image(path: Path) -> np.ndarray:
    """Decode an image as BGR; the one place where an unreadable image is decided about."""
    try:
        # np.fromfile + imdecode instead of imread: imread cannot open non-ASCII paths on Windows.
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise SourceError(f"cannot read image: {path} ({exc.strerror or exc})") from exc
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise SourceError(f"cannot read image: {path}")
    return image


class ImageSequenceSource(FrameSource):
    """Images in the given order, one frame each, with ``t_s = index / fps``."""

    def __init__(self, paths: Sequence[Path], fps: float, name: str) -> None:
        super().__init__(name)
        if not paths:
            raise SourceError(f"no images in source: {self.name}")
        if not fps > 0:
            raise SourceError(f"frame rate must be > 0 for image source {self.name}, got {fps}")
        self._paths = [Path(p) for p in paths]
        self._fps = float(fps)
        self._closed = False

    @classmethod
    def from_folder(cls, folder: str | os.PathLike[str], fps: float) -> ImageSequenceSource:
        """Every .jpg/.jpeg/.png/.bmp directly in ``folder``, in natural name order."""
        root = Path(folder)
        if not root.is_dir():
            raise SourceError(f"source not found: {root}")
        paths = [p for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        if not paths:
            raise SourceError(f"no .jpg/.jpeg/.png/.bmp images in folder: {root}")
        return cls(sorted(paths, key=natural_key), fps, str(root))

    @classmethod
    def from_glob(cls, pattern: str, fps: float) -> ImageSequenceSource:
        """Every file matching ``pattern`` (``**`` recurses), in natural path order."""
        # The user chose the pattern, so matches are not filtered by suffix; a non-image among
        # them is skipped when it is read, naming the file.
        paths = [Path(p) for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)]
        if not paths:
            raise SourceError(f"no files match pattern: {pattern}")
        return cls(sorted(paths, key=natural_key), fps, pattern)

    @property
    def paths(self) -> list[Path]:
        return list(self._paths)

    @property
    def fps(self) -> float:
        return self._fps

    @property
    def frame_count(self) -> int:
        return len(self._paths)

    def __iter__(self) -> Iterator[Frame]:
        read = 0
        for index, path in enumerate(self._paths):
            if self._closed:
                return
            try:
                image = read_image(path)
            except SourceError as exc:
                log.warning("%s; skipped", exc)
                self._emit(Event("frames_skipped", index / self._fps, index,
                                 {"source": self.name, "count": 1, "path": str(path),
                                  "reason": "cannot read image"}))
                continue
            read += 1
            yield Frame(index, index / self._fps, image)
        if not read and not self._closed:
            raise SourceError(f"no readable image in {self.name}")

    def close(self) -> None:
        self._closed = True
