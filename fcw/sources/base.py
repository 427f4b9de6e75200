"""The interface every frame source offers, and helpers shared by them."""
from __future__ import annotations

import abc
import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TypeVar

from fcw.types import Event, Frame

log = logging.getLogger(__name__)

# Userinfo with a password in any URL, also one embedded in a GStreamer pipeline
# (``rtspsrc location=rtsp://user:pw@cam``). The greedy password part stops at the last '@' before
# the path, so a password that itself contains '@' is still masked whole.
_S = TypeVar("_S", bound="FrameSource")

_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s/@:]*):[^\s/]*@")


def mask_credentials(text: str) -> str:
    """``rtsp://user:secret@host/x`` -> ``rtsp://user:***@host/x``: names go to logs and screens."""
    return _URL_PASSWORD.sub(r"\1:***@", text)


class FrameSource(abc.ABC):
    """An iterable of :class:`~fcw.types.Frame` that owns a device or file until closed.

    ``live`` is True for sources that are paced by a clock and hand over only the newest frame
    (cameras, streams, a video file in real-time mode); ``dropped`` then counts the frames skipped
    so that the consumer never works on a backlog. Frames are iterated once: a source is a stream,
    not a collection.
    """

    live: bool = False

    def __init__(self, name: str) -> None:
        self._name = mask_credentials(name)
        # The source's own events (a camera lost and back, frames skipped); see events_to.
        self._events_lock = threading.Lock()
        self._listener: Callable[[Event], None] | None = None
        # Kept until a listener is set; bounded, so a run without one cannot grow without end.
        self._pending: deque[Event] = deque(maxlen=256)

    def events_to(self, listener: Callable[[Event], None]) -> None:
        """Send the source's own events to ``listener`` (the events file) as they happen.

        They cannot wait for the next frame: a lost camera has none. ``listener`` may be called
        from the source's reader thread; events raised before it was set are passed on at once.
        """
        with self._events_lock:
            self._listener, pending = listener, list(self._pending)
            self._pending.clear()
        for event in pending:
            listener(event)

    def _emit(self, event: Event) -> None:
        with self._events_lock:
            listener = self._listener
            if listener is None:
                self._pending.append(event)
                return
        try:
            listener(event)
        except Exception:  # a failing listener must not end the source
            log.exception("%s: event listener failed", self.name)

    def interrupt(self) -> None:  # noqa: B027 (optional: see the docstring)
        """Wake a consumer waiting for a frame so the run can stop; safe from a signal handler.

        Sources that never block for long need nothing here.
        """

    @property
    def name(self) -> str:
        """What the source is, for logs; passwords in URLs are masked."""
        return self._name

    @property
    @abc.abstractmethod
    def fps(self) -> float | None:
        """Nominal frame rate, or None when the source does not say."""

    @property
    def frame_count(self) -> int | None:
        """Number of frames, or None when unknown (live sources, some containers)."""
        return None

    @property
    def dropped(self) -> int:
        """Frames skipped so that the consumer gets the newest one."""
        return 0

    @abc.abstractmethod
    def __iter__(self) -> Iterator[Frame]: ...

    @abc.abstractmethod
    def close(self) -> None:
        """Release the device or file; safe to call more than once."""

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
