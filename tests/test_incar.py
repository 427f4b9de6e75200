"""The headless in-car mode: a log that rotates and survives a full disk, heartbeats, the
audible alert, flat memory over long runs, and exit codes a supervisor can act on."""
from __future__ import annotations

import errno
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from clitools import fcw

from fcw.app import RunOptions, build_pipeline
from fcw.config import AlertConfig, load_config
from fcw.errors import EXIT_SOURCE_LOST
from fcw.pipeline import Pipeline
from fcw.runtime import SourceLost, exit_code, run_pipeline
from fcw.sinks.alert import AudibleAlert
from fcw.sinks.base import RunSummary, Sink
from fcw.sinks.events import EventLog, read_events
from fcw.sinks.heartbeat import rss_mb
from fcw.sources import FrameSource, LiveSource, VideoFileSource
from fcw.types import Detections, Event, Frame, FrameResult, Risk, Tracks, WarningLevel

REPO = Path(__file__).resolve().parent.parent
IMG = np.zeros((8, 8, 3), np.uint8)


def clip(shared_dir):
    return shared_dir / "data" / "udacity-vehicle-detection" / "test_video.mp4"


def warning_result(index):
    event = Event("fcw", index / 10, index, {"level": "warning", "track_id": 1})
    return FrameResult(Frame(index, index / 10, IMG), Detections.empty(), events=(event,))


class NoDetector:
    def update(self, frame):
        return Detections.empty()


class NoTracker:
    def update(self, t_s, detections):
        return Tracks.empty()


class WarnEvery:
    """A risk stage that raises a warning on every n-th frame."""

    def __init__(self, n):
        self.n = n

    def update(self, frame, tracks, light=None, geometry=None):
        if frame.index % self.n:
            return Risk(), []
        return Risk(), [Event("fcw", frame.t_s, frame.index, {"level": "warning"})]


class Collect(Sink):
    def __init__(self):
        self.frames = 0
        self.summary = None

    def write(self, result):
        self.frames += 1

    def finish(self, summary):
        self.summary = summary


class ListCapture:
    """A capture for LiveSource: ``n`` frames, then the end of the stream (or a failure)."""

    def __init__(self, n, fail=False):
        self.left, self.fail = n, fail

    def read(self):
        if self.left == 0:
            if self.fail:
                raise OSError("cable pulled")
            return False, None
        self.left -= 1
        time.sleep(0.002)  # a camera's pace, so the consumer takes most frames
        return True, IMG.copy()

    def release(self):
        pass


# --- events file: rotation and write errors ---------------------------------------------------

def _files(path):
    """The current file, then .1, .2 ... (newest to oldest)."""
    def age(f):
        return int(f.suffix[1:]) if f.name != path.name else 0
    return sorted(path.parent.glob(path.name + "*"), key=age)


def test_rotation_keeps_whole_lines_and_every_record(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path, {"source": "x"}, max_bytes=800, keep=100) as log:
        for i in range(300):
            log.write(warning_result(i))
        log.finish(RunSummary(300, 0, 10.0, 29.9, 299))
    files = _files(path)
    assert len(files) > 5
    records = []
    for f in files:
        text = f.read_text()
        assert text.endswith("\n") and f.stat().st_size <= 800
        lines = [json.loads(line) for line in text.splitlines()]  # each line whole JSON
        if f != files[-1]:
            # Every file but the run's first opens with the run's start record inside a rotate.
            assert lines[0]["type"] == "rotate" and lines[0]["start"]["source"] == "x"
        records += lines
    kinds = [r["type"] for r in records]
    assert kinds.count("start") == 1 and kinds.count("end") == 1 and kinds.count("fcw") == 300
    # Oldest file has the highest suffix; read back in order, frames are in sequence.
    in_order = [r["frame"] for f in reversed(files) for r in read_events(f) if r["type"] == "fcw"]
    assert in_order == list(range(300))


def test_rotation_drops_files_beyond_keep(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventLog(path, {"source": "x"}, max_bytes=500, keep=2) as log:
        for i in range(200):
            log.write(warning_result(i))
    assert [f.name for f in _files(path)] == ["events.jsonl", "events.jsonl.1", "events.jsonl.2"]
    last = [r["frame"] for r in read_events(path) if r["type"] == "fcw"]
    assert last[-1] == 199


def test_full_disk_is_reported_once_and_the_run_goes_on(tmp_path, caplog):
    """/dev/full accepts the open and fails every write with ENOSPC."""
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("/dev/full not available")
    import cv2

    from fcw.sources import ImageSequenceSource

    paths = []
    for i in range(6):
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), IMG)
    log, seen = EventLog(full, {"source": "imgs"}), Collect()
    alert = AudibleAlert([sys.executable, "-c", "pass"])
    pipeline = Pipeline(ImageSequenceSource(paths, 10.0, "imgs"), NoDetector(), NoTracker(),
                        WarnEvery(2), sinks=[alert, log, seen])
    with caplog.at_level(logging.ERROR, logger="fcw.sinks.events"):
        summary = pipeline.run()
    assert summary.stop_reason == "end_of_source" and seen.frames == 6
    assert alert.started == 3  # the warnings still went out
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "/dev/full" in errors[0].getMessage()
    assert "\n" not in errors[0].getMessage()
    assert log.lost_records == 1 + 3 + 1  # start, three warnings and the end record, attempted


def test_a_failed_write_recovers_with_whole_lines(tmp_path, caplog):
    path = tmp_path / "e.jsonl"

    class FailOnce:
        def __init__(self, f):
            self.f = f

        def write(self, text):
            self.f.write(text[:5])  # half a line reached the disk before the error
            self.f.flush()
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.f, name)

    log = EventLog(path, {"source": "x"})
    log._f = FailOnce(log._f)
    with caplog.at_level(logging.WARNING, logger="fcw.sinks.events"):
        log.write(warning_result(1))
        log.write(warning_result(2))
        log.finish(RunSummary(3, 0, 10.0, 0.2, 2))
    log.close()
    records = list(read_events(path))
    assert [r["type"] for r in records] == ["start", "fcw", "end"]
    assert records[1]["frame"] == 2 and records[-1]["lost_records"] == 1
    assert any("writable again" in r.getMessage() for r in caplog.records)


# --- heartbeat ---------------------------------------------------------------------------------

def test_heartbeats_on_frame_time_in_a_real_replay(tmp_path, shared_dir, models_dir):
    cfg = tmp_path / "hb.yaml"
    cfg.write_text("output:\n  heartbeat_s: 0.5\n  status_line: false\n")
    proc = fcw("run", "--source", clip(shared_dir), "--config", cfg, "--headless",
               "--events", tmp_path / "e.jsonl", "--models-dir", models_dir)
    assert proc.returncode == 0, proc.stderr
    beats = [r for r in read_events(tmp_path / "e.jsonl") if r["type"] == "heartbeat"]
    # 25 fps, 38 frames (t = 0 ... 1.48): the first frames at or past 0.5 s and 1.0 s.
    assert [(b["frame"], b["t"]) for b in beats] == [(13, 0.52), (25, 1.0)]
    assert [b["frames"] for b in beats] == [14, 26]
    assert all(b["fps"] > 0 and b["dropped"] == 0 and 20 < b["rss_mb"] < 8000 for b in beats)
    lines = [line for line in proc.stderr.splitlines() if line.startswith("fcw: heartbeat")]
    assert len(lines) == 2 and "frame=13" in lines[0]


# --- audible alert -----------------------------------------------------------------------------

def test_alert_command_runs_once_per_warning_without_blocking(tmp_path, models_dir):
    beeps, gate = tmp_path / "beeps.txt", tmp_path / "gate"
    # Each player writes "beep", then holds on until the test opens the gate after the run:
    # had a frame waited for a player, the run could not have ended (no timing involved).
    command = [sys.executable, "-c",
               "import pathlib, sys, time\n"
               f"open({str(beeps)!r}, 'a').write('beep\\n')\n"
               "t = time.monotonic()\n"
               f"while not pathlib.Path({str(gate)!r}).exists() and time.monotonic() - t < 300:\n"
               "    time.sleep(0.02)\n"
               f"open({str(beeps)!r}, 'a').write('done\\n')\n"]
    cfg = load_config(overrides={"alert.command": command})
    events = tmp_path / "e.jsonl"
    sample = str(REPO / "sample_videos" / "lead_stopped.mp4")
    pipeline = build_pipeline(cfg, RunOptions(source=sample, events=events, models_dir=models_dir,
                                              status=False))
    alert = next(s for s in pipeline.sinks if isinstance(s, AudibleAlert))
    pipeline.run()
    warnings = [r for r in read_events(events) if r["type"] == "fcw" and r["level"] == "warning"]
    assert len(warnings) >= 1 and alert.started == len(warnings)
    assert not gate.exists()
    assert "done" not in (beeps.read_text() if beeps.exists() else "")  # still held at the gate
    gate.touch()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not beeps.exists() or
                                           beeps.read_text().count("done") < len(warnings)):
        time.sleep(0.05)
    assert beeps.read_text().count("beep") == beeps.read_text().count("done") == len(warnings)


def test_no_player_or_no_sound_device_is_silent(tmp_path):
    for alert in (AudibleAlert.from_config(AlertConfig(), which=lambda name: None),
                  AudibleAlert.from_config(AlertConfig(), which=lambda name: "/usr/bin/aplay",
                                           sound_devices=tmp_path / "no-snd"),
                  AudibleAlert.from_config(AlertConfig(enabled=False))):
        with alert:
            alert.write(warning_result(1))
        assert alert.started == 0


def test_builtin_beep_and_a_missing_command_never_crash(tmp_path, caplog):
    import wave

    player = "/bin/true"  # accepts and ignores "-q beep.wav": a player that needs no sound card
    alert = AudibleAlert.from_config(AlertConfig(),
                                     which=lambda name: player if name == "aplay" else None,
                                     sound_devices=tmp_path)
    wav = Path(alert._command[-1])
    with wave.open(str(wav)) as w:
        assert w.getnframes() / w.getframerate() == pytest.approx(0.3)
    with alert:
        alert.write(warning_result(1))
    assert alert.started == 1 and not wav.exists()

    broken = AudibleAlert(["/nonexistent/player", "x.wav"])
    with caplog.at_level(logging.DEBUG, logger="fcw.sinks.alert"), broken:
        for i in range(3):
            broken.write(warning_result(i))
    assert broken.started == 0
    assert sum(r.levelno == logging.WARNING for r in caplog.records) == 1


# --- exit codes --------------------------------------------------------------------------------

def test_exit_codes():
    def summary(reason, error=None):
        return RunSummary(10, 0, 10.0, 1.0, 9, error=error, stop_reason=reason)

    assert exit_code(summary("end_of_source"), live=False) == 0
    assert exit_code(summary("end_of_source"), live=True) == EXIT_SOURCE_LOST == 3
    assert exit_code(summary("stopped"), live=True) == 0
    assert exit_code(summary("max_frames"), live=True) == 0
    assert exit_code(summary("error", "RuntimeError: x"), live=False) == 1


def test_a_live_source_that_ends_exits_3():
    source = LiveSource(lambda: ListCapture(5), name="test camera")
    seen = Collect()
    assert run_pipeline(Pipeline(source, NoDetector(), sinks=[seen])) == 3
    assert seen.summary.stop_reason == "end_of_source" and seen.frames >= 1


def test_a_live_source_stopped_by_a_signal_exits_0():
    import os
    import signal

    class SignalAfter(Collect):
        def write(self, result):
            super().write(result)
            if self.frames == 2:
                os.kill(os.getpid(), signal.SIGTERM)  # as systemd stops the service

    source = LiveSource(lambda: ListCapture(10_000), name="test camera")
    seen = SignalAfter()
    assert run_pipeline(Pipeline(source, NoDetector(), sinks=[seen])) == 0
    assert seen.summary.stop_reason == "stopped"


def test_a_live_source_that_fails_is_source_lost():
    source = LiveSource(lambda: ListCapture(3, fail=True), name="test camera")
    with pytest.raises(SourceLost) as err:
        run_pipeline(Pipeline(source, NoDetector()))
    assert err.value.exit_code == 3 and "cable pulled" in str(err.value)


# --- bounded memory ----------------------------------------------------------------------------

class ReplayedClip(FrameSource):
    """A video file played ``times`` times back to back, time and index running on."""

    def __init__(self, path, times):
        super().__init__(f"{path} x{times}")
        self.path, self.times = path, times
        self.current = None

    @property
    def fps(self):
        return 25.0

    def __iter__(self):
        t0, i0 = 0.0, 0
        for _ in range(self.times):
            self.current = VideoFileSource(self.path)
            with self.current:
                for frame in self.current:
                    yield Frame(i0 + frame.index, t0 + frame.t_s, frame.image)
                    last = frame
            t0, i0 = t0 + last.t_s + 1 / 25, i0 + last.index + 1

    def close(self):
        if self.current is not None:
            self.current.close()


class MemoryAtLoopEnd(Sink):
    def __init__(self, frames_per_loop):
        self.n, self.mb = frames_per_loop, []

    def write(self, result):
        if result.frame.index % self.n == self.n - 1:
            self.mb.append(rss_mb())


def test_memory_stays_flat_over_repeated_replays(tmp_path, shared_dir, models_dir):
    loops = 6
    cfg = load_config(overrides={"output.heartbeat_s": 0.5})
    pipeline = build_pipeline(cfg, RunOptions(source="", events=tmp_path / "e.jsonl",
                                              tracks=tmp_path / "t.txt", models_dir=models_dir,
                                              status=False),
                              source=ReplayedClip(clip(shared_dir), loops))
    memory = MemoryAtLoopEnd(38)
    pipeline.sinks.append(memory)
    summary = pipeline.run()
    assert summary.frames == 38 * loops and len(memory.mb) == loops
    # After a loop of warm-up nothing may grow with the frames: a leak of 50 kB a frame adds
    # 1.9 MB to every loop. A one-off step (an allocator arena or an ONNX Runtime buffer taken
    # late, which on a busy machine can come in any loop: 5.1 MB once, then flat) is not a
    # leak, so the typical growth from loop to loop is judged, not the largest.
    per_loop_mb = np.diff(memory.mb[1:])
    assert float(np.median(per_loop_mb)) < 1.0, memory.mb


def test_reset_stages_replays_as_if_built_afresh():
    """After Pipeline.reset (the overlay's seek), the same frames give the same tracks, ids and
    warnings as the first time: nothing carries over. The clip's labelled boxes stand in for the
    detector, which keeps nothing between frames anyway."""
    from fcw.app import GroundTruthOptions
    from fcw.labels import labels_path_for

    sample = REPO / "sample_videos" / "lead_stopped.mp4"
    cfg = load_config(overrides={"lights.enabled": False, "pipeline.threaded": False})
    pipeline = build_pipeline(cfg, RunOptions(
        source=str(sample), status=False,
        ground_truth=GroundTruthOptions(labels_path_for(sample), noise_px=2.0, seed=1)))
    with VideoFileSource(sample) as source:
        frames = [f for f, _ in zip(source, range(80))]

    def replay():
        # Track ids run on after a reset (ids stay unique in the events file): compared by
        # order of first appearance.
        out, ids = [], {}
        for frame in frames:
            r = pipeline.process(frame)
            for tid in r.tracks.track_id.tolist():
                ids.setdefault(tid, len(ids))
            out.append(([ids[t] for t in r.tracks.track_id.tolist()],
                        r.tracks.xyxy.round(3).tolist(),
                        None if r.risk.lead_id is None else ids[r.risk.lead_id], r.risk.level,
                        r.risk.ttc_s, [(e.type, e.fields.get("level")) for e in r.events]))
        return out

    first = replay()
    assert any(level is not WarningLevel.NONE for *_, level, _, _ in first)
    pipeline.reset()
    assert replay() == first
