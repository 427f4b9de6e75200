"""The Qt overlay (PyQt6, the ``ui`` extra): ``fcw run`` with a display.

Importing this package does not import Qt, so ``fcw run --headless`` works without PyQt6; the
modules below it (``ui.app`` and the widgets) do.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from typing import Optional


def overlay_unavailable(offscreen: bool = False) -> Optional[str]:
    """Why the overlay cannot be shown here (one line), or None when it can."""
    if importlib.util.find_spec("PyQt6") is None:
        return "PyQt6 is not installed (pip install 'fcw[ui]')"
    if offscreen or not sys.platform.startswith("linux"):
        return None
    if not any(os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        return "no display (DISPLAY, WAYLAND_DISPLAY and QT_QPA_PLATFORM are unset)"
    return None


def parse_size(text: str) -> tuple[int, int]:
    """``"800x480"`` -> ``(800, 480)``, for ``--window-size``."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT, e.g. 800x480, got {text!r}") from None
    if w < 320 or h < 240:
        raise argparse.ArgumentTypeError(f"the window must be at least 320x240, got {text!r}")
    return w, h
