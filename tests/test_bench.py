"""`fcw bench` in a subprocess: a report with every stage, consistent with itself."""
import json
import os

import numpy as np
import pytest
from clitools import fcw

from fcw.bench import STAGES, BenchSink
from fcw.types import Detections, Event, Frame, FrameResult


def test_bench_reports_stages_fps_and_machine(tmp_path, shared_dir, models_dir):
    clip = shared_dir / "data" / "udacity-vehicle-detection" / "test_video.mp4"
    out = tmp_path / "bench.json"
    proc = fcw("bench", "--source", clip, "--frames", 20, "--json", out, "--models-dir", models_dir)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["backend"] == "onnxruntime" and report["model"] == "yolox_nano"
    assert report["machine"]["cores"] == os.cpu_count()
    stages = report["stages"]
    # "lights" too when the default config runs the traffic-light stage.
    assert {"read", "preprocess", "inference", "postprocess", "detect", "track", "risk",
            "draw"} <= set(stages) <= set(STAGES)
    for v in stages.values():
        assert 0 <= v["median_ms"] <= v["p99_ms"]
    # The detector's total holds its parts in every frame, so its median is at least each of
    # theirs (no bound on wall times here: they move with the machine's load).
    for part in ("preprocess", "inference", "postprocess"):
        assert stages["detect"]["median_ms"] >= stages[part]["median_ms"], part
    assert 0 < report["frame_ms"]["median_ms"] <= report["frame_ms"]["p99_ms"]
    # fps (to 0.01) comes from the unrounded median, shown to 0.001 ms: a median of 41.7449 ms
    # gives 23.96 fps beside 41.745 ms, whose own 1e3 / median rounds to 23.95. Equal within
    # what the two roundings allow.
    fps, median_ms = report["fps"], report["frame_ms"]["median_ms"]
    assert fps == pytest.approx(1e3 / median_ms, abs=0.005 + fps * 0.0005 / median_ms + 1e-6)
    assert report["frames_measured"] == 20 - 3  # the 3 warm-up frames are not measured
    assert 0 <= report["non_inference_share"] < 1 and report["peak_rss_mb"] > 0
    # CPU time over the measured frames: at least some of each frame's wall time was spent on a
    # core, and no more cores were busy than the machine has.
    assert 0 < report["cpu_ms_per_frame"] and 0 < report["cores_busy"] <= os.cpu_count() + 0.2
    assert "CPU time" in proc.stdout
    assert "fps over" in proc.stdout and "inference" in proc.stdout
    assert report["capture_to_event_ms"]["events"] >= 0 and "capture to event" in proc.stdout


class Clocks:
    """The bench's wall and CPU clocks, moved only by the test: the figures it checks are then
    exact, whatever else the machine runs."""

    def __init__(self):
        self.wall = self.cpu = 100.0

    def perf_counter(self):
        return self.wall

    def process_time(self):
        return self.cpu


def _result(i, events=(), read_done=0.0):
    return FrameResult(Frame(i, i / 30, np.zeros((72, 128, 3), np.uint8)), Detections.empty(),
                       events=events, read_done=read_done)


def test_capture_to_event_latency_spans_processing_and_sinks(monkeypatch):
    """From the frame leaving the source (stamped by the pipeline) to the bench sink, which
    runs after the events file."""
    clocks = Clocks()
    monkeypatch.setattr("fcw.bench.time", clocks)
    sink = BenchSink(("car",), warmup=0)
    for i in range(2):
        read_done = clocks.wall
        clocks.wall += 0.03  # the stages, then an earlier sink writing the event
        events = (Event("fcw", i / 30, i, {"level": "warning"}),) if i else ()
        sink.write(_result(i, events, read_done))
    assert sink.event_ms == [pytest.approx(30.0)]
    assert sink.report()["capture_to_event_ms"]["events"] == 1


def test_cpu_time_per_frame_counts_work_not_waiting(monkeypatch):
    """Frames of 10 ms that alternate 10 ms on a core and 10 ms waiting: 5 ms of CPU time per
    frame, one core busy half the time; warm-up frames are not counted."""
    clocks = Clocks()
    monkeypatch.setattr("fcw.bench.time", clocks)
    sink = BenchSink(("car",), warmup=3)
    for i in range(43):
        clocks.wall += 0.010
        clocks.cpu += 0.010 if i % 2 else 0.0
        if i < 3:
            clocks.cpu += 1.0  # lazy initialisation in the warm-up: not a frame's cost
        sink.write(_result(i))
    report = sink.report()
    assert report["frames_measured"] == 40
    assert report["cpu_ms_per_frame"] == pytest.approx(5.0, abs=1e-3)
    assert report["cores_busy"] == pytest.approx(0.5, abs=0.01)
    assert report["fps"] == pytest.approx(100.0)
