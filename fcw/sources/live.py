"""Cameras and network streams: a reader thread keeps only the newest frame.

A live source must never queue frames: if detection takes longer than a frame period, a queue
would make every warning later than the last. The reader thread therefore reads continuously into
a one-slot buffer, overwriting a frame the consumer has not taken yet (counted in ``dropped``),
and the consumer waits only for a frame newer than the one it got before.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

import cv2
import numpy as np

from fcw.errors import SourceError
from fcw.sources.base import FrameSource, mask_credentials
from fcw.types import Frame

log = logging.getLogger(__name__)

# How long close() waits for the reader thread; a camera's read() returns within a frame period.
_JOIN_TIMEOUT_S = 5.0
# Give up on a network stream that does not open or stops sending, instead of hanging forever.
_STREAM_TIMEOUT_MS = 10_000


def _one_line(exc: BaseException) -> str:
    """Driver messages can span lines; the user's error must not."""
    return " ".join(str(exc).split()) or type(exc).__name__


class Capture(Protocol):
    """What LiveSource needs from a capture device; cv2.VideoCapture fits."""

    def read(self) -> tuple[bool, np.ndarray | None]: ...

    def release(self) -> None: ...


class LiveSource(FrameSource):
    """Frames from a capture read by a background thread; the consumer always gets the newest.

    ``open_capture`` is called once, here, so that a device that cannot be opened fails at
    start-up with a :class:`SourceError`. ``Frame.t_s`` is ``clock()`` at capture minus ``clock()``
    at the first frame; ``Frame.index`` counts every captured frame, so gaps are drops. The
    iterator ends after the last frame once the capture reports its end.
    """

    live = True

    def __init__(
        self,
        open_capture: Callable[[], Capture],
        name: str,
        clock: Callable[[], float] = time.monotonic,
        fps: float | None = None,
    ) -> None:
        super().__init__(name)
        try:
            self._capture = open_capture()
        except SourceError:
            raise
        except Exception as exc:  # any driver error is the user's "cannot open this camera"
            raise SourceError(f"cannot open live source: {self.name} ({_one_line(exc)})") from exc
        self._clock = clock
        self._fps = fps
        self._cond = threading.Condition()
        self._slot: Frame | None = None  # newest captured frame not yet taken; guarded by _cond
        self._dropped = 0
        self._ended = False
        self._error: SourceError | None = None
        self._stop = threading.Event()
        self._close_lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(
            target=self._read_loop, name=f"fcw-live-reader[{self.name}]", daemon=True
        )
        self._thread.start()

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def dropped(self) -> int:
        with self._cond:
            return self._dropped

    def __iter__(self) -> Iterator[Frame]:
        while True:
            with self._cond:
                self._cond.wait_for(
                    lambda: self._slot is not None or self._ended or self._stop.is_set()
                )
                if self._stop.is_set():
                    return
                frame, self._slot = self._slot, None
                error = self._error
            if frame is None:
                if error is not None:
                    raise error
                return
            yield frame

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        with self._cond:
            self._cond.notify_all()  # wakes a consumer waiting in another thread
        self._thread.join(_JOIN_TIMEOUT_S)
        if self._thread.is_alive():
            # Releasing a capture while another thread is inside its read() can crash the driver,
            # so a read stuck on a dead stream keeps the capture until it returns (the stream's
            # read timeout); the daemon thread releases it then and never outlives the process.
            log.warning("live source %s: reader still blocked in read(); released when it returns",
                        self.name)

    def _read_loop(self) -> None:
        index = 0
        t0: float | None = None
        try:
            while not self._stop.is_set():
                ok, image = self._capture.read()
                now = self._clock()
                if not ok or image is None or self._stop.is_set():
                    return
                t0 = now if t0 is None else t0
                frame = Frame(index, now - t0, image)
                index += 1
                with self._cond:
                    if self._slot is not None:
                        self._dropped += 1
                    self._slot = frame
                    self._cond.notify_all()
        except Exception as exc:  # surfaced to the consumer, after the frames it still has
            with self._cond:
                self._error = SourceError(f"live source failed: {self.name} ({_one_line(exc)})")
        finally:
            # The reader thread owns the capture, so read() and release() never run concurrently.
            try:
                self._capture.release()
            except Exception:  # a driver failing to let go must not hide the stream's end
                log.exception("live source %s: release failed", self.name)
            with self._cond:
                self._ended = True
                self._cond.notify_all()


def _open_cv_capture(target: int | str, api: int, what: str, params: list[int] | None = None
                     ) -> cv2.VideoCapture:
    cap = cv2.VideoCapture(target, api, params or [])
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"cannot open {what}: {mask_credentials(str(target))}")
    return cap


def open_camera(index: int) -> cv2.VideoCapture:
    """A camera by OpenCV index (``0`` is the first), with whichever backend OpenCV picks."""
    return _open_cv_capture(index, cv2.CAP_ANY, "camera")


def open_v4l2(device: str) -> cv2.VideoCapture:
    """A Video4Linux device such as ``/dev/video0``."""
    return _open_cv_capture(device, cv2.CAP_V4L2, "V4L2 camera")


def open_gstreamer(pipeline: str) -> cv2.VideoCapture:
    """A GStreamer pipeline ending in ``appsink`` (e.g. ``nvarguscamerasrc ! ... ! appsink``)."""
    return _open_cv_capture(pipeline, cv2.CAP_GSTREAMER, "GStreamer pipeline")


def open_stream(url: str) -> cv2.VideoCapture:
    """An ``rtsp://`` or ``http(s)://`` stream through FFmpeg."""
    timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, _STREAM_TIMEOUT_MS,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, _STREAM_TIMEOUT_MS]
    return _open_cv_capture(url, cv2.CAP_FFMPEG, "stream", timeouts)
