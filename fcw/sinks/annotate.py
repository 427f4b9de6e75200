"""Drawing one frame's results onto its image, for the annotated video and screenshots."""
from __future__ import annotations

import cv2
import numpy as np

from fcw.types import FrameResult, LightState, TrafficLight, WarningLevel

_LEVEL_COLOR = {WarningLevel.NONE: (60, 180, 60), WarningLevel.CAUTION: (0, 200, 255),
                WarningLevel.WARNING: (0, 0, 255)}
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_LIGHT_COLOR = {LightState.RED: (40, 40, 230), LightState.YELLOW: (0, 190, 240),
                LightState.GREEN: (60, 170, 40)}


def _label(img: np.ndarray, text: str, x: int, y: int, color: tuple[int, int, int], scale: float) -> None:
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, 1)
    y = max(y, th + base + 2)
    cv2.rectangle(img, (x, y - th - base - 2), (x + tw + 4, y), color, -1)
    cv2.putText(img, text, (x + 2, y - base), _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)


def annotate(result: FrameResult, class_names: tuple[str, ...]) -> np.ndarray:
    """A copy of the frame with detections, tracks, the lead's TTC and the warning level."""
    img = result.frame.image.copy()
    scale = max(0.4, img.shape[0] / 1400)
    thick = max(1, img.shape[0] // 360)
    tracked = len(result.tracks) > 0
    if not tracked:
        for box, score, cls in zip(result.detections.xyxy, result.detections.score,
                                   result.detections.class_id):
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            cv2.rectangle(img, (x1, y1), (x2, y2), (255, 160, 0), thick)
            _label(img, f"{class_names[cls]} {score:.2f}", x1, y1, (255, 160, 0), scale)
    risk = result.risk
    for i, tid in enumerate(result.tracks.track_id):
        x1, y1, x2, y2 = (int(round(v)) for v in result.tracks.xyxy[i])
        is_lead = risk.lead_id is not None and tid == risk.lead_id
        color = _LEVEL_COLOR[risk.level] if is_lead else (
            (255, 160, 0) if result.tracks.confirmed[i] else (160, 160, 160))
        cv2.rectangle(img, (x1, y1), (x2, y2), color, thick * (2 if is_lead else 1))
        if is_lead:
            ttc = "" if risk.ttc_s is None else f" TTC {risk.ttc_s:.1f}s"
            if risk.ttc_s is not None and risk.ttc_sigma_s is not None:
                ttc += f" +/-{risk.ttc_sigma_s:.1f}"
            _label(img, f"LEAD #{tid}{ttc}", x1, y1, color, scale * 1.2)
        elif result.tracks.confirmed[i]:
            # Other vehicles get only their id: full labels on a busy highway hide the road.
            _label(img, f"#{tid}", x1, y1, color, scale * 0.8)
    hud = f"frame {result.frame.index}  t {result.frame.t_s:6.2f}s"
    if risk.level is not WarningLevel.NONE:
        banner = "COLLISION WARNING" if risk.level is WarningLevel.WARNING else "CAUTION"
        _label(img, banner, 10, int(60 * scale * 2), _LEVEL_COLOR[risk.level], scale * 2.2)
    _label(img, hud, 10, img.shape[0] - 10, (40, 40, 40), scale)
    _draw_light(img, result.light, scale, thick)
    return img


def _draw_light(img: np.ndarray, light: TrafficLight, scale: float, thick: int) -> None:
    """The governing light's box and its state in the top-right corner."""
    if light.state is LightState.NONE:
        return
    color = _LIGHT_COLOR[light.state]
    if light.xyxy is not None:
        x1, y1, x2, y2 = (int(round(v)) for v in light.xyxy)
        cv2.rectangle(img, (x1, y1), (x2, y2), color, thick)
    text = f"LIGHT {light.state.value.upper()} {light.confidence:.2f}"
    (tw, _), _ = cv2.getTextSize(text, _FONT, scale * 1.4, 1)
    _label(img, text, img.shape[1] - tw - 14, int(40 * scale * 2), color, scale * 1.4)
