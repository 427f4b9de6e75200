"""The `fcw` command in a real subprocess, on the real clip with the real model."""
import signal
import subprocess
import time
from collections import defaultdict

import cv2
import pytest
from clitools import FCW, fcw

from fcw.sinks.events import read_events


@pytest.fixture(scope="module")
def highway_run(tmp_path_factory, shared_dir, models_dir):
    out = tmp_path_factory.mktemp("run")
    clip = shared_dir / "data" / "udacity-vehicle-detection" / "test_video.mp4"
    proc = fcw("run", "--source", clip, "--headless", "--events", out / "e.jsonl",
               "--record", out / "out.mp4", "--tracks", out / "tracks.txt",
               "--models-dir", models_dir)
    return proc, out


def test_version_and_help():
    from fcw import __version__

    assert fcw("--version").stdout.strip() == f"fcw {__version__}"
    helped = fcw("run", "--help")
    assert helped.returncode == 0 and "--source" in helped.stdout and "--realtime" in helped.stdout


def test_highway_clip_end_to_end(highway_run):
    proc, out = highway_run
    assert proc.returncode == 0, proc.stderr
    records = list(read_events(out / "e.jsonl"))
    start, end = records[0], records[-1]
    assert start["type"] == "start" and start["backend"] == "onnxruntime"
    assert start["model"] == "fastestdet" and len(start["model_sha256"]) == 64
    assert start["config"]["warning"]["warning_ttc_s"] > 0
    assert end["type"] == "end" and end["frames"] == 38 and end["dropped"] == 0
    assert end["frame"] == 37 and end["t"] == pytest.approx(37 / 25, abs=1e-3)
    assert all({"type", "t", "frame"} <= r.keys() for r in records)

    cap = cv2.VideoCapture(str(out / "out.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 38
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(25.0)
    ok, img = cap.read()
    assert ok and img.shape == (720, 1280, 3)
    assert "38/38" in proc.stderr


def test_highway_clip_tracks_both_cars_in_every_frame(highway_run):
    """The black and the white car ahead on the right each keep one track id from confirmation on."""
    _, out = highway_run
    per_frame = defaultdict(dict)
    for line in (out / "tracks.txt").read_text().splitlines():
        f, tid, x, y, w, h, conf, *rest = line.split(",")
        assert rest == ["-1", "-1", "-1"]
        per_frame[int(f)][int(tid)] = (float(x), float(y), float(w), float(h))
    min_hits = 3
    frames = range(min_hits, 39)  # MOT frames are 1-based
    everywhere = set.intersection(*(set(per_frame[f]) for f in frames))
    near = sorted((per_frame[min_hits][t][0], t) for t in everywhere
                  if per_frame[min_hits][t][3] > 60 and per_frame[min_hits][t][0] > 780)
    # By eye, in the first frames: the black car spans x ~ 830-940, the white one x ~ 1040-1280.
    assert len(near) >= 2, near
    (x_black, black), (x_white, white) = near[0], near[-1]
    assert 800 < x_black < 870 and 1000 < x_white < 1080
    for f in frames:
        for tid in (black, white):
            x, y, w, h = per_frame[f][tid]
            assert w > 60 and h > 50, (f, tid, per_frame[f][tid])


def test_no_warning_on_normal_highway_driving(highway_run):
    _, out = highway_run
    levels = [r["level"] for r in read_events(out / "e.jsonl") if r["type"] == "fcw"]
    assert "warning" not in levels


@pytest.mark.parametrize("kind", ["folder", "glob"])
def test_image_folder_and_glob(tmp_path, shared_dir, models_dir, kind):
    images = shared_dir / "data" / "udacity-vehicle-detection" / "test_images"
    source = images if kind == "folder" else images / "test[1-4].jpg"
    proc = fcw("run", "--source", source, "--fps", 5, "--headless", "--no-status",
               "--events", tmp_path / "e.jsonl", "--models-dir", models_dir)
    assert proc.returncode == 0, proc.stderr
    end = list(read_events(tmp_path / "e.jsonl"))[-1]
    n = 6 if kind == "folder" else 4
    assert end["frames"] == n and end["t"] == pytest.approx((n - 1) / 5)


def test_max_frames(tmp_path, shared_dir, models_dir):
    clip = shared_dir / "data" / "udacity-vehicle-detection" / "test_video.mp4"
    proc = fcw("run", "--source", clip, "--max-frames", 5, "--no-status",
               "--events", tmp_path / "e.jsonl", "--models-dir", models_dir)
    assert proc.returncode == 0, proc.stderr
    end = list(read_events(tmp_path / "e.jsonl"))[-1]
    assert end["frames"] == 5 and end["stop_reason"] == "max_frames"


def _one_line_error(proc, code, *needles):
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_missing_source_fails_with_one_line(tmp_path, models_dir):
    missing = tmp_path / "nowhere.mp4"
    _one_line_error(fcw("run", "--source", missing, "--models-dir", models_dir), 1,
                    "source not found", str(missing))


def test_bad_config_exits_2_naming_the_field(tmp_path, shared_dir, models_dir):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("warning:\n  caution_ttc_s: -1\n")
    clip = shared_dir / "data" / "udacity-vehicle-detection" / "test_video.mp4"
    _one_line_error(fcw("run", "--source", clip, "--config", cfg, "--models-dir", models_dir),
                    2, f"{cfg}:2", "warning.caution_ttc_s")


def test_model_with_wrong_hash_is_refused(tmp_path, shared_dir):
    bad = tmp_path / "models" / "fastestdet"
    bad.mkdir(parents=True)
    (bad / "FastestDet.onnx").write_bytes(b"\0" * 998169)
    clip = shared_dir / "data" / "udacity-vehicle-detection" / "test_video.mp4"
    _one_line_error(fcw("run", "--source", clip, "--models-dir", tmp_path / "models",
                        env_extra={"FCW_MODELS_DIR": "", "XDG_CACHE_HOME": str(tmp_path / "c")}),
                    1, "sha256", "FastestDet.onnx")


def test_sigterm_ends_the_run_cleanly(tmp_path, shared_dir, models_dir):
    """A realtime replay stopped by SIGTERM still writes its end record."""
    clip = shared_dir / "data" / "udacity-vehicle-detection" / "test_video.mp4"
    events = tmp_path / "e.jsonl"
    proc = subprocess.Popen([*FCW, "run", "--source", str(clip), "--realtime", "--no-status",
                             "--events", str(events), "--models-dir", str(models_dir)],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (events.exists() and events.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, proc.stderr.read()
    end = list(read_events(events))[-1]
    assert end["type"] == "end" and end["stop_reason"] == "stopped"
    assert 0 < end["frames"] < 38
