"""The two traffic-light classifiers, both run by fcw's backends (engines/backends).

- ``CropClassifier``: fcw's own network over each proposed head box -> (off, red, yellow, green).
- ``FrameClassifier``: the Nexar challenge winner over the whole frame -> (none, red, green). It
  costs about 27 ms a run on one CPU core, so it runs at most once every ``period_s`` of frame
  time and its last answer stands in between (a light's state lasts seconds).

Both return probabilities over fcw's four states (``fcw.types.LightState`` order: none, red,
yellow, green), so that the fusion need not know the models' own class lists.
"""
from __future__ import annotations

import numpy as np

from engines.backends.base import Backend
from fcw.types import Frame, LightState

from .proposals import LightProposals, crop_boxes

STATES = tuple(LightState)  # none, red, yellow, green: the order of every probability vector here
# A model's class name -> fcw's state ("off" is a head with no lit lamp: no state to obey).
_CLASS_TO_STATE = {"none": LightState.NONE, "off": LightState.NONE, "red": LightState.RED,
                   "yellow": LightState.YELLOW, "green": LightState.GREEN}


def _state_matrix(class_names: tuple[str, ...]) -> np.ndarray:
    """(n_classes, 4) 0/1 matrix mapping a model's class probabilities onto fcw's states."""
    m = np.zeros((len(class_names), len(STATES)), np.float32)
    for i, name in enumerate(class_names):
        if name not in _CLASS_TO_STATE:
            raise ValueError(f"traffic-light model class {name!r} is not one of {sorted(_CLASS_TO_STATE)}")
        m[i, STATES.index(_CLASS_TO_STATE[name])] = 1.0
    return m


class CropClassifier:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._to_states = _state_matrix(backend.spec.class_names)

    def classify(self, image: np.ndarray, proposals: LightProposals) -> np.ndarray:
        """(N, 4) state probabilities of each proposal's box."""
        if not len(proposals):
            return np.zeros((0, len(STATES)), np.float32)
        probs = self.backend.infer(crop_boxes(image, proposals.xyxy))
        return np.asarray(probs, np.float32) @ self._to_states


class FrameClassifier:
    def __init__(self, backend: Backend, period_s: float) -> None:
        self.backend = backend
        self.period_s = period_s
        self._to_states = _state_matrix(backend.spec.class_names)
        self._last: tuple[float, np.ndarray] | None = None

    def update(self, frame: Frame) -> np.ndarray:
        """(4,) state probabilities: a fresh run when period_s has passed, else the last one."""
        last = self._last
        # A time going backwards (a new source, a replay) reruns it at once.
        if last is None or not 0.0 <= frame.t_s - last[0] < self.period_s:
            probs = np.asarray(self.backend.infer([frame.image])[0], np.float32) @ self._to_states
            self._last = last = (frame.t_s, probs)
        return last[1]
