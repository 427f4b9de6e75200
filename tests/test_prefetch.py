"""The threaded pipeline (fcw/prefetch.py): same results as in sequence, stages overlapped,
worker faults raised on the frame loop's thread, workers gone when the run ends."""
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fcw.app import RunOptions, build_pipeline
from fcw.config import load_config
from fcw.pipeline import Pipeline
from fcw.prefetch import WORKER_THREADS, is_staged
from fcw.sinks.base import Sink
from fcw.sinks.events import EventLog, read_events
from fcw.sources.base import FrameSource
from fcw.types import Detections, Frame
from fcw.watchdog import Watchdog

REPO = Path(__file__).resolve().parent.parent
CLIP = REPO / "sample_videos" / "lead_stopped.mp4"


class Frames(FrameSource):
    """``n`` small frames; raises ``fail`` instead of frame ``fail_at``."""

    def __init__(self, n, fail_at=None, fail=None):
        super().__init__("frames")
        self.n, self.fail_at, self.fail = n, fail_at, fail
        self.closed_with_workers = None  # names of worker threads alive when closed

    @property
    def fps(self):
        return 30.0

    def __iter__(self):
        for i in range(self.n):
            if i == self.fail_at:
                raise self.fail
            yield Frame(i, i / 30, np.full((36, 64, 3), i % 256, np.uint8))

    def close(self):
        self.closed_with_workers = [t.name for t in threading.enumerate()
                                    if t.name in WORKER_THREADS]


class Staged:
    """A detector in three parts: a box whose x is the frame's pixel value, so each result
    shows which frame it came from; ``run`` sleeps ``run_s`` and raises at ``fail_at``."""

    def __init__(self, run_s=0.0, fail_at=None, stall_at=None, stall_s=0.0):
        self.run_s, self.fail_at = run_s, fail_at
        self.stall_at, self.stall_s = stall_at, stall_s
        self.threads: set[str] = set()

    def prepare(self, frame):
        self.threads.add("prepare:" + threading.current_thread().name)
        return frame.index, float(frame.image[0, 0, 0])

    def run(self, prepared):
        self.threads.add("run:" + threading.current_thread().name)
        index, value = prepared
        if index == self.fail_at:
            raise RuntimeError(f"model failed on frame {index}")
        time.sleep(self.stall_s if index == self.stall_at else self.run_s)
        return index, value

    def decode(self, frame, raw):
        index, value = raw
        assert index == frame.index, "a model output reached another frame"
        return Detections(np.float32([[value, 0, value + 10, 10]]), np.float32([0.9]),
                          np.int32([2]))

    def update(self, frame):
        return self.decode(frame, self.run(self.prepare(frame)))


class Collect(Sink):
    def __init__(self, sleep_s=0.0):
        self.sleep_s = sleep_s
        self.results, self.latency_s, self.summary = [], [], None

    def write(self, result):
        time.sleep(self.sleep_s)
        self.results.append(result)
        self.latency_s.append(time.perf_counter() - result.read_done)

    def finish(self, summary):
        self.summary = summary


def test_threaded_results_match_sequential_and_stages_run_on_their_threads():
    runs = {}
    for threaded in (False, True):
        det, sink = Staged(), Collect()
        Pipeline(Frames(40), det, sinks=[sink], threaded=threaded).run()
        runs[threaded] = ([r.frame.index for r in sink.results],
                          [r.detections.xyxy[0, 0] for r in sink.results], det.threads)
    assert runs[True][0] == runs[False][0] == list(range(40))
    assert runs[True][1] == runs[False][1] == [float(i) for i in range(40)]
    assert runs[False][2] == {"prepare:MainThread", "run:MainThread"}
    assert runs[True][2] == {"prepare:fcw-read", "run:fcw-model"}
    assert is_staged(Staged()) and not is_staged(object())


class Overlap(Staged):
    """Signals, for each frame, that its model run has started."""

    def __init__(self):
        super().__init__()
        self.ran = {}  # frame index -> Event set once its model run has started
        self._lock = threading.Lock()

    def started(self, index):
        with self._lock:
            return self.ran.setdefault(index, threading.Event())

    def run(self, prepared):
        self.started(prepared[0]).set()
        return super().run(prepared)


class WaitForNextModelRun(Collect):
    """Holds each frame in the sink until the model has started on the next frame (at most
    ``wait_s``: in sequence it cannot start, since the sinks come first)."""

    def __init__(self, det, n, wait_s):
        super().__init__()
        self.det, self.n, self.wait_s = det, n, wait_s
        self.saw_next_run = []

    def write(self, result):
        i = result.frame.index
        if i + 1 < self.n:
            self.saw_next_run.append(self.det.started(i + 1).wait(self.wait_s))
        super().write(result)


def test_threaded_run_overlaps_the_model_with_the_rest():
    """Threaded, the model starts on frame i + 1 before the sinks are done with frame i; in
    sequence it never does. Seen from what ran when, not timed, so a busy machine changes
    nothing."""
    n = 12
    for threaded, wait_s in ((True, 30.0), (False, 0.0)):
        det = Overlap()
        sink = WaitForNextModelRun(det, n, wait_s)
        Pipeline(Frames(n), det, sinks=[sink], threaded=threaded).run()
        assert [r.frame.index for r in sink.results] == list(range(n))
        assert sink.saw_next_run == [threaded] * (n - 1), threaded


def test_latency_runs_from_the_read_to_the_sinks():
    """The frame's read stamp comes before its model run (which sleeps 30 ms) and the sinks
    (30 ms more): a sleep lasts at least what it asks, so this holds on any machine."""
    for threaded in (False, True):
        sink = Collect(sleep_s=0.03)
        Pipeline(Frames(5), Staged(run_s=0.03), sinks=[sink], threaded=threaded).run()
        assert min(sink.latency_s) >= 0.059


@pytest.mark.parametrize("where", ["model", "source"])
def test_a_worker_fault_is_raised_on_the_loop_and_sinks_finish(where):
    source = Frames(30, fail_at=12 if where == "source" else None, fail=OSError("disk gone"))
    det = Staged(fail_at=12 if where == "model" else None)
    sink = Collect()
    with pytest.raises(RuntimeError if where == "model" else OSError):
        Pipeline(source, det, sinks=[sink], threaded=True).run()
    assert [r.frame.index for r in sink.results] == list(range(12))
    assert sink.summary.stop_reason == "error" and sink.summary.frames == 12
    assert source.closed_with_workers == []  # the workers ended before the source closed


def test_stopping_early_ends_the_workers_before_the_source_closes():
    source, sink = Frames(1000), Collect()
    summary = Pipeline(source, Staged(), sinks=[sink], max_frames=7, threaded=True).run()
    assert summary.stop_reason == "max_frames" and len(sink.results) == 7
    assert source.closed_with_workers == []
    source, sink = Frames(1000), Collect()
    pipeline = Pipeline(source, Staged(run_s=0.002), sinks=[sink], threaded=True)

    class StopAt5(Collect):
        def write(self, result):
            super().write(result)
            if len(self.results) == 5:
                pipeline.request_stop()

    pipeline.sinks = [StopAt5()]
    assert pipeline.run().stop_reason == "stopped"
    assert source.closed_with_workers == []


def test_watchdog_names_the_stuck_model_on_its_worker_thread(tmp_path):
    log = EventLog(tmp_path / "e.jsonl", {"source": "frames"})
    dog = Watchdog(0.4, log.write_record)
    Pipeline(Frames(8), Staged(stall_at=4, stall_s=1.2), sinks=[dog, log], threaded=True).run()
    records = list(read_events(log.path))
    assert [r["type"] for r in records] == ["start", "stall", "stall_cleared", "end"]
    stall = records[1]
    assert stall["where"].startswith("tests/test_prefetch.py:") and " run " in stall["where"]
    assert stall["where"].endswith("(thread fcw-model)")


def _replay(tmp_path: Path, threaded: bool, models_dir: Path):
    cfg = load_config(None, {"pipeline": {"threaded": threaded}})
    out = tmp_path / ("threaded" if threaded else "serial")
    out.mkdir()
    pipeline = build_pipeline(cfg, RunOptions(
        source=str(CLIP), events=out / "events.jsonl", tracks=out / "tracks.txt",
        models_dir=models_dir, status=False))
    assert pipeline.threaded is threaded
    pipeline.run()
    events = [r for r in read_events(out / "events.jsonl")
              if r["type"] not in ("start", "end", "heartbeat")]  # wall-clock figures
    return events, (out / "tracks.txt").read_text()


def test_real_replay_gives_the_same_events_and_tracks_threaded_or_not(tmp_path, models_dir):
    """The real detector, lights, tracker and warnings on a rendered NHTSA clip."""
    serial_events, serial_tracks = _replay(tmp_path, False, models_dir)
    events, tracks = _replay(tmp_path, True, models_dir)
    assert any(e["type"] == "fcw" and e["level"] == "warning" for e in serial_events)
    assert events == serial_events
    assert tracks == serial_tracks and tracks.count("\n") > 50
