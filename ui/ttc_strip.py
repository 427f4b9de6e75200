"""The lead's TTC over the last seconds of frame time, with the caution and warning thresholds.

The x axis is the frames' own time (``t_s``), so pausing freezes the strip and a replay at any
speed draws the same curve. A jump back in time (a seek) starts the strip afresh.
"""
from __future__ import annotations

from collections import deque
from typing import Optional

from PyQt6.QtCore import QPointF, QRectF, QSize, Qt
from PyQt6.QtGui import QColor, QPainter, QPainterPath, QPen
from PyQt6.QtWidgets import QWidget

from fcw.types import FrameResult, WarningLevel

from . import style


class TtcStrip(QWidget):
    def __init__(self, caution_s: float, warning_s: float, window_s: float = 10.0,
                 parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setMinimumSize(QSize(200, 50))
        self.caution_s, self.warning_s, self.window_s = caution_s, warning_s, window_s
        self.top_s = max(2.0 * caution_s, caution_s + 2.0)  # TTCs above are drawn at the top
        # (t_s, ttc_s or None, level); at 30 fps a 10 s window holds 300 points
        self.history: deque[tuple[float, Optional[float], WarningLevel]] = deque()

    def add(self, result: FrameResult) -> None:
        t = result.frame.t_s
        if self.history and not 0.0 <= t - self.history[-1][0] <= self.window_s:
            self.history.clear()
        self.history.append((t, result.risk.ttc_s, result.risk.level))
        while self.history and self.history[0][0] < t - self.window_s:
            self.history.popleft()
        self.update()

    def clear(self) -> None:
        self.history.clear()
        self.update()

    def paintEvent(self, _event: object) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(18, 18, 22))
        px = max(style.MIN_TEXT_PX, min(self.height() * 0.16, 14))
        p.setFont(style.font(px))
        fm = p.fontMetrics()
        left = fm.horizontalAdvance("10 s") + 8
        plot = QRectF(left, px * 0.6, self.width() - left - 6, self.height() - px * 2.1)
        now = self.history[-1][0] if self.history else 0.0
        t0 = now - self.window_s

        def x_of(t: float) -> float:
            return plot.left() + (t - t0) / self.window_s * plot.width()

        def y_of(ttc: float) -> float:
            return plot.bottom() - min(ttc, self.top_s) / self.top_s * plot.height()

        # time at caution / warning, tinted behind the curve
        for i, (t, _ttc, level) in enumerate(self.history):
            if level is not WarningLevel.NONE and i + 1 < len(self.history):
                tint = QColor(style.LEVEL_COLOR[level])
                tint.setAlpha(70)
                x1, x2 = x_of(t), x_of(self.history[i + 1][0])
                p.fillRect(QRectF(x1, plot.top(), max(1.0, x2 - x1), plot.height()), tint)
        for value, level, above in ((self.caution_s, WarningLevel.CAUTION, True),
                                    (self.warning_s, WarningLevel.WARNING, False)):
            y = y_of(value)
            p.setPen(QPen(style.LEVEL_COLOR[level], 1.5, Qt.PenStyle.DashLine))
            p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y))
            # the two lines are close: one name above its line, the other below
            p.drawText(QRectF(plot.left() + 4, y - fm.height() if above else y, plot.width(),
                              fm.height()), Qt.AlignmentFlag.AlignVCenter,
                       f"{level.label} {value:g} s")
        p.setPen(QColor(200, 200, 200))
        for value in (0.0, self.top_s):  # the thresholds are named on their lines
            p.drawText(QRectF(0, y_of(value) - px, left - 4, 2 * px),
                       Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{value:g}")
        p.drawText(QRectF(plot.left(), plot.bottom(), plot.width(), px * 1.5),
                   Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                   f"-{self.window_s:g} s")
        p.drawText(QRectF(plot.left(), plot.bottom(), plot.width(), px * 1.5),
                   Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignVCenter,
                   "lead TTC (s)")
        p.drawText(QRectF(plot.left(), plot.bottom(), plot.width(), px * 1.5),
                   Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, "now")
        path, pen_down = QPainterPath(), False
        for t, ttc, _level in self.history:
            if ttc is None:  # no lead, or not closing: a gap in the curve
                pen_down = False
                continue
            point = QPointF(x_of(t), y_of(ttc))
            if pen_down:
                path.lineTo(point)
            else:
                path.moveTo(point)
                pen_down = True
        p.setPen(QPen(QColor("white"), 2.0))
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawPath(path)
        p.end()
