"""The lead's scale from aligning its image with a key image, as Mobileye's monocular FCW does.

Detector boxes wander by a few per cent of their size from frame to frame, while a car 50 m
ahead at 20 m/s closing grows by less than 1.5% a frame: from box widths alone the scale rate
is buried in noise until the car is near. Aligning the lead's pixels (ECC, Evangelidis & Psarakis
2008, affine warp) measures the ratio of sizes directly, because every edge inside the vehicle
votes and not only its outline.

Each frame is aligned with a *key* image of the lead, not with the previous frame: consecutive
steps of well under 1% would carry the alignment's error into every step, and their sum would
drift; against a key the scale change is large (up to ``rekey_log_scale``) and its error is paid
once. The key is renewed when the lead has grown that much, or when alignment fails.

fcw/scale/estimator.py filters the aligned scales of the lead into its rate and acceleration.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from fcw.boxes import iou_matrix

_ECC_CRITERIA = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-5)
# Below this many pixels across (the box's smaller side), a patch holds too little texture for
# a 6-parameter warp: a 10 px floor misread the stopped car's rate through the wide lens. 14 px
# confirms a far car a second sooner than 20 px did: the stopped lead through a 110° lens warns
# at true TTC 2.4 s instead of 1.5 s (seeds 0-2, docs/detector.md). 15 px cars of the real
# highway clip once showed growth the box did not; with the plausibility checks of
# fcw/risk/plausibility.py in front, no real drive warns or cautions at 14 px, with either model
# and the tight crop on or off (tests/test_real_drives.py holds the default config).
MIN_PATCH_PX = 14.0
# An aligned key box overlapping the tracker's box less than this has slid onto something else.
MIN_AGREEMENT_IOU = 0.3
# The mask is the box grown by this fraction: a tight box leaves the vehicle's outline, its
# strongest edges, on the mask's border (0.2 was best on the rendered NHTSA scenarios, with both
# the detector's wide boxes and exact ones).
MASK_GROW = 0.2


def to_gray(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)


def _blank(mask: np.ndarray, boxes: np.ndarray | None, origin: tuple[int, int], d: float) -> None:
    """Zero ``boxes`` (frame pixels) in ``mask``, a patch at ``origin`` sampled at scale ``d``."""
    if boxes is None:
        return
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    for x1, y1, x2, y2 in boxes[np.isfinite(boxes).all(axis=1)]:
        mask[max(0, int((y1 - origin[1]) * d)):max(0, math.ceil((y2 - origin[1]) * d)),
             max(0, int((x1 - origin[0]) * d)):max(0, math.ceil((x2 - origin[0]) * d))] = 0


class KeyframeAligner:
    """ln(scale) of one object relative to where it was first seen, by alignment with a key image.

    The warp maps key-patch pixels (at full resolution) to frame pixels: frame = A @ p + t.
    Patches wider than ``max_patch_px`` are aligned at a reduced resolution, where the warp's
    linear part A is unchanged and only t scales, so a near car costs no more than a far one.
    """

    def __init__(self, margin: float = 0.25, max_patch_px: float = 96.0,
                 rekey_log_scale: float = 0.25, mask_grow: float = MASK_GROW) -> None:
        self.margin = margin
        self.mask_grow = mask_grow
        self.max_patch_px = max_patch_px
        self.rekey_log_scale = rekey_log_scale
        self._key: np.ndarray | None = None
        self.s_key = 0.0

    def start(self, gray: np.ndarray, box: np.ndarray, s_key: float,
              occluders: np.ndarray | None = None) -> bool:
        """Take a new key image of the object in ``box``, whose ln(scale) is ``s_key``.

        ``occluders`` (k, 4): boxes of nearer objects, whose pixels are left out of the key.
        """
        x1, y1, x2, y2 = (float(v) for v in box)
        w, h = x2 - x1, y2 - y1
        self._key = None
        if not np.isfinite(box).all() or min(w, h) < MIN_PATCH_PX:
            return False
        H, W = gray.shape
        X0, Y0 = int(max(0, x1 - self.margin * w)), int(max(0, y1 - self.margin * h))
        X1, Y1 = int(min(W, x2 + self.margin * w)), int(min(H, y2 + self.margin * h))
        self._d = min(1.0, self.max_patch_px / w)
        # A box mostly outside the frame (a track drifting off it) leaves too few pixels, and
        # OpenCV refuses an empty resize.
        if min(X1 - X0, Y1 - Y0) < MIN_PATCH_PX or min(X1 - X0, Y1 - Y0) * self._d < 2.0:
            return False
        patch = gray[Y0:Y1, X0:X1]
        self._key = (cv2.resize(patch, None, fx=self._d, fy=self._d, interpolation=cv2.INTER_AREA)
                     if self._d < 1.0 else patch.copy())
        # The object's box, a little grown so that its outline is inside, drives the alignment;
        # the margin lets it move and grow.
        self._mask = np.zeros(self._key.shape, np.uint8)
        d, gx, gy = self._d, self.mask_grow * w, self.mask_grow * h
        self._mask[max(0, int((y1 - gy - Y0) * d)):math.ceil((y2 + gy - Y0) * d),
                   max(0, int((x1 - gx - X0) * d)):math.ceil((x2 + gx - X0) * d)] = 1
        _blank(self._mask, occluders, (X0, Y0), d)
        self._key_size = (X1 - X0, Y1 - Y0)
        self._key_box = np.array([x1 - X0, y1 - Y0, x2 - X0, y2 - Y0])
        self._A, self._t = np.eye(2), np.array([float(X0), float(Y0)])
        self.s_key = s_key
        return True

    @property
    def active(self) -> bool:
        return self._key is not None

    def aligned_box(self) -> np.ndarray:
        """The key's box carried by the current warp into the frame (x1, y1, x2, y2)."""
        b = self._key_box
        p1, p2 = self._A @ b[:2] + self._t, self._A @ b[2:] + self._t
        return np.array([*np.minimum(p1, p2), *np.maximum(p1, p2)])

    def measure(self, gray: np.ndarray, box: np.ndarray,
                occluders: np.ndarray | None = None) -> float | None:
        """ln(scale) of the object now, or None when alignment fails (the key is then dropped).

        ``box`` is the tracker's box for the object in this frame, used only to notice an
        alignment that slid off it. ``occluders`` (k, 4): boxes of nearer objects in this frame;
        a car that changes lanes in front of the lead would otherwise pass its own motion off as
        the lead's growth.
        """
        if self._key is None:
            return None
        w, h = self._key_size
        corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], float) @ self._A.T + self._t
        if not (np.isfinite(corners).all() and np.isfinite(box).all()):
            self._key = None
            return None
        lo, hi = corners.min(0), corners.max(0)
        grow = 0.25 * (hi - lo)
        H, W = gray.shape
        RX0, RY0 = int(max(0, lo[0] - grow[0])), int(max(0, lo[1] - grow[1]))
        RX1, RY1 = int(min(W, hi[0] + grow[0])), int(min(H, hi[1] + grow[1]))
        if RX1 - RX0 < MIN_PATCH_PX or RY1 - RY0 < MIN_PATCH_PX:
            self._key = None
            return None
        roi = gray[RY0:RY1, RX0:RX1]
        d = self._d
        if d < 1.0:
            if min(roi.shape) * d < 2.0:  # would resize to nothing
                self._key = None
                return None
            roi = cv2.resize(roi, None, fx=d, fy=d, interpolation=cv2.INTER_AREA)
        roi_mask = np.ones(roi.shape, np.uint8)
        _blank(roi_mask, occluders, (RX0, RY0), d)
        warp: np.ndarray = np.zeros((2, 3), np.float32)
        warp[:, :2] = self._A
        warp[:, 2] = d * (self._t - (RX0, RY0))
        try:
            _, warp = cv2.findTransformECCWithMask(self._key, roi, self._mask, roi_mask, warp,
                                                   cv2.MOTION_AFFINE, _ECC_CRITERIA, 5)
        except cv2.error:  # no convergence: a blurred or texture-less patch
            self._key = None
            return None
        det = float(np.linalg.det(warp[:, :2]))
        if det <= 0.0:
            self._key = None
            return None
        self._A, self._t = warp[:, :2].astype(float), warp[:, 2] / d + (RX0, RY0)
        agreement = iou_matrix(self.aligned_box()[None], np.asarray(box, float)[None])[0, 0]
        if agreement < MIN_AGREEMENT_IOU:
            self._key = None
            return None
        log_scale = 0.5 * math.log(det)
        s = self.s_key + log_scale
        if abs(log_scale) > self.rekey_log_scale:
            self.start(gray, self.aligned_box(), s, occluders)
        return s
