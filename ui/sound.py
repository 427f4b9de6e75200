"""The overlay's audible alert: a beep on every rise to "warning", muted with a key.

With QtMultimedia and an audio output, the GUI plays fcw's built-in beep (or nothing, when the
config names its own ``alert.command``) through a QSoundEffect. Otherwise the headless alert
(``fcw.sinks.alert.AudibleAlert``: aplay / paplay / the configured command) stays in the
pipeline, behind a gate that the mute key closes. Rises are counted on the pipeline thread by the
overlay sink, so one that the display skipped still sounds.
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from fcw.config import AlertConfig
from fcw.sinks.alert import AudibleAlert, write_beep_wav
from fcw.sinks.base import RunSummary, Sink
from fcw.types import FrameResult

log = logging.getLogger(__name__)


class GatedSink(Sink):
    """Passes results to ``inner`` only while ``muted`` is clear."""

    def __init__(self, inner: Sink, muted: threading.Event) -> None:
        self.inner, self._muted = inner, muted

    def write(self, result: FrameResult) -> None:
        if not self._muted.is_set():
            self.inner.write(result)

    def finish(self, summary: RunSummary) -> None:
        self.inner.finish(summary)

    def close(self) -> None:
        self.inner.close()


def _qt_effect(path: Path) -> Optional[Any]:
    """A QSoundEffect for ``path``, or None without QtMultimedia or an audio output."""
    try:
        from PyQt6.QtCore import QUrl
        from PyQt6.QtMultimedia import QMediaDevices, QSoundEffect
    except ImportError as exc:  # PyQt6 without QtMultimedia, or libpulse missing
        log.debug("QtMultimedia unavailable (%s); the alert uses an external player", exc)
        return None
    if not QMediaDevices.audioOutputs():
        return None
    effect = QSoundEffect()
    effect.setSource(QUrl.fromLocalFile(str(path)))
    effect.setLoopCount(2)  # two beeps: one can be missed over road noise
    return effect


class AlertSound:
    """Counts rises to "warning" and sounds them unless muted.

    rises: every rise seen; sounded: the ones that were not muted. ``backend`` says what plays
    them: "qt", "player" (the external AudibleAlert) or "none".
    """

    def __init__(self, cfg: AlertConfig, sinks: Sequence[Sink], audible: bool = True) -> None:
        self.muted = threading.Event()  # read by the gate on the pipeline thread
        self.rises = self.sounded = 0
        self._seen = 0
        self._effect: Optional[Any] = None
        self._wav: Optional[Path] = None
        alerts = [s for s in sinks if isinstance(s, AudibleAlert)]
        self.sinks: list[Sink] = [s for s in sinks if not isinstance(s, AudibleAlert)]
        if audible and cfg.enabled and cfg.command is None:
            self._effect = self._make_effect()
        if self._effect is not None or not audible:
            for alert in alerts:  # replaced by the Qt sound, or silenced
                alert.close()
            self.backend = "qt" if self._effect is not None else "none"
        else:
            self.sinks = [*(GatedSink(a, self.muted) for a in alerts), *self.sinks]
            self.backend = "player" if cfg.enabled else "none"

    def _make_effect(self) -> Optional[Any]:
        fd, name = tempfile.mkstemp(prefix="fcw-beep-", suffix=".wav")
        os.close(fd)
        self._wav = Path(name)
        try:
            write_beep_wav(self._wav)
            effect = _qt_effect(self._wav)
        except OSError as exc:
            log.warning("%s: cannot write the alert beep (%s)", name, exc.strerror or exc)
            effect = None
        if effect is None:
            self._wav.unlink(missing_ok=True)
            self._wav = None
        return effect

    def toggle_mute(self) -> bool:
        if self.muted.is_set():
            self.muted.clear()
        else:
            self.muted.set()
        return self.muted.is_set()

    def update(self, warnings: int) -> None:
        """Called by the GUI with the run's count of rises to "warning" so far."""
        if warnings < self._seen:  # counts only grow; a smaller one is a new run
            self._seen = 0
        new, self._seen = warnings - self._seen, warnings
        if new <= 0:
            return
        self.rises += new
        if self.muted.is_set():
            return
        self.sounded += 1
        if self._effect is not None:
            self._effect.play()

    def close(self) -> None:
        if self._effect is not None:
            self._effect.stop()
            self._effect = None
        if self._wav is not None:
            self._wav.unlink(missing_ok=True)
            self._wav = None
