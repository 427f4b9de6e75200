"""Cameras and network streams: a reader thread keeps only the newest frame.

A live source must never queue frames: if detection takes longer than a frame period, a queue
would make every warning later than the last. The reader thread therefore reads continuously into
a one-slot buffer, overwriting a frame the consumer has not taken yet (counted in ``dropped``),
and the consumer waits only for a frame newer than the one it got before.

In a car the camera is unplugged and the network drops, and fcw must come back by itself: with a
:class:`Reconnect` policy the reader reopens a capture that failed or ended, waiting longer after
each failed try, and reports the gap as ``source_lost`` / ``source_resumed`` events, while the
consumer simply waits for the next frame. Frame times keep counting from the first frame, so a
gap shows as a jump in ``t_s``, which the tracker treats like any dropped frames.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from fcw.errors import SourceError
from fcw.sources.base import FrameSource, mask_credentials
from fcw.types import Event, Frame

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


@dataclass(frozen=True)
class Reconnect:
    """How a lost live source is reopened: after ``initial_s``, then twice as long after each
    failed try up to ``max_s``; after ``give_up_s`` without a frame (None: never) the source
    fails with a :class:`SourceError`."""

    initial_s: float = 0.5
    max_s: float = 10.0
    give_up_s: float | None = None

    def next_delay_s(self, delay_s: float) -> float:
        """The wait before the try after one that waited ``delay_s`` and failed."""
        return min(delay_s * 2, self.max_s)

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise ValueError(f"need 0 < initial_s <= max_s, got {self.initial_s}, {self.max_s}")
        if self.give_up_s is not None and self.give_up_s <= 0:
            raise ValueError(f"give_up_s must be > 0 or None, got {self.give_up_s}")


@dataclass
class _Outage:
    """One loss of the source, from the failed read to the first frame after it."""

    since: float  # clock() when the last frame came (or the loss was noticed, before any frame)
    noticed: float  # clock() at the failed read
    delay_s: float  # the wait before the next reopen; doubles per failed try
    attempts: int = 0


class LiveSource(FrameSource):
    """Frames from a capture read by a background thread; the consumer always gets the newest.

    ``open_capture`` is called once here, so that a device that cannot be opened fails at
    start-up with a :class:`SourceError`, and again for each reconnection. ``Frame.t_s`` is
    ``clock()`` at capture minus ``clock()`` at the first frame; ``Frame.index`` counts every
    captured frame, so gaps are drops. Without ``reconnect`` the iterator ends after the last
    frame once the capture reports its end, and a read that raises is re-raised to the consumer
    as a :class:`SourceError`; with it, both are outages the reader waits out.
    """

    live = True

    def __init__(
        self,
        open_capture: Callable[[], Capture],
        name: str,
        clock: Callable[[], float] = time.monotonic,
        fps: float | None = None,
        reconnect: Reconnect | None = None,
    ) -> None:
        super().__init__(name)
        self._open_capture = open_capture
        self._capture = self._open()
        self._clock = clock
        self._fps = fps
        self._reconnect = reconnect
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

    def _open(self) -> Capture:
        try:
            return self._open_capture()
        except SourceError:
            raise
        except Exception as exc:  # any driver error is the user's "cannot open this camera"
            raise SourceError(f"cannot open live source: {self.name} ({_one_line(exc)})") from exc

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

    def interrupt(self) -> None:
        # Only flags and a notify, no join: this runs in signal handlers.
        self._stop.set()
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self.interrupt()  # also wakes a consumer waiting in another thread
        self._thread.join(_JOIN_TIMEOUT_S)
        if self._thread.is_alive():
            # Releasing a capture while another thread is inside its read() can crash the driver,
            # so a read stuck on a dead stream keeps the capture until it returns (the stream's
            # read timeout); the daemon thread releases it then and never outlives the process.
            log.warning("live source %s: reader still blocked in read() or open(); released "
                        "when it returns", self.name)

    def _read_loop(self) -> None:
        # The reader thread owns the capture, so read() and release() never run concurrently.
        capture: Capture | None = self._capture
        index, t0, last_clock = 0, None, None
        outage: _Outage | None = None
        try:
            while capture is not None and not self._stop.is_set():
                try:
                    ok, image = capture.read()
                    failure = None if ok and image is not None else "the stream ended"
                except Exception as exc:
                    if self._reconnect is None:
                        raise
                    failure = _one_line(exc)
                now = self._clock()
                if self._stop.is_set():
                    return
                if failure is None:
                    assert image is not None  # no failure means an image came
                    t0 = now if t0 is None else t0
                    frame = Frame(index, now - t0, image)
                    if outage is not None:
                        self._resumed(outage, frame, now)
                        outage = None
                    index, last_clock = index + 1, now
                    with self._cond:
                        if self._slot is not None:
                            self._dropped += 1
                        self._slot = frame
                        self._cond.notify_all()
                    continue
                if self._reconnect is None:
                    return
                self._release(capture)
                capture = None
                if outage is None:
                    outage = _Outage(last_clock if last_clock is not None else now, now,
                                     self._reconnect.initial_s)
                    self._lost(failure, now - t0 if t0 is not None else 0.0, max(index - 1, 0))
                capture = self._reopen(outage)
        except Exception as exc:  # surfaced to the consumer, after the frames it still has
            with self._cond:
                self._error = SourceError(f"live source failed: {self.name} ({_one_line(exc)})")
        finally:
            if capture is not None:
                self._release(capture)
            with self._cond:
                self._ended = True
                self._cond.notify_all()

    def _reopen(self, outage: _Outage) -> Capture | None:
        """A new capture, after the backoff; None when closed or given up."""
        policy = self._reconnect
        assert policy is not None
        while True:
            waited = self._clock() - outage.noticed
            if policy.give_up_s is not None and waited >= policy.give_up_s:
                with self._cond:
                    self._error = SourceError(
                        f"live source lost: {self.name}: no frame for {waited:.0f} s after "
                        f"{outage.attempts} reconnection attempts; gave up "
                        f"(source.reconnect.give_up_after_s)")
                return None
            wait = outage.delay_s
            if policy.give_up_s is not None:
                wait = min(wait, policy.give_up_s - waited)
            if self._stop.wait(max(wait, 0.0)):
                return None
            outage.attempts += 1
            outage.delay_s = policy.next_delay_s(outage.delay_s)
            try:
                capture = self._open()
            except SourceError as exc:
                log.debug("live source %s: reconnection %d failed: %s", self.name,
                          outage.attempts, exc)
                continue
            if self._stop.is_set():
                self._release(capture)
                return None
            return capture

    def _lost(self, reason: str, t_s: float, index: int) -> None:
        reason = mask_credentials(reason)
        policy = self._reconnect
        assert policy is not None
        log.warning("live source %s lost (%s); reconnecting, retrying every %g-%g s", self.name,
                    reason, policy.initial_s, policy.max_s)
        self._emit(Event("source_lost", t_s, index, {"source": self.name, "reason": reason}))

    def _resumed(self, outage: _Outage, frame: Frame, now: float) -> None:
        gap_s = now - outage.since
        log.warning("live source %s back after a gap of %.1f s (%d reconnection attempts)",
                    self.name, gap_s, outage.attempts)
        self._emit(Event("source_resumed", frame.t_s, frame.index,
                         {"source": self.name, "gap_s": round(gap_s, 3),
                          "attempts": outage.attempts}))

    def _release(self, capture: Capture) -> None:
        try:
            capture.release()
        except Exception:  # a driver failing to let go must not hide the stream's end
            log.exception("live source %s: release failed", self.name)


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


def has_gstreamer(build_information: str | None = None) -> bool:
    """Whether this OpenCV was built with GStreamer (``GStreamer: YES`` in its build summary)."""
    info = cv2.getBuildInformation() if build_information is None else build_information
    return any(line.split(":", 1)[0].strip() == "GStreamer" and ":" in line
               and line.split(":", 1)[1].strip().upper().startswith("YES")
               for line in info.splitlines())


# pip's opencv-python wheels are built without GStreamer; JetPack's OpenCV has it.
NO_GSTREAMER = ("a GStreamer pipeline needs OpenCV with GStreamer, and this OpenCV {version} "
                "({path}) has none: install JetPack's OpenCV (apt install nvidia-opencv) and "
                "use it in place of pip's opencv-python-headless (pip uninstall "
                "opencv-python-headless, in a venv made with --system-site-packages)")


def open_gstreamer(pipeline: str) -> cv2.VideoCapture:
    """A GStreamer pipeline ending in ``appsink`` (e.g. ``nvarguscamerasrc ! ... ! appsink``)."""
    if not has_gstreamer():
        # Without GStreamer, OpenCV would only say that it cannot open the pipeline.
        raise SourceError(NO_GSTREAMER.format(version=cv2.__version__,
                                              path=getattr(cv2, "__file__", "?")))
    return _open_cv_capture(pipeline, cv2.CAP_GSTREAMER, "GStreamer pipeline")


def open_stream(url: str) -> cv2.VideoCapture:
    """An ``rtsp://`` or ``http(s)://`` stream through FFmpeg."""
    timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, _STREAM_TIMEOUT_MS,
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, _STREAM_TIMEOUT_MS]
    return _open_cv_capture(url, cv2.CAP_FFMPEG, "stream", timeouts)
