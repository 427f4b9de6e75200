"""`fcw batch` on a local Ray, in real subprocesses: rendered scenarios, the real highway clip and a
corrupt file; a run killed half-way and resumed; a diff between two warning thresholds."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from clitools import FCW, HANG_S, fcw

from fcw.errors import SourceError
from fcw.sinks.events import read_events

pytest.importorskip("ray")
pytest.importorskip("pyarrow")

SCENES = ("lead_stopped", "steady_follow")  # one that must warn, one that must not


def _session_pids(sid: int) -> list[int]:
    """The processes of the session the test started (the batch and the Ray it spawned)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # Fields after the ")" closing the command name: state ppid pgrp session ...
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[3]) == sid:
                pids.append(int(entry.name))
    return pids


def _kill_session(proc: subprocess.Popen) -> None:
    # The batch's process group first, then Ray's actors, which run in process groups of their
    # own in the same session: they would die within seconds of losing the raylet, but must not
    # outlive the test.
    for kill, pid in [(os.killpg, proc.pid), *((os.kill, p) for p in _session_pids(proc.pid))]:
        try:
            kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def _summaries(out: Path) -> dict[str, dict]:
    found = {}
    for path in (out / "drives").glob("*/summary.json"):
        found[path.parent.name] = json.loads(path.read_text())
    return found


def _frame_count(video: Path) -> int:
    return int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT))


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, rendered, shared_dir, models_dir):
    """Drives as a fleet hands them over: a folder, a manifest and a single (corrupt) file."""
    root = tmp_path_factory.mktemp("fleet")
    for name in SCENES:
        (root / "scenes").mkdir(exist_ok=True)
        shutil.copy(rendered(name), root / "scenes" / f"{name}.mp4")
    highway = shared_dir / "data" / "udacity-vehicle-detection" / "test_video.mp4"
    (root / "drives.txt").write_text(f"# the real clip\n\n{highway}\n")
    (root / "bad").mkdir()
    (root / "bad" / "corrupt.mp4").write_text("this is not a video\n")
    args = [root / "scenes", root / "drives.txt", root / "bad" / "corrupt.mp4"]
    videos = {f"{n}.mp4": root / "scenes" / f"{n}.mp4" for n in SCENES}
    videos["test_video.mp4"] = highway
    return {"root": root, "args": args, "videos": videos, "models_dir": models_dir}


def _drive(out: Path, stem: str) -> Path:
    (d,) = (out / "drives").glob(f"{stem}-*")
    return d


@pytest.fixture(scope="module")
def resumed(fleet, tmp_path_factory):
    """A one-worker batch killed (SIGKILL, whole process group) once a drive is done, then rerun."""
    out = tmp_path_factory.mktemp("batch") / "out"
    cmd = [*FCW, "batch", *map(str, fleet["args"]), "--out", str(out), "--workers", "1",
           "--models-dir", str(fleet["models_dir"]), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + HANG_S
        while not any(s["status"] == "ok" for s in _summaries(out).values()):
            assert proc.poll() is None, (
                f"batch ended before it could be killed: {proc.stderr.read()}")
            assert time.monotonic() < deadline, f"no drive finished within {HANG_S:.0f} s"
            time.sleep(0.05)
    finally:
        _kill_session(proc)
    at_kill = _summaries(out)
    done = {k for k, s in at_kill.items() if s["status"] == "ok"}
    mtimes = {k: (out / "drives" / k / "summary.json").stat().st_mtime_ns for k in done}
    rerun = fcw(*cmd[len(FCW):])
    return {"out": out, "done": done, "mtimes": mtimes, "at_kill": at_kill, "rerun": rerun,
            "cmd": cmd}


def test_killed_batch_resumes_only_what_is_missing(resumed):
    out, done, rerun = resumed["out"], resumed["done"], resumed["rerun"]
    assert 1 <= len(done) < 3, "the kill must fall between the first and the last drive"
    assert rerun.returncode == 1, rerun.stderr  # the corrupt drive failed
    m = re.search(r"4 drives: ran (\d+), skipped (\d+) \(complete\), failed (\d+)", rerun.stdout)
    assert m, rerun.stdout
    assert (int(m[1]), int(m[2]), int(m[3])) == (4 - len(done), len(done), 1)
    for drive in done:  # finished before the kill: neither replayed nor rewritten
        summary = out / "drives" / drive / "summary.json"
        assert summary.stat().st_mtime_ns == resumed["mtimes"][drive]
        assert drive not in rerun.stdout
    ran = set(_summaries(out)) - done
    assert len(ran) == 4 - len(done)
    for drive in ran:  # one line each, in the rerun's report
        assert re.search(rf"^(ok|FAILED) +{re.escape(drive)} ", rerun.stdout, re.M)
    assert not list(out.rglob("*.partial*")), "a killed drive's partial files must be gone"
    # One worker process replayed every drive of the rerun, its model loaded once.
    summaries = _summaries(out)
    workers = {summaries[d]["worker"] for d in ran}
    assert len(workers) == 1
    assert sorted(summaries[d]["worker_drive"] for d in ran) == list(range(1, len(ran) + 1))


def test_every_output_of_the_batch(resumed, fleet):
    from fcw.batch.runner import load_batch_config

    default_model = load_batch_config().detector.model
    out = resumed["out"]
    summaries = _summaries(out)
    assert len(summaries) == 4
    for name, video in fleet["videos"].items():
        d = _drive(out, Path(name).stem)
        s = summaries[d.name]
        records = list(read_events(d / "events.jsonl"))
        start, end = records[0], records[-1]
        assert s["status"] == "ok" and s["error"] is None
        assert start["type"] == "start" and start["source"] == str(video.resolve())
        assert start["config"]["alert"]["enabled"] is False  # a replay never beeps
        assert end["type"] == "end" and end["stop_reason"] == "end_of_source"
        assert s["frames"] == end["frames"] == _frame_count(video) and s["dropped"] == 0
        assert s["fps"] > 0 and s["duration_s"] == pytest.approx(end["t"], abs=1e-3)
        warnings = [r["t"] for r in records if r["type"] == "fcw" and r["level"] == "warning"]
        assert s["warnings"] == len(warnings) and s["warning_times_s"] == warnings
        assert s["light_changes"] == sum(r["type"] == "traffic_light" for r in records)
        assert s["model"] == default_model and s["model_sha256"] == start["model_sha256"]
        assert s["backend"] == start["backend"] == "onnxruntime"
        rows = (d / "tracks.txt").read_text().splitlines()
        assert rows and all(len(r.split(",")) == 10 for r in rows)
        assert max(int(r.split(",")[0]) for r in rows) <= s["frames"]
    assert summaries[_drive(out, "lead_stopped").name]["warnings"] >= 1
    assert summaries[_drive(out, "steady_follow").name]["warnings"] == 0

    bad = summaries[_drive(out, "corrupt").name]
    assert bad["status"] == "failed" and "corrupt.mp4" in bad["error"] and bad["frames"] == 0
    assert "FAILED" in resumed["rerun"].stdout and "corrupt.mp4" in resumed["rerun"].stdout

    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    for table in (pq.read_table(out / "results.parquet"), pcsv.read_csv(out / "results.csv")):
        rows = {r["drive"]: r for r in table.to_pylist()}
        assert rows.keys() == summaries.keys()
        for drive, s in summaries.items():
            assert (rows[drive]["status"], rows[drive]["frames"], rows[drive]["warnings"]) == \
                (s["status"], s["frames"], s["warnings"])
    batch = json.loads((out / "batch.json").read_text())
    assert batch["config"]["warning"]["warning_ttc_s"] == 3.0 and batch["drives"] == 4


def test_batch_replays_like_fcw_run(resumed, fleet, tmp_path):
    """The same events and tracks as `fcw run` on the same clip: one code path."""
    video = fleet["videos"]["test_video.mp4"]
    proc = fcw("run", "--source", video, "--headless", "--no-status", "--events",
               tmp_path / "e.jsonl", "--tracks", tmp_path / "t.txt", "--models-dir",
               fleet["models_dir"])
    assert proc.returncode == 0, proc.stderr
    d = _drive(resumed["out"], "test_video")

    def behaviour(path: Path) -> list[dict]:  # not the wall-clock records (heartbeat, stall)
        return [r for r in read_events(path) if r["type"] in ("fcw", "traffic_light")]

    assert behaviour(d / "events.jsonl") == behaviour(tmp_path / "e.jsonl")
    assert (d / "tracks.txt").read_text() == (tmp_path / "t.txt").read_text()


def test_complete_batch_reruns_without_ray_until_its_key_changes(resumed, fleet, tmp_path):
    from engines.spec import load_spec
    from fcw.batch.drives import expand_drives
    from fcw.batch.keys import (
        config_sha256,
        drive_identity,
        is_complete,
        model_identity,
        resume_key,
    )
    from fcw.batch.runner import load_batch_config

    scenes, out = fleet["root"] / "scenes", tmp_path / "out"
    shutil.copytree(resumed["out"], out)  # the drive folders hold the keys, wherever they are
    # With Ray made unimportable: nothing is left to replay, so Ray is not even imported.
    code = ("import sys; sys.modules['ray'] = None; from fcw.cli import main; "
            f"sys.exit(main(['batch', {str(scenes)!r}, '--out', {str(out)!r}, '--no-progress']))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=HANG_S)
    assert proc.returncode == 0, proc.stderr
    assert "2 drives: ran 0, skipped 2 (complete), failed 0" in proc.stdout

    cfg = load_batch_config()
    late = cfg.model_copy(update={"warning": cfg.warning.model_copy(update={"warning_ttc_s": 1.0})})
    model = model_identity(load_spec(cfg.detector.model))
    drive = expand_drives([scenes / "steady_follow.mp4"])[0]
    key = resume_key(config_sha256(cfg), model, drive_identity(drive))
    assert is_complete(out, drive, key)
    assert not is_complete(out, drive, resume_key(config_sha256(late), model,
                                                  drive_identity(drive)))
    path, st = Path(drive.source), Path(drive.source).stat()
    try:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the recorder rewrote it
        assert resume_key(config_sha256(cfg), model, drive_identity(drive)) != key
    finally:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_diff_between_two_warning_thresholds(resumed, fleet, tmp_path):
    (tmp_path / "late.yaml").write_text("warning:\n  warning_ttc_s: 1.0\n")
    new = tmp_path / "late"
    proc = fcw("batch", *fleet["args"], "--out", new, "--config", tmp_path / "late.yaml",
               "--workers", "2", "--models-dir", fleet["models_dir"], "--no-progress",
)
    assert proc.returncode == 1 and "ran 4, skipped 0" in proc.stdout, proc.stdout + proc.stderr
    old = resumed["out"]
    diff = fcw("batch", "--diff", old, new)
    assert diff.returncode == 0, diff.stderr
    report = json.loads((new / "diff.json").read_text())
    changes = {c["drive"].rsplit("-", 1)[0]: c for c in report["changes"]}
    assert report["settings_changed"] == ["warning.warning_ttc_s: 3.0 -> 1.0"]

    stopped = changes["lead_stopped"]
    old_times = _summaries(old)[_drive(old, "lead_stopped").name]["warning_times_s"]
    assert stopped["status"] == "changed" and stopped["new_warnings"] == 0
    assert stopped["removed_s"] == old_times and old_times and stopped["added_s"] == []
    assert changes["steady_follow"]["status"] == "same"
    assert changes["steady_follow"]["old_warnings"] == changes["steady_follow"]["new_warnings"] == 0
    assert changes["corrupt"]["status"] == "failed"
    real = changes["test_video"]  # whatever the real clip does, the diff must report it truly
    times = [_summaries(run)[_drive(run, "test_video").name]["warning_times_s"]
             for run in (old, new)]
    assert (real["status"] == "same") == (times[0] == times[1])
    assert report["changed"] == 1 + (real["status"] == "changed")

    table = diff.stdout.splitlines()
    row = rf"lead_stopped-\w+ +changed +{len(old_times)} +0 +- +"
    assert any(re.match(row, line) for line in table)
    assert not any(row.startswith("steady_follow") for row in table)
    assert "settings: warning.warning_ttc_s: 3.0 -> 1.0" in table


def test_drive_ids_are_stable_and_unique(tmp_path):
    from fcw.batch.drives import expand_drives

    for folder in ("cam1", "cam2", "cam2/.trash"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "0001.mp4").write_bytes(b"x")
    (tmp_path / "cam1" / "notes.txt").write_text("not a drive\n")
    (tmp_path / "m.txt").write_text(
        "# fleet\ncam1/0001.mp4\n\nhttps://u:secret@fleet.example/d/0001.mp4?sig=1\n")
    by_folder = expand_drives([tmp_path / "cam1", tmp_path / "cam2"])
    assert len(by_folder) == 2 and len({d.id for d in by_folder}) == 2  # hidden folders skipped
    assert all(d.id.startswith("0001-") for d in by_folder)
    again = expand_drives([tmp_path / "m.txt", tmp_path / "cam1" / "0001.mp4"])
    assert again[0] == by_folder[0] and len(again) == 2  # same file, same id, listed once
    url = again[1]
    assert url.is_url and url.source.startswith("https://u:secret@") and "secret" not in url.name
    assert re.fullmatch(r"0001-[0-9a-f]{8}", url.id) and url.id != by_folder[0].id
    with pytest.raises(SourceError, match="nothing.mp4"):
        expand_drives([tmp_path / "nothing.mp4"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="no video files"):
        expand_drives([tmp_path / "empty"])


def test_warnings_match_within_the_tolerance():
    from fcw.batch.diff import match_times

    assert match_times([2.0, 9.0], [2.3, 12.0], 0.5) == ((12.0,), (9.0,))
    assert match_times([2.0], [1.6, 2.1], 0.5) == ((1.6,), ())  # the closest pair matches
    assert match_times([], [], 0.5) == ((), ())


def test_without_ray_one_line_names_the_extra(tmp_path, fleet):
    code = ("import sys; sys.modules['ray'] = None; from fcw.cli import main; "
            f"sys.exit(main(['batch', {str(fleet['videos']['test_video.mp4'])!r}, '--out', "
            f"{str(tmp_path)!r}]))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=HANG_S)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "fcw: error: fcw batch needs ray: pip install 'fcw[batch]'"
    # and `fcw run` never imports Ray
    code = ("import sys; from fcw.cli import build_parser; build_parser(); "
            "import fcw.cli.run, fcw.app; sys.exit('ray' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], timeout=HANG_S).returncode == 0
