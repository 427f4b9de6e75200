"""The `fcw` command in a real subprocess, on the real clip with the real model."""
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import pytest
from clitools import FCW, HANG_S, fcw

from fcw.sinks.events import read_events
from fcw.sources.live import has_gstreamer


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


def _parsers(parser, path=("fcw",)):
    """(command path, parser) for the parser and every sub-command's, depth first."""
    import argparse

    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_option_of_every_command_has_help():
    import argparse

    from fcw.cli import COMMANDS, build_parser

    parser = build_parser()
    missing, seen = [], set()
    for path, p in _parsers(parser):
        seen.add(path)
        for action in p._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{' '.join(path)} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []
    assert {("fcw", name) for name in COMMANDS} <= seen
    # `fcw --help` lists each command from COMMANDS without importing it: the same words.
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    listed = {a.dest: a.help for a in sub._choices_actions}
    assert listed == {name: help_text for name, (_, help_text) in COMMANDS.items()}


def test_top_level_help_imports_no_heavy_library():
    """`fcw --help` answers at once because it imports none of the libraries a run needs (a
    check on what is imported, not on a time, which moves with the machine's load)."""
    code = ("import sys; from fcw.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = ['cv2', 'numpy', 'onnxruntime', 'scipy', 'filterpy', 'pydantic', 'yaml',"
            " 'PyQt6', 'engines.backends', 'fcw.app']\n"
            "print('heavy:', *[m for m in heavy if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=HANG_S)
    assert proc.returncode == 0, proc.stderr
    assert "usage: fcw" in proc.stdout and "demo" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "heavy:"
    # The command that runs gets its full parser.
    helped = fcw("render", "--help")
    assert helped.returncode == 0 and "--seed" in helped.stdout and "textures" in helped.stdout


def test_nothing_imports_the_cli():
    """The CLI is the composition root: the core and the overlay import nothing from it."""
    import re

    root = Path(__file__).resolve().parent.parent
    offenders = [str(f.relative_to(root)) for pkg in ("fcw", "ui", "engines")
                 for f in (root / pkg).rglob("*.py")
                 if not f.is_relative_to(root / "fcw" / "cli") and f.name != "__main__.py"
                 and re.search(r"^\s*(from fcw\.cli\b|import fcw\.cli\b)", f.read_text(),
                               re.M)]
    assert offenders == []


@pytest.mark.parametrize("option, value, says", [
    ("--gt-miss-rate", "2", "must be between 0 and 1, got 2"),
    ("--gt-noise-px", "-1", "must be >= 0, got -1"),
    ("--gt-false-rate", "lots", "expected a number, got 'lots'"),
])
def test_bad_ground_truth_option_is_one_line_exit_2(option, value, says):
    proc = fcw("run", "--source", "x.mp4", "--gt-boxes", "x.labels.json", option, value)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == f"fcw run: error: argument {option}: {says}"


@pytest.mark.skipif(has_gstreamer(), reason="this OpenCV has GStreamer")
def test_gstreamer_source_without_gstreamer_says_what_to_install(tmp_path):
    proc = fcw("run", "--source", "nvarguscamerasrc sensor-id=0 ! nvvidconv ! appsink",
               "--headless", "--events", tmp_path / "e.jsonl")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "GStreamer" in lines[0] and "JetPack's OpenCV" in lines[0], lines
    assert lines[0].startswith("fcw: error:")


def test_gstreamer_is_read_from_the_build_information():
    assert has_gstreamer("  Video I/O:\n    GStreamer:                   YES (1.20.3)\n")
    assert not has_gstreamer("  Video I/O:\n    GStreamer:                   NO\n")
    assert has_gstreamer() == ("GStreamer" in cv2.getBuildInformation()
                               and "YES" in next(line for line in cv2.getBuildInformation()
                                                 .splitlines() if "GStreamer" in line))


def test_highway_clip_end_to_end(highway_run):
    proc, out = highway_run
    assert proc.returncode == 0, proc.stderr
    records = list(read_events(out / "e.jsonl"))
    start, end = records[0], records[-1]
    assert start["type"] == "start" and start["backend"] == "onnxruntime"
    assert start["model"] == "yolox_nano" and len(start["model_sha256"]) == 64  # the default
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
    """The black and the white car ahead on the right each keep one track id from confirmation
    on."""
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
    bad = tmp_path / "models" / "yolox-nano"  # the default model
    bad.mkdir(parents=True)
    (bad / "yolox_nano.onnx").write_bytes(b"\0" * 3678356)
    clip = shared_dir / "data" / "udacity-vehicle-detection" / "test_video.mp4"
    _one_line_error(fcw("run", "--source", clip, "--models-dir", tmp_path / "models",
                        env_extra={"FCW_MODELS_DIR": "", "XDG_CACHE_HOME": str(tmp_path / "c")}),
                    1, "sha256", "yolox_nano.onnx")


def test_sigterm_ends_the_run_cleanly(tmp_path, models_dir):
    """A realtime replay stopped by SIGTERM still writes its end record. The signal is sent
    once a heartbeat shows frames flowing (not after a guessed delay: the models load slower
    on a busy machine)."""
    clip = Path(__file__).resolve().parent.parent / "sample_videos" / "lead_stopped.mp4"
    events, cfg = tmp_path / "e.jsonl", tmp_path / "beat.yaml"
    cfg.write_text("output:\n  heartbeat_s: 0.2\n")
    proc = subprocess.Popen([*FCW, "run", "--source", str(clip), "--realtime", "--no-status",
                             "--headless", "--config", str(cfg), "--events", str(events),
                             "--models-dir", str(models_dir)],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not (
            events.exists() and '"heartbeat"' in events.read_text()):
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=HANG_S) == 0, proc.stderr.read()
    end = list(read_events(events))[-1]
    assert end["type"] == "end" and end["stop_reason"] == "stopped"
    assert 0 < end["frames"] < 133
