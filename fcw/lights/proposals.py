"""Where traffic lights may be: lit-lamp colour blobs, and the detector's traffic-light boxes.

A lit signal lamp is a small, bright, saturated, round blob above the horizon (heads hang 4-6 m
up, so on a flat road they always project above the vanishing point, while tail lights, which sit
below the camera, project below it). Each blob becomes a box shaped like a vertical head around
it: a warm (red to amber) blob could be the top or the middle lamp, so it gets both boxes, and a
blue-green one the bottom lamp's box. The crop classifier then decides which box shows a head
with its lamp in the right place (a head cut off-centre is trained as "off").
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fcw.types import _check_rows

# Source of a proposal: a lamp blob, the detector, or the last governing head held where it was
# (fcw/lights/stage.py).
BLOB, DETECTOR, HELD = 0, 1, 2
# Which lamp of a vertical head the blob is taken to be (row of its centre in the head box).
LAMP_TOP, LAMP_MIDDLE, LAMP_BOTTOM, LAMP_UNKNOWN = 0, 1, 2, -1

# Head box around a lamp of diameter d, measured on the training crops (training/tl_crops.py
# prints them): the crops are about 2.3 d wide and 4.6 d tall (medians 2.1-2.9 and 4-5.5), and
# the lamp centres sit at these fractions of the height.
HEAD_W_PER_LAMP = 2.3
HEAD_H_PER_LAMP = 4.6
LAMP_ROW_FRAC = {LAMP_TOP: 0.23, LAMP_MIDDLE: 0.48, LAMP_BOTTOM: 0.76}

# OpenCV HSV (H in 0-180). Red lamps are recorded anywhere from crimson to orange and amber ones
# overlap them, so one "warm" band covers both; LED greens are blue-green (H 80-95), well away
# from foliage (H 35-60) but close to blue sky (H 100-110), hence the upper limit.
_WARM_HUE = ((0, 35), (160, 180))
_GREEN_HUE = ((70, 98),)
_MIN_SAT, _MIN_VAL = 90, 140


@dataclass(frozen=True)
class BlobParams:
    min_diameter_px: float = 2.5
    max_diameter_px: float = 60.0
    # A lamp blob is roughly round and fills most of its bounding box.
    max_aspect: float = 2.0
    min_fill: float = 0.35


@dataclass(frozen=True)
class LightProposals:
    """Candidate head boxes in one frame.

    xyxy: (N, 4) float32 frame pixels; source: (N,) int8 BLOB | DETECTOR; lamp: (N,) int8, the
    lamp the blob was placed as (LAMP_UNKNOWN for detector boxes); blob: (N,) int32, index of the
    blob a box came from (-1 for detector boxes), so the two boxes of one warm blob can be
    compared.
    """

    xyxy: np.ndarray
    source: np.ndarray
    lamp: np.ndarray
    blob: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        _check_rows("LightProposals.xyxy", self.xyxy, n, (4,))
        for name in ("source", "lamp", "blob"):
            _check_rows(f"LightProposals.{name}", getattr(self, name), n)

    def __len__(self) -> int:
        return len(self.xyxy)

    def with_box(self, xyxy: np.ndarray, source: int) -> LightProposals:
        """These proposals and one more box (no lamp, no blob)."""
        return LightProposals(np.vstack([self.xyxy, np.asarray(xyxy, np.float32).reshape(1, 4)]),
                              np.append(self.source, np.int8(source)),
                              np.append(self.lamp, np.int8(LAMP_UNKNOWN)),
                              np.append(self.blob, np.int32(-1)))

    @classmethod
    def build(cls, xyxy: list, source: list, lamp: list, blob: list) -> LightProposals:
        return cls(np.asarray(xyxy, np.float32).reshape(-1, 4), np.asarray(source, np.int8),
                   np.asarray(lamp, np.int8), np.asarray(blob, np.int32))


def _hue_mask(hsv: np.ndarray, bands: tuple[tuple[int, int], ...]) -> np.ndarray:
    mask = np.zeros(hsv.shape[:2], np.uint8)
    for lo, hi in bands:
        np.bitwise_or(mask, cv2.inRange(hsv, (lo, _MIN_SAT, _MIN_VAL), (hi, 255, 255)), out=mask)
    return mask


def find_lamp_blobs(bgr: np.ndarray, params: BlobParams = BlobParams()
                    ) -> list[tuple[float, float, float, bool]]:
    """(centre x, centre y, diameter, warm) of each lamp-like blob in a BGR image."""
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    kernel = np.ones((3, 3), np.uint8)
    blobs = []
    for warm, bands in ((True, _WARM_HUE), (False, _GREEN_HUE)):
        # Closing fills the over-exposed, white core that a bright lamp often has.
        mask = cv2.morphologyEx(_hue_mask(hsv, bands), cv2.MORPH_CLOSE, kernel)
        # Contours, not connected-component stats: ten times faster on a sparse mask.
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for c in contours:
            x, y, w, h = cv2.boundingRect(c)
            d = float(max(w, h))
            if not params.min_diameter_px <= d <= params.max_diameter_px:
                continue
            # The polygon through the boundary pixels' centres loses half a pixel all round.
            area = cv2.contourArea(c) + 0.5 * cv2.arcLength(c, True) + 1.0
            if max(w, h) > params.max_aspect * min(w, h) or area < params.min_fill * w * h:
                continue
            blobs.append((x + w / 2, y + h / 2, d, warm))
    return blobs


def head_box(cx: float, cy: float, lamp_d: float, lamp: int) -> tuple[float, float, float, float]:
    """The head box that puts a lamp of diameter lamp_d at (cx, cy) in the given position."""
    w, h = HEAD_W_PER_LAMP * lamp_d, HEAD_H_PER_LAMP * lamp_d
    top = cy - LAMP_ROW_FRAC[lamp] * h
    return cx - w / 2, top, cx + w / 2, top + h


def propose(image: np.ndarray, horizon_y_px: float, detector_boxes: np.ndarray,
            vehicle_boxes: np.ndarray, params: BlobParams = BlobParams(),
            max_blobs: int | None = None) -> LightProposals:
    """Head boxes from lamp blobs above the horizon (not on a vehicle), the largest ``max_blobs``
    of them, plus the detector's boxes."""
    xyxy, source, lamp, blob = [], [], [], []
    rows = int(np.clip(np.ceil(horizon_y_px), 0, image.shape[0]))
    blobs = find_lamp_blobs(image[:rows], params) if rows > 0 else []
    if blobs and len(vehicle_boxes):
        # Tail and brake lights of a tall truck or bus can reach above the horizon.
        c = np.array([(b[0], b[1]) for b in blobs])
        v = np.asarray(vehicle_boxes, float)
        inside = ((c[:, None, 0] >= v[None, :, 0]) & (c[:, None, 0] <= v[None, :, 2])
                  & (c[:, None, 1] >= v[None, :, 1]) & (c[:, None, 1] <= v[None, :, 3]))
        on_vehicle = np.any(inside, axis=1).tolist()
        blobs = [b for b, on in zip(blobs, on_vehicle) if not on]
    if max_blobs is not None and len(blobs) > max_blobs:
        blobs = sorted(blobs, key=lambda b: -b[2])[:max_blobs]
    for k, (cx, cy, d, warm) in enumerate(blobs):
        for pos in ((LAMP_TOP, LAMP_MIDDLE) if warm else (LAMP_BOTTOM,)):
            xyxy.append(head_box(cx, cy, d, pos))
            source.append(BLOB)
            lamp.append(pos)
            blob.append(k)
    for box in np.asarray(detector_boxes, float).reshape(-1, 4):
        xyxy.append(tuple(box))
        source.append(DETECTOR)
        lamp.append(LAMP_UNKNOWN)
        blob.append(-1)
    return LightProposals.build(xyxy, source, lamp, blob)


def crop_boxes(image: np.ndarray, xyxy: np.ndarray, min_size_px: int = 2) -> list[np.ndarray]:
    """The image under each box; parts outside the frame are filled by replicating its edge."""
    h, w = image.shape[:2]
    crops = []
    for x1, y1, x2, y2 in np.round(np.asarray(xyxy, float)).astype(int):
        x2, y2 = max(x2, x1 + min_size_px), max(y2, y1 + min_size_px)
        cx1, cy1, cx2, cy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if cx2 <= cx1 or cy2 <= cy1:
            crops.append(np.zeros((y2 - y1, x2 - x1, 3), np.uint8))
            continue
        crop = image[cy1:cy2, cx1:cx2]
        if (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2):
            crop = cv2.copyMakeBorder(crop, cy1 - y1, y2 - cy2, cx1 - x1, x2 - cx2,
                                      cv2.BORDER_REPLICATE)
        crops.append(crop)
    return crops

