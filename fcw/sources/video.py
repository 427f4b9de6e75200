"""A video file as a frame source: every frame in order, or paced like a live camera."""
from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2

from fcw.errors import SourceError
from fcw.sources.base import FrameSource
from fcw.types import Frame

log = logging.getLogger(__name__)

# Frame period assumed when a container states no usable frame rate and no usable timestamps.
_FALLBACK_FPS = 30.0


class VideoFileSource(FrameSource):
    """Frames of a video file, with the container's media time as ``Frame.t_s``.

    By default every frame is delivered, in order, and the result is deterministic. With
    ``realtime=True`` frames are released at the clip's own pace against ``clock``; when the
    consumer falls behind, frames whose successor is already due are grabbed without decoding
    and counted in ``dropped``, as a live camera would lose them. ``Frame.index`` stays the
    frame's position in the file, so the gaps show the drops.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        realtime: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._path = Path(path)
        super().__init__(str(self._path))
        if not self._path.is_file():
            raise SourceError(f"source not found: {self._path}")
        self.live = realtime
        self._clock = clock
        self._sleep = sleep
        self._dropped = 0
        self._started = False
        self._closed = False
        self._use_pts = True
        self._pts0_s: float | None = None
        self._last_t_s = 0.0
        self._index = 0

        self._cap = cv2.VideoCapture(str(self._path))
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(f"cannot open video file: {self._path}")
        # Read the first frame now so that a file OpenCV opens but cannot decode fails here, at
        # start-up, and not in the middle of a run.
        ok, image = self._cap.read()
        if not ok or image is None:
            self._cap.release()
            raise SourceError(f"cannot open video file (no frame could be read): {self._path}")
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        self._fps = float(fps) if math.isfinite(fps) and fps > 0 else None
        count = self._cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self._frame_count = int(count) if math.isfinite(count) and count > 0 else None
        self._period_s = 1.0 / (self._fps or _FALLBACK_FPS)
        self._first = Frame(0, self._media_time(0), image)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def frame_count(self) -> int | None:
        return self._frame_count

    @property
    def dropped(self) -> int:
        return self._dropped

    def __iter__(self) -> Iterator[Frame]:
        if self._started:
            raise RuntimeError(f"a video file source is iterated only once: {self.name}")
        self._started = True
        return self._frames()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._cap.release()

    def _frames(self) -> Iterator[Frame]:
        frame: Frame | None = self._first
        start: float | None = None  # clock reading at which media time 0 is due (realtime only)
        while frame is not None and not self._closed:
            if self.live:
                now = self._clock()
                if start is None:
                    start = now - frame.t_s
                due = start + frame.t_s
                if now < due:
                    self._sleep(due - now)
            yield frame
            frame = self._next_frame(start)

    def _next_frame(self, start: float | None) -> Frame | None:
        while True:
            if self._closed or not self._cap.grab():
                return None
            self._index += 1
            t_s = self._media_time(self._index)
            if start is not None and self._superseded(start, t_s):
                self._dropped += 1
                continue
            ok, image = self._cap.retrieve()
            if not ok or image is None:
                # A recording truncated by a power cut in the car ends here: its end, not a crash.
                log.warning("video file %s: frame %d cannot be decoded; ending there", self.name,
                            self._index)
                return None
            return Frame(self._index, t_s, image)

    def _superseded(self, start: float, t_s: float) -> bool:
        """True when the frame after this one is already due: a live camera would have lost it."""
        is_last = self._frame_count is not None and self._index >= self._frame_count - 1
        return not is_last and self._clock() >= start + t_s + self._period_s

    def _media_time(self, index: int) -> float:
        """Seconds since the first frame from the container's timestamps, else index / fps.

        After grab()/read(), OpenCV's CAP_PROP_POS_MSEC is the presentation time of the frame
        just read (0 for the first). Once a timestamp is unusable (missing, negative, not
        increasing) the whole rest of the clip uses index / fps, so the times stay on one scale.
        """
        t_s = self._pts_s(index) if self._use_pts else None
        if t_s is None:
            self._use_pts = False
            t_s = index * self._period_s
            if index > 0 and t_s <= self._last_t_s:
                t_s = self._last_t_s + self._period_s
        self._last_t_s = t_s
        return t_s

    def _pts_s(self, index: int) -> float | None:
        ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
        if not math.isfinite(ms) or ms < 0:
            return None
        if self._pts0_s is None:
            self._pts0_s = ms / 1000.0
        t_s = ms / 1000.0 - self._pts0_s
        if index > 0 and t_s <= self._last_t_s:
            return None
        return t_s
