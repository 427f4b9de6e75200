"""The traffic-light stage: ``update(frame, detections) -> (TrafficLight, events)``.

Per frame: proposals (lamp blobs above the horizon, the detector's traffic-light boxes) -> the
crop classifier on each -> the governing light -> fused with the whole-frame classifier -> the
smoother. A ``traffic_light`` event records every change of the shown state.
"""
from __future__ import annotations

import numpy as np

from fcw.config import CameraConfig, LightsConfig
from fcw.types import Detections, Event, Frame, TrafficLight

from .classify import CropClassifier, FrameClassifier
from .fusion import LightSmoother, fuse
from .proposals import propose
from .select import GoverningLightSelector


class LightStage:
    def __init__(self, cfg: LightsConfig, camera: CameraConfig, crops: CropClassifier,
                 frames: FrameClassifier | None, traffic_light_class_ids: tuple[int, ...],
                 vehicle_class_ids: tuple[int, ...]) -> None:
        self.cfg = cfg
        self.camera = camera
        self.crops = crops
        self.frames = frames
        self.traffic_light_class_ids = tuple(traffic_light_class_ids)
        self.vehicle_class_ids = tuple(vehicle_class_ids)
        self.selector = GoverningLightSelector(cfg)
        self.smoother = LightSmoother(cfg)
        #: the last frame's fused, unsmoothed probabilities (none, red, yellow, green), for
        #: benchmarks and tuning
        self.last_probs: np.ndarray | None = None

    def update(self, frame: Frame, detections: Detections) -> tuple[TrafficLight, list[Event]]:
        cls = detections.class_id
        proposals = propose(frame.image, self.camera.vanishing_point_y * frame.height,
                            detections.xyxy[np.isin(cls, self.traffic_light_class_ids)],
                            detections.xyxy[np.isin(cls, self.vehicle_class_ids)],
                            max_blobs=self.cfg.max_blobs)
        probs = self.crops.classify(frame.image, proposals)
        governing = self.selector.update(frame.t_s, frame.width, frame.height,
                                         self.camera.vanishing_point_x * frame.width, proposals, probs)
        frame_probs = self.frames.update(frame) if self.frames is not None else None
        fused = fuse(None if governing is None else governing.probs, frame_probs, self.cfg.crop_weight)
        self.last_probs = fused
        changed = self.smoother.update(frame.t_s, fused)
        state, confidence = self.smoother.state, self.smoother.confidence
        light = TrafficLight(state, confidence, None if governing is None else governing.xyxy)
        events = []
        if changed:
            events.append(Event("traffic_light", frame.t_s, frame.index,
                                {"state": state.value, "confidence": round(confidence, 3)}))
        return light, events
