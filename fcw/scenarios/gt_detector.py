"""A stand-in detector that returns the labelled boxes, spoiled on purpose.

It lets tracking, TTC and warnings be tested on labelled clips without running a model: the
true boxes get gaussian corner jitter, some go missing, and false boxes appear. Randomness is
drawn from (seed, frame index), so a frame's detections do not depend on which frames came
before: the same clip and seed always give the same detections.
"""
from __future__ import annotations

import numpy as np

from fcw.labels import ClipLabels
from fcw.types import Detections, Frame


class GroundTruthDetector:
    """class_ids maps label class names to detector class ids ({"car": 2}); other classes are
    dropped. false_rate is the mean number of false boxes per frame (Poisson)."""

    def __init__(self, labels: ClipLabels, class_ids: dict[str, int], noise_px: float = 2.0,
                 miss_rate: float = 0.0, false_rate: float = 0.0, seed: int = 0,
                 max_occlusion: float = 0.6) -> None:
        if not 0.0 <= miss_rate <= 1.0:
            raise ValueError(f"miss_rate must be in [0, 1], got {miss_rate}")
        if noise_px < 0 or false_rate < 0:
            raise ValueError("noise_px and false_rate must be >= 0")
        self.labels, self.class_ids = labels, dict(class_ids)
        self.noise_px, self.miss_rate, self.false_rate = noise_px, miss_rate, false_rate
        self.seed, self.max_occlusion = seed, max_occlusion

    def update(self, frame: Frame) -> Detections:
        rng = np.random.default_rng([self.seed, frame.index])
        fl = self.labels.frame_at(frame.index)
        boxes = [b for b in (fl.boxes if fl else ())
                 if b.cls in self.class_ids and b.occlusion <= self.max_occlusion]
        xyxy = np.array([b.xyxy for b in boxes], np.float64).reshape(-1, 4)
        cls = np.array([self.class_ids[b.cls] for b in boxes], np.int32)
        xyxy = xyxy + rng.normal(0.0, self.noise_px, xyxy.shape) if self.noise_px > 0 else xyxy
        keep = rng.random(len(boxes)) >= self.miss_rate
        score = rng.uniform(0.6, 0.95, len(boxes))
        n_false = int(rng.poisson(self.false_rate)) if self.false_rate > 0 else 0
        w, h = frame.width, frame.height
        size = rng.uniform(0.02, 0.15, (n_false, 1)) * w * np.array([1.0, 0.8])
        corner = rng.uniform(0, 1, (n_false, 2)) * (np.array([w, h]) - size)
        false_xyxy = np.concatenate([corner, corner + size], axis=1)
        ids = np.array(sorted(set(self.class_ids.values())), np.int32)
        false_cls = ids[rng.integers(len(ids), size=n_false)] if len(ids) else np.zeros(0, np.int32)
        xyxy = np.concatenate([xyxy[keep], false_xyxy])
        xyxy[:, 0::2] = np.clip(np.sort(xyxy[:, 0::2], axis=1), 0, w)
        xyxy[:, 1::2] = np.clip(np.sort(xyxy[:, 1::2], axis=1), 0, h)
        scores = np.concatenate([score[keep], rng.uniform(0.3, 0.6, n_false)])
        return Detections(xyxy.astype(np.float32), scores.astype(np.float32),
                          np.concatenate([cls[keep], false_cls]).astype(np.int32))
