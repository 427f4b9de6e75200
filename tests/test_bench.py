"""`fcw bench` in a subprocess: a report with every stage, consistent with itself."""
import json
import os

from clitools import fcw


def test_bench_reports_stages_fps_and_machine(tmp_path, shared_dir, models_dir):
    clip = shared_dir / "data" / "udacity-vehicle-detection" / "test_video.mp4"
    out = tmp_path / "bench.json"
    proc = fcw("bench", "--source", clip, "--frames", 20, "--json", out, "--models-dir", models_dir)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    assert report["backend"] == "onnxruntime" and report["model"] == "fastestdet"
    assert report["machine"]["cores"] == os.cpu_count()
    stages = report["stages"]
    assert set(stages) == {"read", "inference", "decode", "detect", "track", "risk", "draw"}
    for v in stages.values():
        assert 0 <= v["median_ms"] <= v["p99_ms"]
    # The detector's total holds its parts; a frame takes at least its stages.
    assert stages["detect"]["median_ms"] >= stages["inference"]["median_ms"]
    assert report["frame_ms"]["median_ms"] >= stages["detect"]["median_ms"]
    assert report["fps"] == round(1e3 / report["frame_ms"]["median_ms"], 2)
    assert report["frames_measured"] == 20 - 3  # the 3 warm-up frames are not measured
    assert 0 < report["non_inference_share"] < 1 and report["peak_rss_mb"] > 0
    assert "fps over" in proc.stdout and "inference" in proc.stdout
