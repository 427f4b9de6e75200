"""LiveSource with captures whose reads the test controls: newest frame only, never a backlog."""
from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from clitools import HANG_S

from fcw.errors import SourceError
from fcw.sources import LiveSource
from fcw.types import Frame

WAIT_S = HANG_S  # never slept through: each wait ends when its event comes


def numbered(i: int) -> np.ndarray:
    """A tiny image that carries its capture number, so a frame can be matched to its read."""
    image = np.zeros((2, 2, 3), np.uint8)
    image[0, 0, 0], image[0, 0, 1] = i % 256, i // 256
    return image


def number_of(frame: Frame) -> int:
    return int(frame.image[0, 0, 0]) + 256 * int(frame.image[0, 0, 1])


class StepCapture:
    """Hands out a numbered frame only when the test allows one; read() blocks until then."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._allowed = 0
        self._produced = 0
        self._reads_started = 0
        self._finished = False
        self.released = False

    def allow(self, n: int = 1) -> None:
        with self._cond:
            self._allowed += n
            self._cond.notify_all()

    def finish(self) -> None:
        """End of stream: reads after the allowed frames return (False, None)."""
        with self._cond:
            self._finished = True
            self._cond.notify_all()

    def wait_reads_started(self, n: int) -> None:
        """Block until read() was entered n times: the reader has stored every earlier frame."""
        with self._cond:
            assert self._cond.wait_for(lambda: self._reads_started >= n, WAIT_S)

    def read(self) -> tuple[bool, np.ndarray | None]:
        with self._cond:
            self._reads_started += 1
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._produced < self._allowed or self._finished)
            if self._produced < self._allowed:
                self._produced += 1
                return True, numbered(self._produced - 1)
            return False, None

    def release(self) -> None:
        self.released = True


class FreeCapture:
    """Produces frames as fast as it is read, up to ``limit`` (None: forever)."""

    def __init__(self, limit: int | None = None) -> None:
        self._cond = threading.Condition()
        self._limit = limit
        self.produced = 0
        self.released = False

    def read(self) -> tuple[bool, np.ndarray | None]:
        with self._cond:
            if self._limit is not None and self.produced >= self._limit:
                return False, None
            self.produced += 1
            self._cond.notify_all()
            return True, numbered(self.produced - 1)

    def wait_produced(self, n: int) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.produced >= n, WAIT_S)

    def release(self) -> None:
        self.released = True


def step_clock(step: float = 0.04) -> Callable[[], float]:
    ticks = itertools.count()
    return lambda: 50.0 + step * next(ticks)


def reader_threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if name in t.name and t.is_alive()]


def test_consumer_gets_newest_frame_and_drops_are_counted() -> None:
    capture = StepCapture()
    with LiveSource(lambda: capture, name="step", clock=step_clock()) as source:
        assert source.live and source.frame_count is None and source.fps is None
        frames: Iterator[Frame] = iter(source)

        capture.allow(1)
        first = next(frames)
        assert (first.index, first.t_s, number_of(first)) == (0, 0.0, 0)

        capture.allow(3)  # frames 1, 2, 3 arrive while the consumer is busy
        capture.wait_reads_started(5)  # the 5th read began, so frame 3 is in the slot
        newest = next(frames)
        assert (newest.index, number_of(newest)) == (3, 3)
        assert source.dropped == 2

        capture.allow(1)
        assert next(frames).index == 4  # waits for a newer frame rather than repeating 3

        capture.allow(2)
        capture.finish()
        capture.wait_reads_started(8)  # frame 6 stored, the read after it sees the end
        last = next(frames)
        assert (last.index, number_of(last)) == (6, 6)
        with pytest.raises(StopIteration):
            next(frames)
        assert source.dropped == 3
    assert capture.released
    assert not reader_threads("step")


def test_consumer_blocks_until_a_newer_frame_exists() -> None:
    capture = StepCapture()
    with LiveSource(lambda: capture, name="blocking") as source:
        frames = iter(source)
        capture.allow(1)
        assert next(frames).index == 0
        got: list[Frame] = []
        done = threading.Event()

        def consume() -> None:
            got.append(next(frames))
            done.set()

        consumer = threading.Thread(target=consume)
        consumer.start()
        capture.wait_reads_started(2)  # reader idle, nothing new: the consumer must still wait
        assert not done.wait(0.05)
        capture.allow(1)
        assert done.wait(WAIT_S)
        consumer.join(WAIT_S)
        assert [f.index for f in got] == [1]
        capture.finish()


def test_slow_consumer_never_sees_a_backlog() -> None:
    total = 400
    capture = FreeCapture(limit=total)
    delivered: list[Frame] = []
    with LiveSource(lambda: capture, name="free") as source:
        for frame in source:
            delivered.append(frame)
            # Busy for at least three captures, so every step overwrites frames.
            capture.wait_produced(min(total, frame.index + 4))
    indices = [f.index for f in delivered]
    assert indices[-1] == total - 1, "the last frame is delivered before the end"
    # Frame k+3 was read, so the slot held at least k+2 when the consumer came back.
    assert all(b - a >= 2 for a, b in zip(indices[:-2], indices[1:-1], strict=True))
    assert all(number_of(f) == f.index for f in delivered)
    skipped = sum(b - a - 1 for a, b in zip(indices[:-1], indices[1:], strict=True)) + indices[0]
    assert source.dropped == skipped == total - len(delivered)
    times = [f.t_s for f in delivered]
    assert times[0] >= 0.0 and all(b >= a for a, b in zip(times[:-1], times[1:], strict=True))


def test_times_come_from_the_injected_clock_since_the_first_frame() -> None:
    capture = FreeCapture(limit=5)
    with LiveSource(lambda: capture, name="clocked", clock=step_clock(0.5)) as source:
        capture.wait_produced(5)
        frames = list(source)
    assert frames[-1].index == 4
    # One clock reading per captured frame, relative to the first: index * 0.5.
    assert [f.t_s for f in frames] == [f.index * 0.5 for f in frames]


def test_close_stops_and_joins_the_reader() -> None:
    capture = FreeCapture()  # never ends by itself
    source = LiveSource(lambda: capture, name="endless")
    frames = iter(source)
    first, second = next(frames), next(frames)
    assert second.index > first.index
    source.close()
    assert capture.released
    assert not reader_threads("endless")
    source.close()  # idempotent
    assert list(frames) == []
    assert list(source) == []


def test_close_from_another_thread_wakes_a_waiting_consumer() -> None:
    capture = StepCapture()
    source = LiveSource(lambda: capture, name="waiting")
    ended = threading.Event()

    def consume() -> None:
        for _ in source:
            pass
        ended.set()

    consumer = threading.Thread(target=consume)
    consumer.start()
    capture.wait_reads_started(1)
    closer = threading.Thread(target=source.close)
    closer.start()
    assert ended.wait(WAIT_S), "close() must wake the consumer even while the read blocks"
    capture.finish()  # the blocked read returns; only then may the reader release the capture
    closer.join(WAIT_S)
    consumer.join(WAIT_S)
    assert capture.released
    assert not reader_threads("waiting")


def test_open_failure_is_a_source_error_naming_the_source() -> None:
    def refuse() -> StepCapture:
        raise RuntimeError("device busy")

    with pytest.raises(SourceError) as exc:
        LiveSource(refuse, name="camera 3")
    assert "camera 3" in str(exc.value) and "\n" not in str(exc.value)
    assert not reader_threads("camera 3")


def test_source_error_from_the_opener_passes_through() -> None:
    def refuse() -> StepCapture:
        raise SourceError("cannot open camera: 7")

    with pytest.raises(SourceError, match="cannot open camera: 7"):
        LiveSource(refuse, name="camera 7")


def test_read_failure_surfaces_after_the_frames_already_captured() -> None:
    class Broken(FreeCapture):
        def read(self) -> tuple[bool, np.ndarray | None]:
            if self.produced == 2:
                raise OSError("usb\ndisconnected")
            return super().read()

    capture = Broken()
    source = LiveSource(lambda: capture, name="usb cam")
    capture.wait_produced(2)
    frames = iter(source)
    with pytest.raises(SourceError, match="usb cam") as exc:
        for _ in frames:
            pass
    assert "\n" not in str(exc.value) and "usb disconnected" in str(exc.value)
    source.close()
    assert capture.released
