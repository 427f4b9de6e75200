"""One state per frame from both classifiers, and a smoothed state that does not flicker.

Fusion is a linear opinion pool over (none, red, yellow, green, unknown):

    p = crop_weight * p_crop + (1 - crop_weight) * p_frame

p_crop is the governing head's probabilities, or "none" for certain when no lit head governs;
p_frame is the whole-frame classifier's (which has no yellow). "unknown" is the crops' word for
heads that disagree; the frame classifier never says it. Without the frame classifier,
p = p_crop. The crop classifier carries more weight: it sees the head at its own resolution and
knows yellow, and it says which light it means.

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


def fuse(crop_probs: np.ndarray | None, frame_probs: np.ndarray | None,
         crop_weight: float) -> np.ndarray:
    """(4,) fused probabilities; crop_probs None = no lit head governs."""
    p_crop = _NONE_ONLY if crop_probs is None else np.asarray(crop_probs, np.float32)
    if frame_probs is None:
        return p_crop
    return crop_weight * p_crop + (1.0 - crop_weight) * np.asarray(frame_probs, np.float32)


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
