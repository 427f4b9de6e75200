"""One state per frame from both classifiers, and a smoothed state that does not flicker.

Fusion is a linear opinion pool over (none, red, yellow, green, unknown):

    p = (crop_weight * p_crop + w_frame * p_frame) / (crop_weight + w_frame)
    w_frame = (1 - crop_weight) * visibility

p_crop is the governing head's probabilities, or "none" for certain when no lit head governs;
p_frame is the whole-frame classifier's (which has no yellow). Its "none" is evidence only about
heads it can see: the whole frame is shrunk to 256 rows for it, and SqueezeNet's first layers
sample that every 4 px (a 7x7 convolution and a max-pool, each of stride 2). A 6x10 px head
69 m away through a 110° lens keeps lamps of 0.8 px there, and the model says "none" at 0.94
while the crops read red. So the frame classifier's weight beside a governing head fades with
the head's lamp size in its input (``visibility``: 1 from ``frame_classifier_sharp_lamp_px``,
0 at ``frame_classifier_blind_lamp_px`` and below); with no lit head to measure it keeps its
full weight, and alone (the crops say "none" for certain) it can never make a lit state lead.
"unknown" is the crops' word for heads that disagree; the frame classifier never says it.
Without the frame classifier, p = p_crop. The crop classifier carries more weight: it sees the
head at its own resolution and knows yellow, and it says which light it means.

The smoother's explicit state:
- ``_ema``: the fused probabilities low-passed with time constant ``smoothing_tau_s`` of frame
  time (dt from the frames, so a dropped frame counts as the time it was);
- the shown ``state`` changes to another one only after that one has led the EMA with at least
  ``enter_prob`` for ``debounce_frames`` consecutive frames (``none_debounce_frames`` to fall
  back to none: a head that a passing truck hides for a moment still governs);
- ``confidence`` is the EMA's probability of the shown state.
"""
from __future__ import annotations

import math

import numpy as np

from fcw.config import LightsConfig
from fcw.types import LightState

from .classify import STATES

_NONE_ONLY = np.eye(len(STATES), dtype=np.float32)[0]


def frame_visibility(lamp_px: float, blind_lamp_px: float, sharp_lamp_px: float) -> float:
    """How far the whole-frame classifier can see a head whose lamps span ``lamp_px`` of its
    input: 0 at ``blind_lamp_px`` and below, rising linearly to 1 at ``sharp_lamp_px``."""
    return float(np.clip((lamp_px - blind_lamp_px) / (sharp_lamp_px - blind_lamp_px), 0.0, 1.0))


def fuse(crop_probs: np.ndarray | None, frame_probs: np.ndarray | None,
         crop_weight: float, visibility: float = 1.0) -> np.ndarray:
    """(5,) fused probabilities; crop_probs None = no lit head governs; ``visibility`` scales
    the frame classifier's weight (``frame_visibility``)."""
    p_crop = _NONE_ONLY if crop_probs is None else np.asarray(crop_probs, np.float32)
    if frame_probs is None:
        return p_crop
    p_frame = np.asarray(frame_probs, np.float32)
    if crop_weight <= 0.0:
        return p_frame
    w_frame = (1.0 - crop_weight) * visibility
    return (crop_weight * p_crop + w_frame * p_frame) / (crop_weight + w_frame)


class LightSmoother:
    def __init__(self, cfg: LightsConfig) -> None:
        self.cfg = cfg
        self.state = LightState.NONE
        self._ema: np.ndarray | None = None
        self._t_s: float | None = None
        self._candidate: LightState | None = None
        self._count = 0

    def reset(self) -> None:
        self.state, self._ema, self._t_s = LightState.NONE, None, None
        self._candidate, self._count = None, 0

    @property
    def confidence(self) -> float:
        if self._ema is None:
            return 0.0
        return float(np.clip(self._ema[STATES.index(self.state)], 0, 1))

    def update(self, t_s: float, probs: np.ndarray) -> bool:
        """Take one frame's fused probabilities; True when the shown state changed."""
        probs = np.asarray(probs, np.float64)
        if self._ema is None or self._t_s is None or t_s < self._t_s:
            self._ema = probs.copy()
        else:
            alpha = 1.0 - math.exp(-(t_s - self._t_s) / self.cfg.smoothing_tau_s)
            self._ema += alpha * (probs - self._ema)
        self._t_s = t_s
        lead = STATES[int(np.argmax(self._ema))]
        if lead is self.state or self._ema.max() < self.cfg.enter_prob:
            self._candidate, self._count = None, 0
            return False
        self._count = self._count + 1 if lead is self._candidate else 1
        self._candidate = lead
        needed = (self.cfg.none_debounce_frames if lead is LightState.NONE
                  else self.cfg.debounce_frames)
        if self._count < needed:
            return False
        self.state, self._candidate, self._count = lead, None, 0
        return True
