"""The interface every output shares: the overlay, the event log, the video and track writers."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO, Optional

from fcw.errors import FcwError
from fcw.types import FrameResult


def open_output(path: Path, mode: str, what: str) -> IO[str]:
    """Open an output text file, creating its folder; failure is one line naming the file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return open(path, mode, encoding="utf-8")
    except OSError as exc:
        raise FcwError(f"{path}: cannot write {what} ({exc.strerror})") from None


@dataclass(frozen=True)
class RunSummary:
    """How a run ended; given to every sink when it finishes, faults included."""

    frames: int
    dropped: int
    mean_fps: float
    last_t_s: float
    last_frame: int
    error: Optional[str] = None
    stop_reason: str = "end_of_source"


class Sink:
    """A context manager that receives every frame's result, then the run's summary.

    ``finish`` is called before ``__exit__`` even when the run fails, so each sink can write
    its closing record; ``close`` must be safe to call twice.
    """

    def write(self, result: FrameResult) -> None:
        raise NotImplementedError

    def finish(self, summary: RunSummary) -> None:
        """Write whatever closes the output (the end record); default: nothing."""

    def close(self) -> None:
        """Release files and devices."""

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
