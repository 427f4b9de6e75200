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
from fcw.types import Event, Frame

log = logging.getLogger(__name__)

# Frame period assumed when a container states no usable frame rate and no usable timestamps.
_FALLBACK_FPS = 30.0
# A damaged stretch up to this long is skipped; past it the file is taken to end there.
_MAX_SKIP_S = 10.0
# Frames past the first unreadable one where reading is tried again: the next few one by one,
# then doubling, so that a long damaged stretch costs a dozen seeks, not one per frame.
_SKIP_OFFSETS = (1, 2, 3, *(2 ** i for i in range(2, 16)))
_COUNT_SLACK = 2


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
        if self._path.stat().st_size == 0:
            raise SourceError(f"cannot open video file (it is empty): {self._path}")
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
        self._first: Frame | None = Frame(0, self._media_time(0), image)

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

    def seek(self, index: int) -> None:
        """Make frame ``index`` (clamped to the clip) the next one delivered: a replay's jump.

        Only when reading every frame: a paced (realtime) source follows its clock, not a position.
        Frame times stay the file's, so after a backward seek ``t_s`` goes back too.
        """
        if self.live:
            raise RuntimeError(f"a realtime video source cannot seek: {self.name}")
        last = (self._frame_count or index + 1) - 1
        index = max(0, min(index, last))
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        self._index = index - 1
        self._last_t_s = -math.inf  # the next timestamp may be earlier than the last one
        if not self._started:
            self._first = self._next_frame(None)

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
            if self._closed or not self._grab():
                return None
            t_s = self._media_time(self._index)
            if start is not None and self._superseded(start, t_s):
                self._dropped += 1
                continue
            ok, image = self._cap.retrieve()
            if not ok or image is None:
                self._skipped(self._index, 1, "cannot be decoded; skipped")
                continue
            return Frame(self._index, t_s, image)

    def _grab(self) -> bool:
        """Advance to the next frame that can be read; False at the end of the file.

        OpenCV stops at the first packet it cannot decode, so a damaged stretch of a recording is
        stepped over by seeking past it (up to ``_MAX_SKIP_S`` of video, in a few seeks), and a
        file cut short by a power cut ends where it was cut; both are reported as skipped frames.
        """
        first_bad = self._index + 1
        if self._cap.grab():
            self._index = first_bad
            return True
        total = self._frame_count
        # A frame count estimated from the duration can overshoot the real end by a frame or two.
        if total is None or total - first_bad <= _COUNT_SLACK:
            return False
        limit = min(total - first_bad, max(10, round(_MAX_SKIP_S / self._period_s)))
        bad = 0  # the largest offset known unreadable
        for offset in _SKIP_OFFSETS:
            if offset >= limit:
                break
            if not self._grab_at(first_bad + offset):
                bad = offset
                continue
            # Readable again somewhere in (bad, offset]: a seek decodes from the keyframe before
            # its target, through the damage if it lies between, so bisect for the first one.
            good = offset
            while good - bad > 1:
                mid = (bad + good) // 2
                bad, good = (bad, mid) if self._grab_at(first_bad + mid) else (mid, good)
            # The bisection moved the capture: take it back to the frame to deliver.
            if not self._grab_at(first_bad + good):
                continue  # damage not in one piece, as the bisection assumes: look further
            self._skipped(first_bad, good, "cannot be decoded; skipped")
            self._index = first_bad + good
            return True
        self._skipped(first_bad, total - first_bad,
                      "cannot be decoded; the file ends there (truncated or damaged)")
        return False

    def _grab_at(self, index: int) -> bool:
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        return self._cap.grab()

    def _skipped(self, index: int, count: int, reason: str) -> None:
        log.warning("video file %s: %d frame(s) from frame %d %s", self.name, count, index,
                    reason)
        # The skipped frames have no timestamp: the time one period after the last good frame.
        self._emit(Event("frames_skipped", max(self._last_t_s, 0.0) + self._period_s, index,
                         {"source": self.name, "count": count, "reason": reason}))

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


class LoopedVideoSource(FrameSource):
    """A video file played again and again (``times`` times, None: until closed), index and time
    running on across the joins: hours of driving from a short clip, for soak runs."""

    def __init__(self, path: str | os.PathLike[str], times: int | None = None) -> None:
        self._path = Path(path)
        super().__init__(f"{self._path} (looped)")
        self._current = VideoFileSource(self._path)  # opened now: a bad file fails at start-up
        self._times = times
        self._closed = False

    @property
    def fps(self) -> float | None:
        return self._current.fps

    @property
    def frame_count(self) -> int | None:
        count = self._current.frame_count
        return count * self._times if count and self._times else None

    def __iter__(self) -> Iterator[Frame]:
        t0, i0, loop = 0.0, 0, 0
        period = 1.0 / (self.fps or _FALLBACK_FPS)
        while not self._closed and (self._times is None or loop < self._times):
            if loop:
                self._current = VideoFileSource(self._path)
            # Its skipped frames are this source's, on this source's running index and time.
            def shifted(e: Event, t0: float = t0, i0: int = i0) -> None:
                self._emit(Event(e.type, t0 + e.t_s, i0 + e.frame, e.fields))

            self._current.events_to(shifted)
            last = None
            with self._current:
                for frame in self._current:
                    last = frame
                    yield Frame(i0 + frame.index, t0 + frame.t_s, frame.image)
            if last is None:
                return
            t0, i0, loop = t0 + last.t_s + period, i0 + last.index + 1, loop + 1

    def close(self) -> None:
        self._closed = True
        self._current.close()
