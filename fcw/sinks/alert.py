"""The audible alert: a sound each time the warning level rises to "warning".

The sound is a child process started with ``subprocess.Popen`` and never waited for on the
per-frame path: a player that hangs must not delay the next frame's warning. Finished players are
reaped on later frames; at most ``max_running`` play at once, so a stuck player cannot pile up
processes over a long drive. Without a configured command, a built-in beep (880 Hz, 0.3 s) is
written once to a temporary WAV and played by the first of aplay, paplay, afplay found; with no
player or, on Linux, no sound device (/dev/snd), the alert does nothing. Nothing here may end
the run: every failure is logged once.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Optional

import numpy as np

from fcw.config import AlertConfig
from fcw.types import FrameResult

from .base import Sink

log = logging.getLogger(__name__)

# Players tried for the built-in beep, with the arguments that keep them quiet on stdout.
PLAYERS = (("aplay", ("-q",)), ("paplay", ()), ("afplay", ()))
SOUND_DEVICES = Path("/dev/snd")


def write_beep_wav(path: Path, freq_hz: float = 880.0, duration_s: float = 0.3,
                   rate_hz: int = 22050) -> None:
    """A mono 16-bit sine beep with 10 ms fades (an abrupt start or stop clicks)."""
    t = np.arange(int(duration_s * rate_hz)) / rate_hz
    ramp = np.clip(np.minimum(t, duration_s - t) / 0.01, 0.0, 1.0)
    samples = (0.5 * 32767 * ramp * np.sin(2 * np.pi * freq_hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(samples.tobytes())


def find_player(which: Callable[[str], Optional[str]] = shutil.which,
                sound_devices: Path = SOUND_DEVICES) -> Optional[list[str]]:
    """argv prefix of the first usable player, or None (no player, or no sound card on Linux)."""
    if sys.platform.startswith("linux") and not sound_devices.exists():
        return None
    for name, args in PLAYERS:
        exe = which(name)
        if exe:
            return [exe, *args]
    return None


class AudibleAlert(Sink):
    def __init__(self, command: Optional[Sequence[str]], max_running: int = 4,
                 owned_file: Optional[Path] = None) -> None:
        self._command = list(command) if command else None  # None: silent
        self._max_running = max_running
        self._owned_file = owned_file  # the generated beep, deleted on close
        self._running: list[subprocess.Popen] = []  # never more than max_running
        self._failures = 0
        self.started = 0  # alerts started, for tests and the curious

    @classmethod
    def from_config(cls, cfg: AlertConfig,
                    which: Callable[[str], Optional[str]] = shutil.which,
                    sound_devices: Path = SOUND_DEVICES) -> AudibleAlert:
        if not cfg.enabled:
            return cls(None)
        if cfg.command is not None:
            return cls(cfg.command)
        player = find_player(which, sound_devices)
        if player is None:
            log.debug("alert: no sound player or sound device; the built-in beep is off")
            return cls(None)
        fd, name = tempfile.mkstemp(prefix="fcw-beep-", suffix=".wav")
        os.close(fd)
        try:
            write_beep_wav(Path(name))
        except OSError as exc:
            log.warning("%s: cannot write the alert beep (%s); alerts are silent", name,
                        exc.strerror or exc)
            Path(name).unlink(missing_ok=True)
            return cls(None)
        return cls([*player, name], owned_file=Path(name))

    def write(self, result: FrameResult) -> None:
        command = self._command
        if command is None:
            return
        self._reap(command[0])
        for event in result.events:
            if event.type == "fcw" and event.fields.get("level") == "warning":
                self._play(command)

    def _play(self, command: list[str]) -> None:
        if len(self._running) >= self._max_running:
            self._fail(f"alert: {self._max_running} players still running; skipping this one")
            return
        try:
            # No pipes: the player must not block on a full pipe, nor keep the caller's open
            # (a test's capture_output would wait for it); its own session keeps Ctrl-C for fcw.
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                    start_new_session=True)
        except (OSError, ValueError) as exc:
            why = getattr(exc, "strerror", None) or exc
            self._fail(f"alert: cannot run {command[0]} ({why})")
            return
        self._running.append(proc)
        self.started += 1

    def _reap(self, player: str) -> None:
        still = []
        for proc in self._running:
            code = proc.poll()
            if code is None:
                still.append(proc)
            elif code != 0:
                self._fail(f"alert: {player} exited with {code}")
        self._running = still

    def _fail(self, message: str) -> None:
        # Once at warning level, then debug: a broken player must not flood the journal.
        self._failures += 1
        log.log(logging.WARNING if self._failures == 1 else logging.DEBUG, message)

    def close(self) -> None:
        # Players still sounding are left to finish: waiting would hold up the exit. Removing
        # the beep under them is safe on POSIX, where a player that opened it keeps reading.
        if self._command is not None:  # None: silent, nothing ever started
            self._reap(self._command[0])
        if self._owned_file is not None:
            self._owned_file.unlink(missing_ok=True)
            self._owned_file = None
