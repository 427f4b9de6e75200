"""The Qt overlay, driven offscreen: the real pipeline and model on the warning clip, the real
window and keys (pytest-qt), and the screenshot command in a subprocess."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("PyQt6.QtWidgets")
pytest.importorskip("pytestqt")

from clitools import HANG_S, fcw  # noqa: E402
from PyQt6.QtCore import Qt  # noqa: E402
from PyQt6.QtGui import QColor, QFontMetricsF  # noqa: E402

from fcw.app import RunOptions, build_parts  # noqa: E402
from fcw.config import load_config  # noqa: E402
from fcw.labels import labels_path_for, load_labels  # noqa: E402
from fcw.sinks.events import read_events  # noqa: E402
from fcw.sources.video import VideoFileSource  # noqa: E402
from fcw.types import WarningLevel  # noqa: E402
from fcw.watchdog import Watchdog  # noqa: E402
from ui import overlay_unavailable  # noqa: E402
from ui.app import OverlayRun  # noqa: E402
from ui.style import fitted_font  # noqa: E402
from ui.video_widget import banner_text  # noqa: E402

CLIP = Path(__file__).resolve().parent.parent / "sample_videos" / "lead_stopped.mp4"
WAIT_MS = int(HANG_S * 1000)


@pytest.fixture(scope="session")
def qapp_args():
    # Offscreen for this module's QApplication only: exporting QT_QPA_PLATFORM would reach the
    # `fcw run` subprocesses of other tests, which would then open the overlay.
    return [sys.argv[0], "-platform", "offscreen"]


@pytest.fixture
def overlay(qtbot, models_dir, tmp_path):
    """``overlay(max_frames=None, size=(1280, 720)) -> OverlayRun`` on the warning clip, shown."""
    runs = []

    def make(max_frames=None, size=(1280, 720), overrides=None):
        cfg = load_config(None, {"pipeline.threaded": False, **(overrides or {})})
        options = RunOptions(source=str(CLIP), events=tmp_path / "events.jsonl",
                             max_frames=max_frames, models_dir=models_dir, status=False)
        run = OverlayRun(build_parts(cfg, options), cfg, screenshot_dir=tmp_path)
        runs.append(run)
        qtbot.addWidget(run.window)
        run.window.resize(*size)
        run.window.show()
        qtbot.waitExposed(run.window)
        return run

    yield make
    for run in runs:
        run.close()


def _events(tmp_path):
    return list(read_events(tmp_path / "events.jsonl"))


def _level_at(events, index):
    """The warning level the pipeline announced for frame ``index`` (its fcw level changes)."""
    level = "none"
    for e in events:
        if e["type"] == "fcw" and e["frame"] <= index:
            level = e["level"]
    return WarningLevel[level.upper()]


def _pixel(widget, x, y):
    return QColor(widget.grab().toImage().pixelColor(int(x), int(y)))


def _is_red(c: QColor) -> bool:
    return c.red() > 100 and c.green() < 60 and c.blue() < 60


def test_banner_shows_at_the_warning_frames(qtbot, overlay, tmp_path):
    run = overlay()
    win = run.window
    shown = []  # (frame, level of the banner drawn)
    win.video.painted.connect(lambda r: shown.append((r.frame.index, win.video.shown_level)))
    run.start()
    qtbot.waitUntil(lambda: bool(win.ended), timeout=WAIT_MS)
    events = _events(tmp_path)
    assert events[-1]["type"] == "end" and events[-1]["stop_reason"] == "end_of_source"
    assert events[-1]["frames"] == 133

    # Every frame painted shows the level the pipeline logged for it.
    assert len({i for i, _ in shown}) >= 30, "too few frames reached the screen to judge"
    for index, level in shown:
        assert level == _level_at(events, index), f"frame {index}"
    first = min(e["frame"] for e in events if e["type"] == "fcw" and e["level"] == "warning")
    assert any(i < first for i, _ in shown) and any(i >= first for i, _ in shown)

    # The labels: the warning must be on while the true TTC is still >= required_ttc_s, and stay.
    labels = load_labels(labels_path_for(CLIP))
    assert labels.expect.warning == "required"
    true_ttc = {f.frame: f.lead.ttc_s for f in labels.frames if f.lead is not None}
    assert true_ttc[first] >= labels.expect.required_ttc_s
    late = [(i, lv) for i, lv in shown if (true_ttc.get(i) or 99) < labels.expect.required_ttc_s]
    assert late and all(lv is WarningLevel.WARNING for _, lv in late)

    # The last frame is at warning: the banner is red in both phases of its flashing.
    rect = win.video.banner_rect()
    assert rect is not None
    x, y = rect.left() + rect.width() * 0.03, rect.center().y()
    for phase in (True, False):
        win.video.flash_on = phase
        assert _is_red(_pixel(win.video, x, y)), phase
    # One rise to warning, sounded once (not muted), counted even if the display skipped it.
    assert run.sound.rises == 1 and run.sound.sounded == 1

    win.close()
    assert not run.running
    assert [e["type"] for e in _events(tmp_path)].count("end") == 1


def _wait_idle(qtbot, run, parks=None):
    """Wait until the paused pipeline waits in the pause (after the ``parks``-th time it did,
    when given): it has finished its last frame. Seen from the control, not guessed from a
    delay, which a busy machine can outlast."""
    if parks is None:
        qtbot.waitUntil(lambda: run.control.parked, timeout=WAIT_MS)
    else:
        qtbot.waitUntil(lambda: run.control.parked and run.control.parks > parks,
                        timeout=WAIT_MS)


def test_keys(qtbot, overlay, tmp_path):
    # A watchdog that reports a stall after 2 s: being paused longer is not one.
    run = overlay(overrides={"output.watchdog_stall_s": 2.0})
    dog = next(s for s in run.pipeline.sinks if isinstance(s, Watchdog))
    win, video = run.window, run.window.video
    run.start()
    qtbot.waitUntil(lambda: video.shown_index >= 40 and video.result.risk.lead_id is not None,
                    timeout=WAIT_MS)

    qtbot.keyClick(win, Qt.Key.Key_Space)  # pause: no frame advances
    assert run.control.paused
    _wait_idle(qtbot, run)
    here, received, stalls = run.source.position, run.sink.received, dog.stalls
    qtbot.wait(2500)  # longer than the watchdog's stall time
    assert run.source.position == here and run.sink.received == received
    # Counted over the pause alone: a frame that took long before it (a busy machine) may have
    # been a stall of its own.
    assert dog.stalls == stalls
    assert "PAUSED" in win.panel.text()

    for step in range(1, 6):  # step: exactly one frame each, until one has a lead to draw
        parks = run.control.parks
        qtbot.keyClick(win, Qt.Key.Key_Period)
        qtbot.waitUntil(lambda: video.shown_index == here + step,  # noqa: B023 (called now)
                        timeout=WAIT_MS)
        _wait_idle(qtbot, run, parks)
        assert run.source.position == here + step and run.sink.received == received + step
        if video.result.risk.lead_id is not None:
            break
    here = video.shown_index

    # B: the boxes go, and the pixel on the lead's box edge with them.
    result = video.result
    assert result.risk.lead_id is not None
    i = result.tracks.index_of(result.risk.lead_id)
    vr = video.video_rect()
    s = vr.width() / result.frame.width
    x1, y1, _x2, y2 = result.tracks.xyxy[i]
    edge = (vr.left() + x1 * s, vr.top() + (y1 + y2) / 2 * s)
    lead_color = _pixel(video, *edge)
    qtbot.keyClick(win, Qt.Key.Key_B)
    assert not video.show_boxes
    assert _pixel(video, *edge) != lead_color
    qtbot.keyClick(win, Qt.Key.Key_B)
    assert video.show_boxes and _pixel(video, *edge) == lead_color

    # G: the TTC strip goes and the video takes its place.
    height = video.height()
    qtbot.keyClick(win, Qt.Key.Key_G)
    qtbot.waitUntil(lambda: video.height() > height, timeout=WAIT_MS)
    assert not win.strip.isVisible()
    qtbot.keyClick(win, Qt.Key.Key_G)
    assert win.strip.isVisible()

    # Seek (paused: shows the one frame there). Right jumps 5 s, clamped to the clip's end.
    qtbot.keyClick(win, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: video.shown_index == 132, timeout=WAIT_MS)
    assert video.result.frame.t_s == pytest.approx(132 / 30, abs=1e-3)
    qtbot.keyClick(win, Qt.Key.Key_Home)
    qtbot.waitUntil(lambda: video.shown_index == 0, timeout=WAIT_MS)
    # The frame time is the file's, and the stages started afresh: no track survived the jump.
    assert video.result.frame.t_s == 0.0
    assert not video.result.tracks.confirmed.any() and video.result.risk.lead_id is None
    assert run.control.paused

    qtbot.keyClick(win, Qt.Key.Key_S)  # screenshot
    assert len(win.screenshots) == 1
    png = cv2.imread(str(win.screenshots[0]))
    assert png is not None and png.shape[:2] == (win.height(), win.width())
    assert win.screenshots[0].parent == tmp_path

    qtbot.keyClick(win, Qt.Key.Key_M)  # mute
    assert run.sound.muted.is_set() and "MUTED" in win.panel.text()
    qtbot.keyClick(win, Qt.Key.Key_H)
    assert video.show_help

    qtbot.keyClick(win, Qt.Key.Key_Q)  # quit while paused: the run ends cleanly
    assert not win.isVisible() and not run.running
    events = _events(tmp_path)
    seeks = [e for e in events if e["type"] == "seek"]
    assert [e["to"] for e in seeks] == [here + 150, 0]
    assert events[-1]["type"] == "end" and events[-1]["stop_reason"] == "stopped"


def test_closing_the_window_mid_run_writes_the_end_record(qtbot, overlay, tmp_path):
    run = overlay()
    run.start()
    qtbot.waitUntil(lambda: run.window.video.shown_index >= 5, timeout=WAIT_MS)
    run.window.close()
    assert not run.running
    end = _events(tmp_path)[-1]
    assert end["type"] == "end" and end["stop_reason"] == "stopped"
    assert 5 < end["frames"] < 133


def test_a_slow_display_does_not_hold_up_the_pipeline(qtbot, overlay, monkeypatch):
    """The first paint blocks until the pipeline has ended: had the pipeline waited for the
    display, it could not end, so every frame processed proves it does not wait (no timing)."""
    from ui.video_widget import VideoWidget

    paint, runs = VideoWidget.paintEvent, []

    def blocked_paint(self, event):
        if runs and runs[0].running:
            runs[0]._thread.join(WAIT_MS / 1e3)
        paint(self, event)

    monkeypatch.setattr(VideoWidget, "paintEvent", blocked_paint)
    run = overlay(max_frames=45)
    runs.append(run)
    run.start()
    qtbot.waitUntil(lambda: not run.running, timeout=WAIT_MS)
    assert run.summary.frames == 45
    assert run.sink.replaced > 0  # results the display never got to: skipped, not queued
    qtbot.waitUntil(lambda: bool(run.window.ended), timeout=WAIT_MS)
    assert run.window.video.result.frame.index == 44  # the newest one is what stays on screen


def test_layout_fits_small_and_720p_screens(qtbot, overlay):
    run = overlay(max_frames=90)  # the warning is on from frame ~84
    win, video = run.window, run.window.video
    run.start()
    qtbot.waitUntil(lambda: bool(win.ended), timeout=WAIT_MS)
    assert video.result.risk.level is WarningLevel.WARNING
    for size in ((800, 480), (1280, 720)):
        win.resize(*size)
        qtbot.waitUntil(lambda: (win.width(), win.height()) == size,  # noqa: B023 (called now)
                        timeout=WAIT_MS)
        widget = video.rect().toRectF()
        for level in (WarningLevel.CAUTION, WarningLevel.WARNING):
            rect = video.banner_rect(level)
            assert widget.contains(rect) and video.video_rect().contains(rect), (size, level)
            # the text the banner draws fits inside it
            font = fitted_font(banner_text(level), rect.width() * 0.9, rect.height() * 0.6)
            assert QFontMetricsF(font).horizontalAdvance(banner_text(level)) <= rect.width()
        # The banner is a large share of the picture at warning, a smaller one at caution.
        warn = video.banner_rect(WarningLevel.WARNING)
        assert warn.height() > 1.5 * video.banner_rect(WarningLevel.CAUTION).height()
        assert warn.height() >= 0.15 * video.height()
        # The panel's line is not cut off, and the strip is there.
        win.refresh_panel()
        assert win.panel.fontMetrics().horizontalAdvance(win.panel.text()) <= win.panel.width()
        assert win.strip.isVisible() and win.strip.height() >= 60


def test_seek_on_a_video_file():
    with VideoFileSource(CLIP) as reference:
        frames = {f.index: f for f in reference}
    with VideoFileSource(CLIP) as src:
        src.seek(50)  # before the first read
        it = iter(src)
        first = next(it)
        assert first.index == 50 and first.t_s == pytest.approx(frames[50].t_s)
        src.seek(7)  # backwards, mid-run
        f = next(it)
        assert f.index == 7 and f.t_s == pytest.approx(frames[7].t_s)
        assert np.array_equal(f.image, frames[7].image)
        assert next(it).index == 8


def test_no_display_means_headless(monkeypatch):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    if sys.platform.startswith("linux"):
        assert "no display" in overlay_unavailable()
    assert overlay_unavailable(offscreen=True) is None
    monkeypatch.setenv("DISPLAY", ":0")
    assert overlay_unavailable() is None


def test_screenshot_command(tmp_path, models_dir):
    """At device pixel ratio 2 (high DPI), 800x480 logical: a 1600x960 PNG, banner red."""
    png = tmp_path / "shot.png"
    proc = fcw("run", "--source", CLIP, "--screenshot", png, "--max-frames", 95,
               "--window-size", "800x480", "--no-status", "--events", tmp_path / "e.jsonl",
               "--models-dir", models_dir, env_extra={"QT_SCALE_FACTOR": "2"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    img = cv2.imread(str(png))
    assert img is not None and img.shape == (960, 1600, 3)
    top = img[: img.shape[0] // 4].astype(int)
    red = (top[..., 2] > 200) & (top[..., 1] < 60) & (top[..., 0] < 60)
    assert red.mean() > 0.05  # the warning banner
    end = list(read_events(tmp_path / "e.jsonl"))[-1]
    assert end["stop_reason"] == "max_frames" and end["frames"] == 95


def test_run_without_display_falls_back_to_headless(tmp_path, models_dir):
    proc = fcw("run", "--source", CLIP, "--max-frames", 3, "--no-status",
               "--events", tmp_path / "e.jsonl", "--models-dir", models_dir,
               env_extra={"DISPLAY": "", "WAYLAND_DISPLAY": "", "QT_QPA_PLATFORM": ""})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "fcw: no display (DISPLAY, WAYLAND_DISPLAY and QT_QPA_PLATFORM are unset); "
        "running headless"]
    assert list(read_events(tmp_path / "e.jsonl"))[-1]["frames"] == 3
