"""The two traffic-light classifiers, both run by fcw's backends (engines/backends).

- ``CropClassifier``: fcw's own network over each proposed head box -> (off, red, yellow, green).
- ``FrameClassifier``: the Nexar challenge winner over the whole frame -> (none, red, green). It
  costs about 27 ms a run on one CPU core, so it runs at most once every ``period_s`` of frame
  time, on its own thread, and its last answer stands in between (a light's state lasts seconds).

Both return probabilities over fcw's states (``fcw.types.LightState`` order: none, red,
yellow, green, unknown), so that the fusion need not know the models' own class lists.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from engines.backends.base import Backend
from engines.preprocess import input_rows_per_image_row
from fcw.types import Frame, LightState

from .proposals import HEAD_H_PER_LAMP, LightProposals, crop_boxes

# none, red, yellow, green, unknown: the order of every probability vector here (the models never
# say unknown: that column is the selector's, for heads that disagree)
STATES = tuple(LightState)
# A model's class name -> fcw's state ("off" is a head with no lit lamp: no state to obey).
_CLASS_TO_STATE = {"none": LightState.NONE, "off": LightState.NONE, "red": LightState.RED,
                   "yellow": LightState.YELLOW, "green": LightState.GREEN}


def _state_matrix(class_names: tuple[str, ...]) -> np.ndarray:
    """(n_classes, 4) 0/1 matrix mapping a model's class probabilities onto fcw's states."""
    m = np.zeros((len(class_names), len(STATES)), np.float32)
    for i, name in enumerate(class_names):
        if name not in _CLASS_TO_STATE:
            raise ValueError(f"traffic-light model class {name!r} is not one of "
                             f"{sorted(_CLASS_TO_STATE)}")
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
    """The whole-frame classifier, run on a thread of its own beside the frame loop.

    A run on frame t is answered for use from the first frame at or after t + ``lag_s`` (frame
    time), and the last answer stands until then. The frame loop thus goes on with the next
    frames (and the detector with them) while the model runs, and waits only when an answer is
    not back by the frame that needs it: which frame uses which answer depends on frame times
    alone, so a replay gives the same states on any machine, at any speed, threaded or not.
    """

    def __init__(self, backend: Backend, period_s: float, lag_s: float = 0.0) -> None:
        self.backend = backend
        self.period_s = period_s
        self.lag_s = lag_s
        self._to_states = _state_matrix(backend.spec.class_names)
        self._last: np.ndarray | None = None  # the answer in use
        self._pending: tuple[float, Future] | None = None  # (t of its frame, the run)
        self._submitted_t: float | None = None
        # One worker: runs stay in order. Its thread ends when this object is collected.
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fcw-lights")

    def head_lamp_px(self, head_height_px: float, width: int, height: int) -> float:
        """The lamp diameter, in the model's input pixels, of a head ``head_height_px`` tall in a
        ``width`` x ``height`` frame: what the model has to see it by."""
        rows = input_rows_per_image_row(self.backend.spec.input, width, height)
        return head_height_px * rows / HEAD_H_PER_LAMP

    def _run(self, image: np.ndarray) -> np.ndarray:
        return np.asarray(self.backend.infer([image])[0], np.float32) @ self._to_states

    def update(self, frame: Frame) -> np.ndarray | None:
        """(4,) state probabilities of the latest answer due by this frame; None before the
        first. A run starts when ``period_s`` has passed since the last one started."""
        t = frame.t_s
        if self._submitted_t is not None and t < self._submitted_t:
            # Time went backwards (a new source, a replay): start afresh.
            self._last, self._pending, self._submitted_t = None, None, None
        if self._pending is not None and t >= self._pending[0] + self.lag_s:
            self._last, self._pending = self._pending[1].result(), None
        if self._pending is None and (self._submitted_t is None
                                      or t - self._submitted_t >= self.period_s):
            self._pending = (t, self._pool.submit(self._run, frame.image))
            self._submitted_t = t
            if self.lag_s <= 0.0:  # due at once: in sequence
                self._last, self._pending = self._pending[1].result(), None
        return self._last
