"""The annotated video: every processed frame, drawn, at the source's frame rate.

A browser plays H.264 in MP4 and VP8/VP9 in WebM, not the MPEG-4 Part 2 (``mp4v``) that every
OpenCV can write. pip's opencv-python-headless has no H.264 encoder (only a V4L2 hardware one,
absent on most machines), so an ``.mp4`` is written with PyAV's libx264 where PyAV is installed
(``pip install av``, in the ``video`` and ``test`` extras; 12 ms of CPU a 720p frame), else with
OpenCV's ``avc1`` where it has one, else as ``mp4v`` with a warning that says how to get H.264.
A ``.webm`` is VP9 or VP8 through OpenCV: browser-playable, but 90-300 ms of CPU a 720p frame, far
too slow to keep up with a camera. The codec written is logged and kept in
:attr:`VideoRecorder.codec`.
"""
from __future__ import annotations

import importlib.util
import logging
from fractions import Fraction
from pathlib import Path
from typing import Any, Optional, Protocol, cast

import cv2
import numpy as np

from fcw.errors import FcwError
from fcw.types import FrameResult

from .annotate import annotate
from .base import Sink

log = logging.getLogger(__name__)

# Per file suffix, the encoders tried in order, browser-playable first: "x264" is PyAV's
# libx264, the others OpenCV fourccs.
CODECS: dict[str, tuple[str, ...]] = {
    ".mp4": ("x264", "avc1", "mp4v"), ".m4v": ("x264", "avc1", "mp4v"),
    ".mov": ("x264", "avc1", "mp4v"), ".webm": ("VP80", "VP90"), ".mkv": ("x264", "avc1", "MJPG"),
    ".avi": ("MJPG",),
}
BROWSER_CODECS = frozenset({"x264", "avc1", "VP90", "VP80"})
CODEC_NAMES = {"x264": "H.264", "avc1": "H.264", "mp4v": "MPEG-4 Part 2", "VP90": "VP9",
               "VP80": "VP8", "MJPG": "Motion JPEG"}
# Fast enough to keep up with a 30 fps camera beside the pipeline on a laptop CPU.
X264_OPTIONS = {"preset": "veryfast", "crf": "23"}


class FrameWriter(Protocol):
    """What the recorder needs of a writer; cv2.VideoWriter fits."""

    def write(self, image: np.ndarray) -> None: ...

    def release(self) -> None: ...


class _PyAvH264:
    """H.264 in MP4 through PyAV's libx264, the moov atom first so a browser starts at once."""

    def __init__(self, path: Path, fps: float, size: tuple[int, int]) -> None:
        import av  # optional: only where H.264 is wanted and PyAV is installed

        self._container: Any = av.open(str(path), "w",
                                       container_options={"movflags": "+faststart"})
        try:
            rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(30)
            self._stream: Any = self._container.add_stream("libx264", rate=rate,
                                                           options=X264_OPTIONS)
            # 4:2:0 needs even sides: an odd row or column is dropped.
            self._w, self._h = size[0] - size[0] % 2, size[1] - size[1] % 2
            self._stream.width, self._stream.height = self._w, self._h
            self._stream.pix_fmt = "yuv420p"
        except BaseException:
            self._container.close()
            raise
        self._frame_type = av.VideoFrame

    def write(self, image: np.ndarray) -> None:
        frame = self._frame_type.from_ndarray(
            np.ascontiguousarray(image[:self._h, :self._w]), format="bgr24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def release(self) -> None:
        for packet in self._stream.encode(None):  # the frames the encoder still holds
            self._container.mux(packet)
        self._container.close()


def _try_writer(path: Path, codec: str, fps: float, size: tuple[int, int]
                ) -> Optional[FrameWriter]:
    if codec == "x264":
        if importlib.util.find_spec("av") is None:
            return None
        try:
            return _PyAvH264(path, fps, size)
        except Exception as exc:  # a PyAV built without libx264: the next codec's turn
            log.debug("%s: PyAV cannot write H.264 (%s)", path, exc)
            return None
    # A codec OpenCV lacks is an ERROR in its log; here it is only the next one's turn.
    logging_api = cv2.utils.logging
    level = logging_api.getLogLevel()
    logging_api.setLogLevel(logging_api.LOG_LEVEL_SILENT)
    try:
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*codec), fps, size)
    finally:
        logging_api.setLogLevel(level)
    if writer.isOpened():
        return cast(FrameWriter, writer)  # its write takes any image OpenCV takes
    writer.release()
    return None


def open_video_writer(path: Path, fps: float, size: tuple[int, int]
                      ) -> tuple[FrameWriter, str]:
    """A writer for ``path`` with the first codec of its suffix that can be written here, and
    that codec's name in :data:`CODECS`. Raises :class:`FcwError` naming the file when none can."""
    codecs = CODECS.get(path.suffix.lower(), ("MJPG",))
    for codec in codecs:
        writer = _try_writer(path, codec, fps, size)
        if writer is not None:
            if codec not in BROWSER_CODECS and any(c in BROWSER_CODECS for c in codecs):
                log.warning("%s: no H.264 encoder here (pip install av); writing %s, which "
                            "browsers do not play", path, CODEC_NAMES[codec])
            return writer, codec
    raise FcwError(f"{path}: cannot open a video writer for it (tried "
                   f"{', '.join(codecs)}; use .mp4, .webm or .avi)")


class VideoRecorder(Sink):
    def __init__(self, path: Path, fps: float, class_names: tuple[str, ...]) -> None:
        self.path = Path(path)
        self.fps = fps
        self.class_names = class_names
        self.codec: Optional[str] = None  # the fourcc written, once the first frame came
        self._writer: Optional[FrameWriter] = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FcwError(f"{self.path}: cannot create folder ({exc.strerror})") from None

    def write(self, result: FrameResult) -> None:
        if self._writer is None:
            self._writer, self.codec = open_video_writer(
                self.path, self.fps, (result.frame.width, result.frame.height))
            log.info("%s: writing %s (%s)", self.path, CODEC_NAMES[self.codec], self.codec)
        self._writer.write(annotate(result, self.class_names))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
