"""Pause, step and seek for a pipeline that runs on its own thread.

The GUI never touches the pipeline's stages: it sets requests on a :class:`PlaybackControl`, and
the :class:`ControlledSource` wrapped around the real source honours them between two frames, on
the pipeline thread, where reading the next frame is the only thing that can wait. Frame times
are never touched: ``t_s`` stays the file's, so pausing changes no TTC.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Optional

from fcw.sources.base import FrameSource
from fcw.sources.video import VideoFileSource
from fcw.types import Event, Frame


class PlaybackControl:
    """Requests from the GUI thread to the pipeline thread, behind one condition variable."""

    def __init__(self, stop: threading.Event) -> None:
        self._cond = threading.Condition()
        self._stop = stop
        self._paused = False
        self._steps = 0  # frames let through while paused
        self._seek: Optional[int] = None
        # The pipeline waiting in a pause, its last frame done, and how many times it came to
        # such a wait: what a test (or a tool) waits for instead of guessing a delay.
        self._parked = False
        self.parks = 0

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def parked(self) -> bool:
        """The pipeline thread is waiting for the pause to end: every sink has its last frame."""
        return self._parked

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def set_paused(self, paused: bool) -> None:
        with self._cond:
            self._paused, self._steps = paused, 0
            self._cond.notify_all()

    def step(self) -> None:
        """Let exactly one more frame through, pausing first if running."""
        with self._cond:
            self._paused = True
            self._steps += 1
            self._cond.notify_all()

    def seek(self, index: int) -> None:
        """Continue from frame ``index``; a paused replay shows that one frame and stays paused."""
        with self._cond:
            self._seek = index
            if self._paused:
                self._steps = 1
            self._cond.notify_all()

    def stop(self) -> None:
        with self._cond:
            self._stop.set()
            self._cond.notify_all()

    def wake(self) -> None:
        """Make a paused wait look at the stop event again (set by someone else)."""
        with self._cond:
            self._cond.notify_all()

    def wait_turn(self, while_paused: Callable[[], None] = lambda: None,
                  every_s: float = 1.0) -> tuple[bool, Optional[int]]:
        """Block while paused, calling ``while_paused`` every ``every_s``; (go on, seek target).
        False once the run is stopped."""
        with self._cond:
            if self._paused and self._steps == 0 and not self._stop.is_set():
                self._parked, self.parks = True, self.parks + 1
            while self._paused and self._steps == 0 and not self._stop.is_set():
                if not self._cond.wait(every_s):
                    while_paused()
            self._parked = False
            if self._stop.is_set():
                return False, None
            if self._paused:
                self._steps -= 1
            seek, self._seek = self._seek, None
            return True, seek


class ControlledSource(FrameSource):
    """A source that waits for its :class:`PlaybackControl` and stamps when each frame was read.

    ``read_at(index)`` is the ``perf_counter`` time at which the newest frame left the decoder,
    the start of the overlay's capture-to-display latency (the pipeline is sequential, so the
    newest frame read is the one whose result the sinks are writing). ``on_seek(last, target)``
    runs on the pipeline thread after a seek, with the last frame read before it (or None);
    ``while_paused()`` there every ``every_s`` while the replay is paused.
    """

    def __init__(self, inner: FrameSource, control: PlaybackControl,
                 on_seek: Callable[[Optional[Frame], int], None] = lambda _last, _to: None,
                 while_paused: Callable[[], None] = lambda: None, every_s: float = 1.0) -> None:
        super().__init__(inner.name)
        self.inner = inner
        self.live = inner.live
        self.control = control
        self._on_seek = on_seek
        self._while_paused, self._every_s = while_paused, every_s
        self._last: Optional[Frame] = None
        self._last_read_at = 0.0

    @property
    def can_seek(self) -> bool:
        return isinstance(self.inner, VideoFileSource) and not self.inner.live

    @property
    def position(self) -> int:
        """Index of the newest frame read (-1 before the first)."""
        last = self._last
        return -1 if last is None else last.index

    def read_at(self, index: int) -> Optional[float]:
        last, t = self._last, self._last_read_at
        return t if last is not None and last.index == index else None

    @property
    def fps(self) -> float | None:
        return self.inner.fps

    @property
    def frame_count(self) -> int | None:
        return self.inner.frame_count

    @property
    def dropped(self) -> int:
        return self.inner.dropped

    def __iter__(self) -> Iterator[Frame]:
        return self._frames(iter(self.inner))

    def _frames(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        while True:
            go_on, seek = self.control.wait_turn(self._while_paused, self._every_s)
            if not go_on:
                return
            if seek is not None and self.can_seek:
                assert isinstance(self.inner, VideoFileSource)
                self.inner.seek(seek)
                self._on_seek(self._last, seek)
            frame = next(frames, None)
            if frame is None:
                return
            self._last_read_at = time.perf_counter()
            self._last = frame
            yield frame

    def events_to(self, listener: Callable[[Event], None]) -> None:
        self.inner.events_to(listener)

    def interrupt(self) -> None:
        self.inner.interrupt()
        self.control.wake()

    def close(self) -> None:
        self.inner.close()
