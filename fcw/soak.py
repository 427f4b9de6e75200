"""Soak run: replay a clip in a loop for N minutes and watch memory and fps stay flat.

``python -m fcw.soak [--source CLIP] [--minutes 5] [--interval 30]`` runs the whole ``fcw run``
path (detector, tracker, risk, events file with heartbeats, track file, watchdog) over the clip
played back to back, prints the frames, fps and resident memory every interval, and ends with a
verdict: the slope of RSS over time after the first interval (warm-up: allocator arenas, ONNX
Runtime buffers) and the fps of the last third against the first. Exit 0 when both are flat.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional, TextIO

import numpy as np

from fcw.app import RunOptions, build_pipeline
from fcw.bench import machine
from fcw.config import ConfigError, load_config
from fcw.errors import FcwError
from fcw.sinks.base import Sink
from fcw.sinks.heartbeat import rss_mb
from fcw.sources import LoopedVideoSource
from fcw.types import FrameResult

DEFAULT_SOURCE = Path(__file__).resolve().parent.parent / "sample_videos" / "lead_stopped.mp4"
# Flat means: RSS grows by at most this per minute after warm-up ...
MAX_RSS_SLOPE_MB_PER_MIN = 1.0
# ... and the last third of the run keeps at least this share of the first third's fps.
MIN_FPS_RATIO = 0.8


class SoakMonitor(Sink):
    """Prints one line per interval of wall time and stops the run after ``duration_s``."""

    def __init__(self, duration_s: float, interval_s: float, stop: threading.Event,
                 out: TextIO = sys.stdout) -> None:
        self.duration_s, self.interval_s = duration_s, interval_s
        self._stop, self._out = stop, out
        self.samples: list[tuple[float, int, float, float]] = []  # elapsed, frames, fps, rss
        self._frames = 0
        self._started = time.monotonic()
        self._last = (self._started, 0)

    def write(self, result: FrameResult) -> None:
        self._frames += 1
        now = time.monotonic()
        if now - self._last[0] < self.interval_s:
            return
        fps = (self._frames - self._last[1]) / (now - self._last[0])
        elapsed = now - self._started
        self.samples.append((elapsed, self._frames, fps, rss_mb()))
        self._last = (now, self._frames)
        print(f"{elapsed:9.1f} {self._frames:9d} {fps:7.1f} {self.samples[-1][3]:9.1f}",
              file=self._out, flush=True)
        if elapsed >= self.duration_s:
            self._stop.set()


def verdict(samples: list[tuple[float, int, float, float]]) -> tuple[bool, str]:
    """Whether memory and fps stayed flat, and the line that says so."""
    kept = samples[1:] if len(samples) > 2 else samples
    if len(kept) < 2:
        return False, "verdict: too few intervals to judge (run longer or shorten --interval)"
    minutes = np.array([s[0] for s in kept]) / 60.0
    rss = np.array([s[3] for s in kept])
    slope = float(np.polyfit(minutes, rss, 1)[0])
    third = max(1, len(kept) // 3)
    fps_first = float(np.mean([s[2] for s in kept[:third]]))
    fps_last = float(np.mean([s[2] for s in kept[-third:]]))
    ratio = fps_last / fps_first if fps_first > 0 else 0.0
    mem_ok, fps_ok = slope <= MAX_RSS_SLOPE_MB_PER_MIN, ratio >= MIN_FPS_RATIO
    line = (f"verdict: memory {'flat' if mem_ok else 'GROWING'} (RSS slope {slope:+.2f} MB/min "
            f"after the first interval, {rss[0]:.1f} -> {rss[-1]:.1f} MB, limit "
            f"{MAX_RSS_SLOPE_MB_PER_MIN:g}); fps {'not falling' if fps_ok else 'FALLING'} "
            f"({fps_first:.1f} -> {fps_last:.1f}, first third to last, x{ratio:.2f})")
    return mem_ok and fps_ok, line


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fcw.soak", description=__doc__.splitlines()[0])
    p.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="a video file to loop")
    p.add_argument("--minutes", type=float, default=5.0)
    p.add_argument("--interval", type=float, default=30.0, help="seconds between lines")
    p.add_argument("--config", type=Path)
    p.add_argument("--models-dir", type=Path)
    p.add_argument("--backend", choices=["auto", "onnxruntime", "tensorrt"])
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fcw-soak-") as tmp:
        try:
            cfg = load_config(args.config)
            pipeline = build_pipeline(
                cfg, RunOptions(source=str(args.source), events=Path(tmp) / "events.jsonl",
                                tracks=Path(tmp) / "tracks.txt", models_dir=args.models_dir,
                                backend=args.backend, status=False),
                source=LoopedVideoSource(args.source))
        except (ConfigError, FcwError) as exc:
            print(f"fcw soak: error: {exc}", file=sys.stderr)
            return 1
        backend = getattr(pipeline.detector, "backend", None)
        info = machine()
        print(f"fcw soak: {args.source} looped for {args.minutes:g} min on "
              f"{getattr(backend, 'name', '?')}, {info['cpu']}, {info['cores']} cores")
        print(f"{'elapsed_s':>9} {'frames':>9} {'fps':>7} {'rss_mb':>9}", flush=True)
        monitor = SoakMonitor(args.minutes * 60.0, args.interval, pipeline.stop)
        pipeline.sinks = [*pipeline.sinks, monitor]
        pipeline.run()
    ok, line = verdict(monitor.samples)
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
