"""Running a built pipeline as a process does: the stop signals, and how its end becomes an exit.

The headless command (``fcw.cli.run``) and the overlay (``ui.app``) both end a run this way, so
a lost camera exits 3 and SIGTERM ends the run cleanly whichever of them drives it.
"""
from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Optional

from fcw.errors import EXIT_FAULT, EXIT_OK, EXIT_SOURCE_LOST, SourceError
from fcw.pipeline import Pipeline
from fcw.sinks.base import RunSummary
from fcw.sources import FrameSource, LiveSource


class SourceLost(SourceError):
    """A live source that failed mid-run; the CLI prints it as one line and exits 3."""

    exit_code = EXIT_SOURCE_LOST


def is_live(source: FrameSource) -> bool:
    """A camera or network stream, whose end is a loss; a video file paced with --realtime
    ends normally."""
    return isinstance(source, LiveSource)


def exit_code(summary: RunSummary, live: bool) -> int:
    """How a finished run ends the process: a live stream has no normal end, so its end is a
    loss."""
    if summary.error is not None or summary.stop_reason == "error":
        return EXIT_FAULT
    if summary.stop_reason == "end_of_source" and live:
        return EXIT_SOURCE_LOST
    return EXIT_OK


def as_source_lost(exc: BaseException, live: bool) -> Optional[SourceLost]:
    """What a failed run raises instead of ``exc``: a live source's failure is a loss (exit 3);
    None when ``exc`` stands as it is."""
    if live and isinstance(exc, SourceError) and not isinstance(exc, SourceLost):
        return SourceLost(str(exc))
    return None


@contextmanager
def stop_signals(on_stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT and SIGTERM (``systemctl stop``) call ``on_stop`` instead of killing the process,
    so the run ends after its current frame with its end record; the old handlers come back."""

    def _handler(_signum: int, _frame: object) -> None:
        on_stop()

    previous = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run_pipeline(pipeline: Pipeline) -> int:
    """Run until the source ends or SIGINT/SIGTERM arrives; the process's exit code."""
    live = is_live(pipeline.source)
    with stop_signals(pipeline.request_stop):  # request_stop also wakes a wait for a camera
        try:
            summary = pipeline.run()
        except SourceError as exc:
            lost = as_source_lost(exc, live)
            if lost is None:
                raise
            raise lost from exc
    return exit_code(summary, live)
