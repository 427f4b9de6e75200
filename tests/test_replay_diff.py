"""The replay diff (benchmarks/replay_diff.py): its compare on small hand-written recordings, and
one real record of a sample clip, twice, through the real fcw in a subprocess."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from clitools import HANG_S

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # benchmarks/ is not installed with the package

from benchmarks import replay_diff  # noqa: E402

# The shapes of a real run's records (fcw/app.py, fcw/sinks/events.py, heartbeat.py, warning.py).
START = {"type": "start", "t": 0.0, "frame": 0, "source": "/a/sample_videos/lead_stopped.mp4",
         "fps": 30.0, "frame_count": 133, "fcw_version": "0.1.0", "host": "vm",
         "backend": "onnxruntime", "model": "yolox_nano",
         "model_file": "/a/models/yolox-nano/yolox_nano.onnx",
         "model_derived_file": "/root/.cache/fcw/derived/yolox_nano-e8af074932d4-416x256.onnx",
         "config": {"warning": {"caution_ttc_s": 4.0, "warning_ttc_s": 3.0},
                    "lead_scale": {"enabled": True}}}
EVENTS = [
    START,
    {"type": "geometry", "t": 0.5, "frame": 15, "horizon_y_px": 359.0, "vp_x_px": 640.8},
    {"type": "fcw", "t": 1.933333, "frame": 58, "level": "warning", "track_id": 5,
     "ttc_s": 3.275299410090965, "ttc_sigma_s": 0.670842503232925},
    {"type": "heartbeat", "t": 4.0, "frame": 120, "frames": 121, "fps": 41.2, "dropped": 0,
     "rss_mb": 290.1},
    {"type": "end", "t": 4.4, "frame": 132, "frames": 133, "dropped": 0, "mean_fps": 26.19,
     "stop_reason": "end_of_source"},
]
TRACKS = ["45,5,626.5,356.8,27.8,22.0,0.440,-1,-1,-1",
          "46,5,626.5,356.8,27.8,22.0,0.440,-1,-1,-1",
          "46,7,100.0,350.0,40.0,30.0,0.800,-1,-1,-1"]


def write_recording(d: Path, events: list[dict[str, Any]], tracks: list[str],
                    name: str = "lead_stopped") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.events.jsonl").write_text("".join(json.dumps(r) + "\n" for r in events))
    (d / f"{name}.tracks.txt").write_text("".join(row + "\n" for row in tracks))
    manifest = {"commit": "0" * 40, "options": {"max_frames": None},
                "clips": [{"name": name, "rc": 0, "events": f"{name}.events.jsonl",
                           "tracks": f"{name}.tracks.txt"}]}
    (d / "manifest.json").write_text(json.dumps(manifest))
    return d


def compare(tmp_path: Path, events_b: list[dict[str, Any]], tracks_b: list[str], capsys,
            *opts: str) -> tuple[int, str]:
    a = write_recording(tmp_path / "a", EVENTS, TRACKS)
    b = write_recording(tmp_path / "b", events_b, tracks_b)
    rc = replay_diff.main(["compare", str(a), str(b), *opts])
    return rc, capsys.readouterr().out


def test_identical_recordings_are_the_same(tmp_path, capsys):
    rc, out = compare(tmp_path, EVENTS, TRACKS, capsys)
    assert rc == 0, out
    assert "lead_stopped: same" in out and "1 of 1 clips the same" in out


def test_a_changed_warning_is_named(tmp_path, capsys):
    events = copy.deepcopy(EVENTS)
    events[2]["level"] = "caution"
    rc, out = compare(tmp_path, events, TRACKS, capsys)
    assert rc == 1
    assert "lead_stopped: DIFFERS" in out
    assert "fcw frame 58: level \"warning\" vs \"caution\"" in out


def test_a_ttc_beyond_its_tolerance_differs_and_within_it_does_not(tmp_path, capsys):
    events = copy.deepcopy(EVENTS)
    events[2]["ttc_s"] += 1e-3
    rc, out = compare(tmp_path, events, TRACKS, capsys)
    assert rc == 1 and "fcw frame 58: ttc_s 3.2753 vs 3.2763" in out
    rc, out = compare(tmp_path, events, TRACKS, capsys, "--ttc-tol-s", "0.01")
    assert rc == 0, out


def test_a_changed_box_is_named(tmp_path, capsys):
    tracks = list(TRACKS)
    tracks[1] = "46,5,626.5,356.9,27.8,22.0,0.440,-1,-1,-1"
    rc, out = compare(tmp_path, EVENTS, tracks, capsys)
    assert rc == 1
    assert "tracks row 2 frame 46 id 5: y 356.8 vs 356.9" in out
    rc, out = compare(tmp_path, EVENTS, tracks, capsys, "--box-tol-px", "0.2")
    assert rc == 0, out


def test_a_lost_track_row_or_event_differs(tmp_path, capsys):
    rc, out = compare(tmp_path, EVENTS, TRACKS[:2], capsys)
    assert rc == 1 and "tracks: 3 rows vs 2" in out
    rc, out = compare(tmp_path, EVENTS[:2] + EVENTS[3:], TRACKS, capsys)
    assert rc == 1 and "events #2: fcw frame 58 vs heartbeat frame 120" in out


def test_host_timing_and_path_fields_are_ignored(tmp_path, capsys):
    events = copy.deepcopy(EVENTS)
    events[0].update(host="jetson", fcw_version="0.2.0", source="/b/sample_videos/x.mp4",
                     model_file="/b/m.onnx", model_derived_file="/tmp/cache/m.onnx")
    events[3].update(fps=12.5, rss_mb=401.0)
    events[4]["mean_fps"] = 9.9
    # a stall reported by the watchdog comes with the machine's load, not with fcw's decisions
    events.insert(3, {"type": "stall", "t": 3.0, "frame": 90, "stalled_s": 5.2, "where": "x"})
    rc, out = compare(tmp_path, events, TRACKS, capsys)
    assert rc == 0, out


def test_a_config_change_differs_unless_ignored(tmp_path, capsys):
    events = copy.deepcopy(EVENTS)
    events[0]["config"]["lead_scale"]["enabled"] = False
    rc, out = compare(tmp_path, events, TRACKS, capsys)
    assert rc == 1 and "config.lead_scale.enabled true vs false" in out
    rc, out = compare(tmp_path, events, TRACKS, capsys, "--ignore", "start.config.lead_scale")
    assert rc == 0, out


def test_a_clip_missing_from_one_side_differs(tmp_path, capsys):
    a = write_recording(tmp_path / "a", EVENTS, TRACKS)
    b = write_recording(tmp_path / "b", EVENTS, TRACKS, name="steady_follow")
    assert replay_diff.main(["compare", str(a), str(b)]) == 1
    out = capsys.readouterr().out
    assert "lead_stopped: only in A" in out and "steady_follow: only in B" in out


def test_a_run_that_failed_on_one_side_differs(tmp_path, capsys):
    a = write_recording(tmp_path / "a", EVENTS, TRACKS)
    b = write_recording(tmp_path / "b", [], [])
    manifest = json.loads((b / "manifest.json").read_text())
    manifest["clips"][0]["rc"] = 2  # fcw refused its config: no file written
    (b / "manifest.json").write_text(json.dumps(manifest))
    for p in b.glob("lead_stopped.*"):
        p.unlink()
    assert replay_diff.main(["compare", str(a), str(b)]) == 1
    assert "fcw exit code 0 vs 2" in capsys.readouterr().out


def test_not_a_recording_is_one_line_and_exit_2(tmp_path, capsys):
    a = write_recording(tmp_path / "a", EVENTS, TRACKS)
    assert replay_diff.main(["compare", str(a), str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path / "nothing" / "manifest.json") in err


def test_bad_record_input_is_one_line_and_exit_2(tmp_path, capsys):
    # before any clip is run: not a checkout, an unknown clip, a recording already there
    assert replay_diff.main(["record", str(tmp_path / "r"), "--checkout", str(tmp_path)]) == 2
    assert "not an fcw checkout" in capsys.readouterr().err
    assert replay_diff.main(["record", str(tmp_path / "r"), "--clips", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown clip nope" in err and "lead_stopped" in err
    done = write_recording(tmp_path / "done", EVENTS, TRACKS)
    assert replay_diff.main(["record", str(done), "--clips", "lead_stopped"]) == 2
    assert "--force" in capsys.readouterr().err


def _record(out: Path, models_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "benchmarks.replay_diff", "record", str(out),
                           "--clips", "steady_follow", "--max-frames", "30"],
                          cwd=REPO, env={**os.environ, "FCW_MODELS_DIR": str(models_dir)},
                          capture_output=True, text=True, timeout=HANG_S, check=False)


def test_two_real_records_of_a_sample_clip_are_the_same(tmp_path, models_dir):
    for side in ("a", "b"):
        proc = _record(tmp_path / side, models_dir)
        assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert Path(manifest["fcw_imported_from"]).is_relative_to(REPO)
    # Not vacuous: steady_follow's lead is confirmed within the first 30 frames.
    rows = (tmp_path / "a" / "steady_follow.tracks.txt").read_text().splitlines()
    assert len(rows) >= 20
    proc = subprocess.run([sys.executable, "-m", "benchmarks.replay_diff", "compare",
                           str(tmp_path / "a"), str(tmp_path / "b")], cwd=REPO,
                          capture_output=True, text=True, timeout=HANG_S, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "steady_follow: same" in proc.stdout
    # ... and the same compare sees one box moved in B's real track file
    moved = rows[10].split(",")
    moved[2] = f"{float(moved[2]) + 1:.1f}"
    (tmp_path / "b" / "steady_follow.tracks.txt").write_text(
        "\n".join(rows[:10] + [",".join(moved)] + rows[11:]) + "\n")
    assert replay_diff.main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
