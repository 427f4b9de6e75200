"""The annotated video: every processed frame, drawn, at the source's frame rate."""
from __future__ import annotations

from pathlib import Path

import cv2

from fcw.errors import FcwError
from fcw.types import FrameResult

from .annotate import annotate
from .base import Sink


class VideoRecorder(Sink):
    def __init__(self, path: Path, fps: float, class_names: tuple[str, ...]) -> None:
        self.path = Path(path)
        self.fps = fps
        self.class_names = class_names
        self._writer: cv2.VideoWriter | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FcwError(f"{self.path}: cannot create folder ({exc.strerror})") from None

    def _open(self, width: int, height: int) -> cv2.VideoWriter:
        fourcc = cv2.VideoWriter_fourcc(*("mp4v" if self.path.suffix.lower() in (".mp4", ".m4v", ".mov") else "MJPG"))
        writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (width, height))
        if not writer.isOpened():
            raise FcwError(f"{self.path}: cannot open a video writer for it")
        return writer

    def write(self, result: FrameResult) -> None:
        if self._writer is None:
            self._writer = self._open(result.frame.width, result.frame.height)
        self._writer.write(annotate(result, self.class_names))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
