"""`fcw bench` in a subprocess: a report with every stage, consistent with itself."""
import json
import os
import time

import numpy as np
from clitools import fcw

from fcw.bench import STAGES, BenchSink
from fcw.types import Detections, Event, Frame, FrameResult


def test_bench_reports_stages_fps_and_machine(tmp_path, shared_dir, models_dir):
    clip = shared_dir / "data" / "udacity-vehicle-detection" / "test_video.mp4"
    out = tmp_path / "bench.json"
    proc = fcw("bench", "--source", clip, "--frames", 20, "--json", out, "--models-dir", models_dir)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["backend"] == "onnxruntime" and report["model"] == "fastestdet"
    assert report["machine"]["cores"] == os.cpu_count()
    stages = report["stages"]
    # "lights" too when the default config runs the traffic-light stage.
    assert {"read", "preprocess", "inference", "postprocess", "detect", "track", "risk",
            "draw"} <= set(stages) <= set(STAGES)
    for v in stages.values():
        assert 0 <= v["median_ms"] <= v["p99_ms"]
    # The detector's total holds its parts. The default pipeline runs the model on a thread of
    # its own, beside the rest, so frames take about the model's time, not the stages' sum (in
    # bursts: a frame whose output waited comes right after the one before, hence the slack).
    assert stages["detect"]["median_ms"] >= stages["inference"]["median_ms"]
    parts = sum(stages[s]["median_ms"] for s in ("preprocess", "inference", "postprocess"))
    assert abs(parts - stages["detect"]["median_ms"]) < 0.25 * stages["detect"]["median_ms"]
    assert report["frame_ms"]["median_ms"] >= 0.5 * stages["inference"]["median_ms"]
    assert report["fps"] == round(1e3 / report["frame_ms"]["median_ms"], 2)
    assert report["frames_measured"] == 20 - 3  # the 3 warm-up frames are not measured
    assert 0 <= report["non_inference_share"] < 1 and report["peak_rss_mb"] > 0
    # CPU time over the measured frames: at least some of each frame's wall time was spent on a
    # core, and no more cores were busy than the machine has.
    assert 0 < report["cpu_ms_per_frame"] and 0 < report["cores_busy"] <= os.cpu_count() + 0.2
    assert "CPU time" in proc.stdout
    assert "fps over" in proc.stdout and "inference" in proc.stdout
    assert report["capture_to_event_ms"]["events"] >= 0 and "capture to event" in proc.stdout


def test_capture_to_event_latency_spans_processing_and_sinks():
    """From the frame leaving the source (stamped by the pipeline) to the bench sink, which
    runs after the events file."""
    sink = BenchSink(("car",), warmup=0)
    for i in range(2):
        read_done = time.perf_counter()
        time.sleep(0.03)  # the stages, then an earlier sink writing the event
        events = (Event("fcw", i / 30, i, {"level": "warning"}),) if i else ()
        sink.write(FrameResult(Frame(i, i / 30, np.zeros((72, 128, 3), np.uint8)),
                               Detections.empty(), events=events, read_done=read_done))
    assert len(sink.event_ms) == 1 and sink.event_ms[0] >= 30.0
    assert sink.report()["capture_to_event_ms"]["events"] == 1


def test_cpu_time_per_frame_counts_work_not_waiting():
    """A frame that burns 10 ms of CPU, then a frame that sleeps 10 ms: CPU time per frame is
    about half the frame time, one core busy half the time."""
    sink = BenchSink(("car",), warmup=0)
    for i in range(41):
        t_end = time.perf_counter() + 0.01
        if i % 2:
            time.sleep(0.01)
        else:
            while time.perf_counter() < t_end:
                pass
        sink.write(FrameResult(Frame(i, i / 30, np.zeros((72, 128, 3), np.uint8)),
                               Detections.empty()))
    report = sink.report()
    assert 3.0 < report["cpu_ms_per_frame"] < 9.0, report
    assert 0.3 < report["cores_busy"] < 0.8, report
