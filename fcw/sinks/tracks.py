"""Track files in the MOTChallenge format, ``frame,id,x,y,w,h,conf,-1,-1,-1``, frames 1-based."""
from __future__ import annotations

from pathlib import Path

from fcw.types import FrameResult

from .base import Sink, open_output


class MotTrackWriter(Sink):
    def __init__(self, path: Path, confirmed_only: bool = True) -> None:
        self.path = Path(path)
        self.confirmed_only = confirmed_only
        self._f = open_output(self.path, "w", "tracks file")

    def write(self, result: FrameResult) -> None:
        t = result.tracks
        lines = []
        for i in range(len(t)):
            if self.confirmed_only and not t.confirmed[i]:
                continue
            x1, y1, x2, y2 = (float(v) for v in t.xyxy[i])
            lines.append(f"{result.frame.index + 1},{int(t.track_id[i])},{x1:.1f},{y1:.1f},"
                         f"{x2 - x1:.1f},{y2 - y1:.1f},{float(t.score[i]):.3f},-1,-1,-1\n")
        if lines:
            self._f.writelines(lines)
            self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()
