"""The overlay's run: the pipeline on its own thread, Qt's event loop on the main thread.

``fcw run`` builds the parts of a run as for a headless one (``fcw.app.build_parts``), in
sequence (``pipeline.threaded: false``); :class:`OverlayRun` puts the playback control around
their source and the overlay sink among their sinks, assembles the pipeline from them once, and
runs it on a thread. A seek resets the stateful stages (``Pipeline.reset``). The only ways
between the threads are the overlay sink (results, newest only) and the playback control
(requests); closing the window stops the run and waits for its end record.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from types import TracebackType
from typing import Optional

from PyQt6.QtCore import QObject, QTimer, QtMsgType, pyqtSignal, qInstallMessageHandler
from PyQt6.QtWidgets import QApplication

from fcw.app import PipelineParts
from fcw.config import Config
from fcw.errors import FcwError
from fcw.runtime import as_source_lost, exit_code, is_live, stop_signals
from fcw.sinks.alert import AudibleAlert
from fcw.sinks.base import RunSummary
from fcw.sinks.events import EventLog
from fcw.types import Frame
from fcw.watchdog import Watchdog

from .control import ControlledSource, PlaybackControl
from .overlay_sink import OverlaySink
from .sound import AlertSound, GatedSink
from .window import OverlayWindow

log = logging.getLogger(__name__)


class _Signals(QObject):
    ended = pyqtSignal()


class OverlayRun:
    """A pipeline feeding an :class:`OverlayWindow`; ``start()`` it, close the window to stop."""

    def __init__(self, parts: PipelineParts, cfg: Config, audible: bool = True,
                 screenshot_dir: Path = Path(".")) -> None:
        # Pause, step and seek act on the frame on screen, and its latency is timed from its
        # read: both need the frame shown to be the newest read, so no frame is read ahead.
        if parts.threaded:
            raise ValueError("the overlay needs a pipeline built with pipeline.threaded: false")
        stop = threading.Event()
        self.control = PlaybackControl(stop)
        self._watchdogs = [s for s in parts.sinks if isinstance(s, Watchdog)]
        # often enough that no watchdog sees a pause as a stall
        every_s = min([w.stall_s / 4 for w in self._watchdogs] + [1.0])
        self.source = ControlledSource(parts.source, self.control, on_seek=self._seeked,
                                       while_paused=self._paused, every_s=every_s)
        self.sink = OverlaySink(self.source.read_at)
        self.sound = AlertSound(cfg.alert, parts.sinks, audible)
        alerts = [s for s in self.sound.sinks if isinstance(s, (GatedSink, AudibleAlert))]
        rest = [s for s in self.sound.sinks if s not in alerts]
        # The sound, then the screen, then the disk: what the driver needs first goes first.
        self.pipeline = parts.assemble(self.source, [*alerts, self.sink, *rest], stop)
        self._log = next((s for s in rest if isinstance(s, EventLog)), None)
        self.summary: Optional[RunSummary] = None
        self.error: Optional[BaseException] = None
        self.signals = _Signals()
        self.window = OverlayWindow(self.sink, self.control, self.source, cfg.warning,
                                    self.sound, screenshot_dir, on_close=self.stop)
        self.signals.ended.connect(self.window.run_ended)
        self._thread = threading.Thread(target=self._run, name="fcw-pipeline", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            self.summary = self.pipeline.run()
        except BaseException as exc:  # re-raised on the main thread by run_overlay
            self.error = exc
        finally:
            self.signals.ended.emit()

    def stop(self, timeout_s: float = 15.0) -> None:
        """End the run after the current frame and wait for its end record."""
        self.pipeline.request_stop()  # also wakes a paused replay or a wait for a lost camera
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("the pipeline did not stop within %.0f s; leaving it", timeout_s)

    def _seeked(self, last: Optional[Frame], target: int) -> None:
        """On the pipeline thread, between two frames."""
        self.pipeline.reset()
        if self._log is not None:  # a reader of the events file must know frames repeat
            self._log.write_record({"type": "seek", "t": round(last.t_s, 6) if last else 0.0,
                                    "frame": last.index if last else 0, "to": target})

    def _paused(self) -> None:
        """On the pipeline thread, now and then while paused."""
        # A paused replay is not a stall: the watchdog hears that the pipeline is alive and
        # still at its last frame.
        last = self.sink.last
        if last is not None:
            for watchdog in self._watchdogs:
                watchdog.write(last)

    def close(self) -> None:
        self.stop()
        self.sound.close()


def _qt_message(kind: QtMsgType, _context: object, message: Optional[str]) -> None:
    # Qt's own chatter (the offscreen plugin, a missing sound server) is for -v only.
    critical = kind in (QtMsgType.QtCriticalMsg, QtMsgType.QtFatalMsg)
    level = logging.ERROR if critical else logging.DEBUG
    log.log(level, "Qt: %s", message)


def _log_gui_error(kind: type[BaseException], exc: BaseException,
                   tb: Optional[TracebackType]) -> None:
    # PyQt aborts the process on an exception in a slot unless an excepthook is set: a drawing
    # bug must not take down the run (and its end record) with it.
    log.error("overlay: %s: %s", kind.__name__, exc, exc_info=(kind, exc, tb))


def run_overlay(parts: PipelineParts, cfg: Config, screenshot: Optional[Path] = None,
                window_size: Optional[tuple[int, int]] = None) -> int:
    """Show the overlay until the window is closed (or, with ``screenshot``, the run ends)."""
    if screenshot is not None:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    qt_handler = qInstallMessageHandler(_qt_message)
    app = QApplication.instance() or QApplication(["fcw"])
    live = is_live(parts.source)  # not the playback control around it
    try:
        run = OverlayRun(parts, cfg, audible=screenshot is None)
    except BaseException:
        qInstallMessageHandler(qt_handler)
        raise
    win = run.window
    win.resize(*(window_size or (1280, 720)))
    saved: list[BaseException] = []

    def _ended() -> None:
        # Like a player at the end of a file, the window closes when the run ends, unless
        # someone is stepping through it: then it stays until they close it.
        if screenshot is not None:
            win.video.tag = ""  # a documentation picture, not a status
            try:
                win.save_screenshot(screenshot)
            except OSError as exc:
                saved.append(FcwError(str(exc)))
        if screenshot is not None or not run.control.paused:
            win.close()

    run.signals.ended.connect(_ended)
    hook, sys.excepthook = sys.excepthook, _log_gui_error
    wake = QTimer()  # lets Python run its signal handlers while Qt's loop waits
    wake.timeout.connect(lambda: None)
    wake.start(200)
    try:
        # A signal closes the window, which stops the run (on the GUI thread, as a click would).
        with stop_signals(lambda: QTimer.singleShot(0, win.close)):
            win.show()
            run.start()
            app.exec()
    finally:
        wake.stop()
        run.close()
        sys.excepthook = hook
        qInstallMessageHandler(qt_handler)
    if run.error is not None:
        lost = as_source_lost(run.error, live)
        if lost is not None:
            raise lost from run.error
        raise run.error
    if saved:
        raise saved[0]
    if run.summary is None:
        raise FcwError("the pipeline did not stop")
    return exit_code(run.summary, live)
