"""The video with what fcw sees drawn over it: boxes, the lead's TTC, the light, the warning.

The frame fills the widget at its own aspect (black bars elsewhere) and every overlay is placed
and sized relative to that video rectangle, so the layout is the same at 1280x720, on an
800x480 car screen and at any device pixel ratio. The widget paints only the newest result it
was given; it keeps the frame's array alive as long as the QImage that views it.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, QSize, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QImage, QPainter, QPen
from PyQt6.QtWidgets import QWidget

from fcw.types import FrameResult, LightState, WarningLevel

from . import style

HELP = (
    ("Space", "pause / resume"),
    (". or N", "step one frame"),
    ("← / →", "seek 5 s (files)"),
    ("Home", "back to the start (files)"),
    ("B", "boxes on / off"),
    ("G", "TTC graph on / off"),
    ("S", "screenshot (PNG)"),
    ("M", "mute the alert"),
    ("F", "full screen (Esc leaves it)"),
    ("H", "this help"),
    ("Q / Esc", "quit"),
)


def banner_text(level: WarningLevel) -> str:
    return "COLLISION WARNING" if level is WarningLevel.WARNING else "CAUTION"


class VideoWidget(QWidget):
    #: emitted after each paint with the result drawn
    painted = pyqtSignal(object)

    def __init__(self, parent: Optional[QWidget] = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(QSize(320, 180))
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.result: Optional[FrameResult] = None
        self._pixels: Optional[np.ndarray] = None  # the array self._image views
        self._image: Optional[QImage] = None
        self.show_boxes = True
        self.show_help = False
        self.flash_on = True  # phase of the flashing warning banner
        self.tag = ""  # "PAUSED", "END OF SOURCE": said in the corner
        self.shown_level = WarningLevel.NONE  # the banner drawn by the last paint
        self.shown_index = -1

    def set_result(self, result: FrameResult) -> None:
        img = np.ascontiguousarray(result.frame.image)
        h, w = img.shape[:2]
        self._pixels = img
        # PyQt6's stubs ask for bytes; it takes any buffer, and this one is viewed, not copied
        self._image = QImage(img.data, w, h, img.strides[0],  # type: ignore[call-overload]
                             QImage.Format.Format_BGR888)
        self.result = result
        self.update()

    # --- geometry -------------------------------------------------------------------------

    def video_rect(self) -> QRectF:
        """Where the frame is drawn: the largest rectangle of its aspect centred in the widget."""
        r = QRectF(self.rect())
        if self._image is None:
            return r
        iw, ih = self._image.width(), self._image.height()
        s = min(r.width() / iw, r.height() / ih)
        w, h = iw * s, ih * s
        return QRectF(r.x() + (r.width() - w) / 2, r.y() + (r.height() - h) / 2, w, h)

    def banner_rect(self, level: Optional[WarningLevel] = None) -> Optional[QRectF]:
        """The banner's rectangle at ``level`` (default: the current result's), None without one."""
        if level is None:
            level = self.result.risk.level if self.result else WarningLevel.NONE
        if level is WarningLevel.NONE:
            return None
        vr = self.video_rect()
        big = level is WarningLevel.WARNING
        w = vr.width() * (0.64 if big else 0.40)
        h = vr.height() * (0.19 if big else 0.085)
        h = max(h, 2.6 * style.MIN_TEXT_PX if big else 1.6 * style.MIN_TEXT_PX)
        return QRectF(vr.center().x() - w / 2, vr.top() + vr.height() * 0.03, w, h)

    # --- painting -------------------------------------------------------------------------

    def paintEvent(self, _event: object) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.fillRect(self.rect(), Qt.GlobalColor.black)
        result = self.result
        if result is None or self._image is None:
            p.setPen(Qt.GlobalColor.lightGray)
            p.setFont(style.font(self.height() * 0.05))
            p.drawText(QRectF(self.rect()), Qt.AlignmentFlag.AlignCenter, "waiting for frames…")
            p.end()
            return
        vr = self.video_rect()
        p.drawImage(vr, self._image)
        scale = vr.width() / self._image.width()
        if self.show_boxes:
            self._draw_boxes(p, result, vr, scale)
        self._draw_light(p, result, vr, scale)
        self._draw_ttc(p, result, vr)
        self._draw_banner(p, result, vr)
        if self.tag:
            self._draw_tag(p, vr)
        if self.show_help:
            self._draw_help(p, vr)
        p.end()
        self.shown_level = result.risk.level
        self.shown_index = result.frame.index
        self.painted.emit(result)

    def _to_view(self, xyxy: np.ndarray, vr: QRectF, scale: float) -> QRectF:
        x1, y1, x2, y2 = (float(v) * scale for v in xyxy)
        return QRectF(vr.x() + x1, vr.y() + y1, x2 - x1, y2 - y1)

    def _label(self, p: QPainter, text: str, anchor: QRectF, vr: QRectF, color: QColor,
               px: float, text_color: QColor = style.LABEL_TEXT) -> None:
        """A filled tag above ``anchor`` (below it when there is no room), kept inside ``vr``."""
        p.setFont(style.font(px, bold=True))
        fm = p.fontMetrics()
        w, h = fm.horizontalAdvance(text) + 8, fm.height() + 2
        y = anchor.top() - h if anchor.top() - h >= vr.top() else anchor.bottom()
        x = min(max(anchor.left(), vr.left()), vr.right() - w)
        box = QRectF(x, min(y, vr.bottom() - h), w, h)
        p.fillRect(box, color)
        p.setPen(text_color)
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _draw_boxes(self, p: QPainter, result: FrameResult, vr: QRectF, scale: float) -> None:
        unit = max(1.0, vr.height() / 360)
        risk, tracks = result.risk, result.tracks
        p.setBrush(Qt.BrushStyle.NoBrush)
        if len(tracks) == 0:  # no tracker: the raw detections, dashed
            p.setPen(QPen(style.TENTATIVE, unit, Qt.PenStyle.DashLine))
            for box in result.detections.xyxy:
                p.drawRect(self._to_view(box, vr, scale))
        lead_rect = None
        for i, tid in enumerate(tracks.track_id):
            r = self._to_view(tracks.xyxy[i], vr, scale)
            if risk.lead_id is not None and int(tid) == risk.lead_id:
                lead_rect = r
            elif tracks.confirmed[i]:
                p.setPen(QPen(style.OTHER_VEHICLE, unit * 1.2))
                p.drawRect(r)
            else:
                p.setPen(QPen(style.TENTATIVE, unit, Qt.PenStyle.DashLine))
                p.drawRect(r)
        if lead_rect is not None:  # last, so nothing covers it
            color = style.LEVEL_COLOR[risk.level]
            p.setPen(QPen(color, unit * 3))
            p.drawRect(lead_rect)
            text = "LEAD" if risk.ttc_s is None else f"LEAD  TTC {risk.ttc_s:.1f} s"
            if risk.ttc_s is not None and risk.ttc_sigma_s is not None:
                text += f" ±{risk.ttc_sigma_s:.1f}"
            dark = risk.level is not WarningLevel.WARNING
            self._label(p, text, lead_rect, vr, color, vr.height() * 0.03,
                        QColor("black") if dark else QColor("white"))

    def _draw_light(self, p: QPainter, result: FrameResult, vr: QRectF, scale: float) -> None:
        light = result.light
        if light.state is LightState.NONE:
            return
        color = style.LIGHT_COLOR[light.state]
        if light.xyxy is not None and self.show_boxes:
            p.setPen(QPen(color, max(1.0, vr.height() / 240)))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(self._to_view(light.xyxy, vr, scale))
        h = max(vr.height() * 0.075, 2 * style.MIN_TEXT_PX)
        text = f"{light.state.value.upper()} {light.confidence:.0%}"
        f = style.fitted_font(text, vr.width() * 0.15 - h * 1.2, h * 0.5)
        p.setFont(f)
        w = h * 1.2 + p.fontMetrics().horizontalAdvance(text) + h * 0.2
        box = QRectF(vr.right() - w - vr.width() * 0.015, vr.top() + vr.height() * 0.03, w, h)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(style.PANEL_BG)
        p.drawRoundedRect(box, h * 0.2, h * 0.2)
        p.setBrush(color)
        p.drawEllipse(QPointF(box.left() + h * 0.6, box.center().y()), h * 0.33, h * 0.33)
        p.setPen(QColor("white"))
        p.drawText(box.adjusted(h * 1.2, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, text)

    def _draw_ttc(self, p: QPainter, result: FrameResult, vr: QRectF) -> None:
        """The lead's TTC in a fixed place (bottom left), so the eye finds it without the boxes."""
        risk = result.risk
        if risk.lead_id is None:
            return
        text = "lead not closing" if risk.ttc_s is None else f"TTC {risk.ttc_s:.1f} s"
        p.setFont(style.font(vr.height() * (0.045 if risk.ttc_s is not None else 0.03), True))
        fm = p.fontMetrics()
        box = QRectF(vr.left() + vr.width() * 0.015, 0, fm.horizontalAdvance(text) + 12,
                     fm.height() + 4)
        box.moveBottom(vr.bottom() - vr.height() * 0.03)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(style.PANEL_BG)
        p.drawRoundedRect(box, 4, 4)
        p.setPen(style.LEVEL_COLOR[risk.level] if risk.ttc_s is not None else QColor("white"))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)

    def _draw_banner(self, p: QPainter, result: FrameResult, vr: QRectF) -> None:
        risk = result.risk
        rect = self.banner_rect(risk.level)
        if rect is None:
            return
        warning = risk.level is WarningLevel.WARNING
        ttc = "" if risk.ttc_s is None else f"TTC {risk.ttc_s:.1f} s"
        if warning:
            fill = style.LEVEL_COLOR[risk.level] if self.flash_on else style.WARNING_DIM
            # A frame around the whole picture flashes with the banner: seen from the corner of
            # the eye, not only when looking at the banner.
            edge = max(3.0, vr.height() * 0.012)
            p.setPen(QPen(fill, edge))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(vr.adjusted(edge / 2, edge / 2, -edge / 2, -edge / 2))
            p.setPen(QPen(QColor("white"), max(2.0, edge * 0.6)))
            p.setBrush(fill)
            p.drawRoundedRect(rect, rect.height() * 0.12, rect.height() * 0.12)
            title = QRectF(rect.x(), rect.y() + rect.height() * 0.05, rect.width(),
                           rect.height() * 0.6)
            p.setFont(style.fitted_font(banner_text(risk.level), rect.width() * 0.92,
                                        title.height() * 0.85))
            p.drawText(title, Qt.AlignmentFlag.AlignCenter, banner_text(risk.level))
            if ttc:
                sub = QRectF(rect.x(), title.bottom(), rect.width(), rect.height() * 0.32)
                p.setFont(style.fitted_font(ttc, rect.width() * 0.9, sub.height() * 0.8))
                p.drawText(sub, Qt.AlignmentFlag.AlignCenter, ttc)
        else:
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(style.LEVEL_COLOR[risk.level])
            p.drawRoundedRect(rect, rect.height() * 0.2, rect.height() * 0.2)
            text = f"{banner_text(risk.level)}  {ttc}".strip()
            p.setPen(QColor("black"))
            p.setFont(style.fitted_font(text, rect.width() * 0.9, rect.height() * 0.62))
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)

    def _draw_tag(self, p: QPainter, vr: QRectF) -> None:
        p.setFont(style.font(vr.height() * 0.035, bold=True))
        fm = p.fontMetrics()
        box = QRectF(0, 0, fm.horizontalAdvance(self.tag) + 14, fm.height() + 6)
        box.moveBottomRight(QPointF(vr.right() - vr.width() * 0.015,
                                    vr.bottom() - vr.height() * 0.03))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(style.PANEL_BG)
        p.drawRoundedRect(box, 4, 4)
        p.setPen(QColor("white"))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, self.tag)

    def _draw_help(self, p: QPainter, vr: QRectF) -> None:
        px = max(style.MIN_TEXT_PX, min(vr.height() * 0.045, 22))
        p.setFont(style.font(px))
        fm = p.fontMetrics()
        key_w = max(fm.horizontalAdvance(k) for k, _ in HELP) + px
        w = key_w + max(fm.horizontalAdvance(d) for _, d in HELP) + 2 * px
        line = fm.height()
        box = QRectF(0, 0, min(w, vr.width() - 8), min(line * len(HELP) + px, vr.height() - 8))
        box.moveCenter(vr.center())
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(0, 0, 0, 200))
        p.drawRoundedRect(box, 6, 6)
        p.setPen(QColor("white"))
        for i, (key, what) in enumerate(HELP):
            y = box.top() + px / 2 + i * line
            p.drawText(QRectF(box.left() + px, y, key_w, line), Qt.AlignmentFlag.AlignVCenter, key)
            p.drawText(QRectF(box.left() + px + key_w, y, box.width() - key_w - px, line),
                       Qt.AlignmentFlag.AlignVCenter, what)
