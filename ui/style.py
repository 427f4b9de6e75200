"""Colours and text sizing shared by the overlay's widgets.

Sizes are in logical pixels, so Qt's high-DPI scaling enlarges everything together; text is
sized from the space it gets, with a floor that stays readable on a 800x480 screen.
"""
from __future__ import annotations

from PyQt6.QtGui import QColor, QFont, QFontMetricsF

from fcw.types import LightState, WarningLevel

LEVEL_COLOR = {
    WarningLevel.NONE: QColor(70, 210, 100),
    WarningLevel.CAUTION: QColor(255, 176, 0),
    WarningLevel.WARNING: QColor(235, 20, 20),
}
WARNING_DIM = QColor(120, 0, 0)  # the other phase of the flashing warning banner
OTHER_VEHICLE = QColor(90, 190, 255)
TENTATIVE = QColor(170, 170, 170)
LIGHT_COLOR = {
    LightState.RED: QColor(235, 30, 30),
    LightState.YELLOW: QColor(255, 200, 0),
    LightState.GREEN: QColor(40, 220, 90),
    LightState.UNKNOWN: QColor(200, 200, 200),  # heads that disagree: no colour to trust
}
PANEL_BG = QColor(0, 0, 0, 170)
LABEL_TEXT = QColor("white")
MIN_TEXT_PX = 11


def font(px: float, bold: bool = False) -> QFont:
    f = QFont()
    f.setPixelSize(max(MIN_TEXT_PX, int(px)))
    f.setBold(bold)
    return f


def fitted_font(text: str, width: float, height: float, bold: bool = True) -> QFont:
    """The largest font (up to ``height``) in which ``text`` fits ``width``, never below the
    floor."""
    f = font(height, bold)
    w = QFontMetricsF(f).horizontalAdvance(text)
    if w > width > 0:
        f.setPixelSize(max(MIN_TEXT_PX, int(f.pixelSize() * width / w)))
    return f
