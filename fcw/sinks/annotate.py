"""Drawing one frame's results onto its image, for the annotated video and screenshots.

Labels are placed, not just drawn: on a busy road the boxes of neighbouring cars touch, and
labels all drawn above their box's corner print over each other into something unreadable. The
banner, the light and the frame line are placed first, then the lead's label, then the other
vehicles' from the nearest; each takes the first spot beside its box that is free, and a label
with no free spot is left out (the box still shows).
"""
from __future__ import annotations

from typing import NamedTuple, Optional

import cv2
import numpy as np

from fcw.types import FrameResult, LightState, Risk, TrafficLight, WarningLevel

# The lead's colour is its level's: neutral white while nothing is raised, so a low TTC that
# did not (yet) raise a level is never drawn in a reassuring green.
LEVEL_COLOR = {WarningLevel.NONE: (235, 235, 235), WarningLevel.CAUTION: (0, 200, 255),
               WarningLevel.WARNING: (0, 0, 255)}
OTHER_COLOR = (255, 160, 0)  # confirmed vehicles that are not the lead, and raw detections
TENTATIVE_COLOR = (160, 160, 160)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_LIGHT_COLOR = {LightState.RED: (40, 40, 230), LightState.YELLOW: (0, 190, 240),
                LightState.GREEN: (60, 170, 40), LightState.UNKNOWN: (200, 200, 200)}


class Label(NamedTuple):
    """A label as drawn: its text and its filled rectangle (x1, y1, x2, y2), pixels inclusive."""

    text: str
    rect: tuple[int, int, int, int]


def ttc_text(risk: Risk) -> str:
    """The lead's TTC as the driver should read it: a reading less sure than itself (sigma
    above the TTC) is no number at all."""
    if risk.ttc_s is None:
        return ""
    if risk.ttc_sigma_s is None:
        return f"TTC {risk.ttc_s:.1f}s"
    if risk.ttc_sigma_s > risk.ttc_s:
        return "TTC ?"
    return f"TTC {risk.ttc_s:.1f}s +/-{risk.ttc_sigma_s:.1f}"


def _text_color(bg: tuple[int, int, int]) -> tuple[int, int, int]:
    b, g, r = bg
    return (20, 20, 20) if 0.114 * b + 0.587 * g + 0.299 * r > 150 else (255, 255, 255)


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


class _Labeller:
    """Places labels on one image so that no two overlap."""

    def __init__(self, img: np.ndarray) -> None:
        self.img = img
        self.placed: list[Label] = []

    def size(self, text: str, scale: float) -> tuple[int, int]:
        (tw, th), base = cv2.getTextSize(text, _FONT, scale, 1)
        return tw + 4, th + base + 2

    def draw(self, text: str, x: int, y_bottom: int, color: tuple[int, int, int],
             scale: float) -> Label:
        """Draws at the given spot whatever is there (fixed items: banner, light, frame line)."""
        (tw, th), base = cv2.getTextSize(text, _FONT, scale, 1)
        w, h = tw + 4, th + base + 2
        y_bottom = max(y_bottom, h)
        rect = (x, y_bottom - h, x + w, y_bottom)
        cv2.rectangle(self.img, rect[:2], rect[2:], color, -1)
        cv2.putText(self.img, text, (x + 2, y_bottom - base), _FONT, scale, _text_color(color), 1,
                    cv2.LINE_AA)
        label = Label(text, rect)
        self.placed.append(label)
        return label

    def beside(self, text: str, box: tuple[int, int, int, int], color: tuple[int, int, int],
               scale: float) -> Optional[Label]:
        """At the first free spot: above the box, inside its top, below it, then further up."""
        x1, y1, x2, y2 = box
        w, h = self.size(text, scale)
        H, W = self.img.shape[:2]
        candidates = [(x1, y1), (x1, y1 + h + 1), (x1, y2 + h + 1), (x2 - w, y1)]
        candidates += [(x1, y1 - k * (h + 1)) for k in range(1, 4)]
        for x, yb in candidates:
            x = min(max(x, 0), W - 1 - w)
            rect = (x, yb - h, x + w, yb)
            if rect[1] < 0 or rect[3] > H - 1:
                continue
            if not any(_overlaps(rect, p.rect) for p in self.placed):
                return self.draw(text, x, yb, color, scale)
        return None


def annotate(result: FrameResult, class_names: tuple[str, ...],
             labels: Optional[list[Label]] = None) -> np.ndarray:
    """A copy of the frame with detections, tracks, the lead's TTC and the warning level;
    ``labels``, when given, receives every label drawn (text and rectangle)."""
    img = result.frame.image.copy()
    scale = max(0.4, img.shape[0] / 1400)
    thick = max(1, img.shape[0] // 360)
    risk = result.risk
    lab = _Labeller(img)
    # The fixed items first, so that no vehicle label covers them.
    if risk.level is not WarningLevel.NONE:
        banner = "COLLISION WARNING" if risk.level is WarningLevel.WARNING else "CAUTION"
        lab.draw(banner, 10, int(60 * scale * 2), LEVEL_COLOR[risk.level], scale * 2.2)
    lab.draw(f"frame {result.frame.index}  t {result.frame.t_s:6.2f}s", 10, img.shape[0] - 10,
             (40, 40, 40), scale)
    _draw_light(img, lab, result.light, scale, thick)

    todo: list[tuple[str, tuple[int, int, int, int], tuple[int, int, int], float]] = []
    if len(result.tracks) == 0:
        for box, score, cls in zip(result.detections.xyxy, result.detections.score,
                                   result.detections.class_id):
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            cv2.rectangle(img, (x1, y1), (x2, y2), OTHER_COLOR, thick)
            todo.append((f"{class_names[cls]} {score:.2f}", (x1, y1, x2, y2), OTHER_COLOR,
                         scale))
    lead: list[tuple[str, tuple[int, int, int, int], tuple[int, int, int], float]] = []
    for i, tid in enumerate(result.tracks.track_id):
        x1, y1, x2, y2 = (int(round(v)) for v in result.tracks.xyxy[i])
        is_lead = risk.lead_id is not None and tid == risk.lead_id
        confirmed = bool(result.tracks.confirmed[i])
        color = LEVEL_COLOR[risk.level] if is_lead else (
            OTHER_COLOR if confirmed else TENTATIVE_COLOR)
        cv2.rectangle(img, (x1, y1), (x2, y2), color, thick * (2 if is_lead else 1))
        if is_lead:
            text = " ".join(filter(None, (f"LEAD #{tid}", ttc_text(risk))))
            lead.append((text, (x1, y1, x2, y2), color, scale * 1.2))
        elif confirmed:
            # Other vehicles get only their id: full labels on a busy highway hide the road.
            todo.append((f"#{tid}", (x1, y1, x2, y2), color, scale * 0.8))
    # The lead first, then the nearest (lowest in the image) before the farther ones.
    for text, box, color, s in lead + sorted(todo, key=lambda item: -item[1][3]):
        lab.beside(text, box, color, s)
    if labels is not None:
        labels.extend(lab.placed)
    return img


def _draw_light(img: np.ndarray, lab: _Labeller, light: TrafficLight, scale: float,
                thick: int) -> None:
    """The governing light's box and its state in the top-right corner."""
    if light.state is LightState.NONE:
        return
    color = _LIGHT_COLOR[light.state]
    if light.xyxy is not None:
        x1, y1, x2, y2 = (int(round(v)) for v in light.xyxy)
        cv2.rectangle(img, (x1, y1), (x2, y2), color, thick)
    text = f"LIGHT {light.state.value.upper()} {light.confidence:.2f}"
    (tw, _), _ = cv2.getTextSize(text, _FONT, scale * 1.4, 1)
    lab.draw(text, img.shape[1] - tw - 14, int(40 * scale * 2), color, scale * 1.4)
