"""The overlay window: video, TTC strip and panel, and the keys of someone replaying a drive.

The window only reads results (from the overlay sink, newest first) and writes requests (to the
playback control); it never calls into the pipeline. Closing it stops the run, and returns once
the pipeline thread has written its end record (see ``ui.app``).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QCloseEvent, QKeyEvent, QResizeEvent
from PyQt6.QtWidgets import QVBoxLayout, QWidget

from fcw.config import WarningConfig
from fcw.types import FrameResult, WarningLevel

from .control import ControlledSource, PlaybackControl
from .overlay_sink import Delivery, OverlaySink
from .panel import StatsPanel
from .sound import AlertSound
from .ttc_strip import TtcStrip
from .video_widget import VideoWidget

FLASH_MS = 250  # the warning banner flashes at 2 Hz
SEEK_S = 5.0
K = Qt.Key


class OverlayWindow(QWidget):
    #: emitted by closeEvent, before the window goes
    closing = pyqtSignal()

    def __init__(self, sink: OverlaySink, control: PlaybackControl, source: ControlledSource,
                 warning: WarningConfig, sound: AlertSound, screenshot_dir: Path = Path("."),
                 on_close: Callable[[], None] = lambda: None) -> None:
        super().__init__()
        self.sink, self.control, self.source, self.sound = sink, control, source, sound
        self.screenshot_dir = screenshot_dir
        self.screenshots: list[Path] = []
        self._on_close = on_close
        self.ended = ""  # why the pipeline finished (source end, --max-frames, ...); "" running
        self.notice = ""  # a short message in the panel, e.g. why a key did nothing
        self._read_at: dict[int, float] = {}  # frame index -> read time, until it is painted
        self.unpainted = 0  # results taken but replaced before a paint: display drops too
        self.setWindowTitle(f"fcw — {source.name}")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setStyleSheet("background: black;")

        self.video = VideoWidget(self)
        self.strip = TtcStrip(warning.caution_ttc_s, warning.warning_ttc_s, parent=self)
        self.panel = StatsPanel(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.video, 1)
        layout.addWidget(self.strip)
        layout.addWidget(self.panel)
        self.resize(1280, 720)

        sink.signals.result_ready.connect(self.take_result)
        self.video.painted.connect(self._painted)
        self._flash = QTimer(self)
        self._flash.timeout.connect(self._toggle_flash)
        self._flash.start(FLASH_MS)
        self._stats = QTimer(self)
        self._stats.timeout.connect(self.refresh_panel)
        self._stats.start(500)

    # --- results in -----------------------------------------------------------------------

    def take_result(self) -> Optional[FrameResult]:
        """Show the newest result, if one is waiting; the ones it replaced are never drawn."""
        delivery: Optional[Delivery] = self.sink.take()
        if delivery is None:
            return None
        result = delivery.result
        self.unpainted += len(self._read_at)
        self._read_at = {result.frame.index: delivery.read_at}
        self.sound.update(delivery.warnings)
        self.strip.add(result)
        self.video.set_result(result)
        return result

    def _painted(self, result: FrameResult) -> None:
        read_at = self._read_at.pop(result.frame.index, None)
        if read_at is not None:  # a repaint of the same frame is not a new frame on screen
            self.panel.on_painted(read_at)

    def _toggle_flash(self) -> None:
        result = self.video.result
        if result is not None and result.risk.level is WarningLevel.WARNING:
            self.video.flash_on = not self.video.flash_on
            self.video.update()
        else:
            self.video.flash_on = True

    def run_ended(self) -> None:
        """The pipeline thread is done: show its last result and say so."""
        self.take_result()
        summary = self.sink.summary
        self.ended = summary.stop_reason if summary else "error"
        self._show_state()
        self.refresh_panel()

    def _show_state(self) -> None:
        ended = {"end_of_source": "END OF SOURCE", "max_frames": "END (--max-frames)",
                 "stopped": "STOPPED"}.get(self.ended, "ERROR")
        self.video.tag = ended if self.ended else "PAUSED" if self.control.paused else ""
        self.video.update()

    def refresh_panel(self) -> None:
        flags = []
        if self.control.paused and not self.ended:
            flags.append("PAUSED")
        if self.sound.muted.is_set():
            flags.append("MUTED")
        if self.notice:
            flags.append(self.notice)
        r = self.video.result
        self.panel.refresh(self.sink.received, self.source.dropped,
                           self.sink.replaced + self.unpainted,
                           None if r is None else (r.frame.index, r.frame.t_s), flags)

    # --- keys -----------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent | None) -> None:
        if event is None:  # the binding's signature allows None; Qt never sends it
            return
        key, text = event.key(), event.text().lower()
        self.notice = ""
        if key == K.Key_Space:
            self.control.set_paused(not self.control.paused)
        elif key == K.Key_Period or text == "n":
            self.control.step()
        elif key in (K.Key_Left, K.Key_Right, K.Key_Home):
            self._seek(key)
        elif text == "b":
            self.video.show_boxes = not self.video.show_boxes
        elif text == "g":
            self.strip.setVisible(not self.strip.isVisible())
        elif text == "s":
            try:
                self.save_screenshot()
            except OSError as exc:
                self.notice = str(exc)
        elif text == "m":
            self.sound.toggle_mute()
        elif text == "h" or key == K.Key_F1:
            self.video.show_help = not self.video.show_help
        elif text == "f":
            self.setWindowState(self.windowState() ^ Qt.WindowState.WindowFullScreen)
        elif key == K.Key_Escape and self.isFullScreen():
            self.showNormal()
        elif text == "q" or key == K.Key_Escape:
            self.close()
            return
        else:
            super().keyPressEvent(event)
            return
        self._show_state()
        self.refresh_panel()

    def _seek(self, key: int) -> None:
        if not self.source.can_seek:
            self.notice = "seek: video files only (not --realtime)"
            return
        if self.ended:
            self.notice = "the run has ended; seek before the end"
            return
        step = round(SEEK_S * (self.source.fps or 30.0))
        here = self.source.position
        target = 0 if key == K.Key_Home else here + (step if key == K.Key_Right else -step)
        self.control.seek(max(0, target))

    # --- output ---------------------------------------------------------------------------

    def save_screenshot(self, path: Optional[Path] = None) -> Path:
        """The whole window as a PNG (at the device pixel ratio), the banner in its bright phase."""
        if path is None:
            index = self.video.shown_index
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = self.screenshot_dir / f"fcw-{Path(self.source.name).stem}-f{index}-{stamp}.png"
        flash, self.video.flash_on = self.video.flash_on, True
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not self.grab().save(str(path), "PNG"):
                raise OSError(f"{path}: cannot write the screenshot")
        finally:
            self.video.flash_on = flash
        self.screenshots.append(path)
        self.notice = f"saved {path.name}"
        return path

    def resizeEvent(self, event: QResizeEvent | None) -> None:
        if event is not None:  # the binding's signature allows None; Qt never sends it
            # The strip takes about a sixth of the height: readable on 800x480, not crowding 720p.
            self.strip.setFixedHeight(int(min(140, max(60, event.size().height() * 0.16))))
        super().resizeEvent(event)

    def closeEvent(self, event: QCloseEvent | None) -> None:
        self.closing.emit()
        self._flash.stop()
        self._stats.stop()
        self._on_close()
        super().closeEvent(event)
