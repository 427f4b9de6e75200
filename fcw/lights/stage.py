"""The traffic-light stage: ``update(frame, detections) -> (TrafficLight, events)``.

Per frame: proposals (lamp blobs above the horizon, the detector's traffic-light boxes) -> the
crop classifier on each -> the governing light -> fused with the whole-frame classifier -> the
smoother. A ``traffic_light`` event records every change of the shown state, with the governing
head's box, or, when the state is "unknown", the heads that disagree (``candidates``).
"""
from __future__ import annotations

import numpy as np

from fcw.boxes import iou_matrix
from fcw.config import CameraConfig, LightsConfig
from fcw.types import CameraGeometry, Detections, Event, Frame, LightState, TrafficLight

from .classify import STATES, CropClassifier, FrameClassifier
from .fusion import LightSmoother, frame_visibility, fuse
from .proposals import HELD, BlobParams, LightProposals, propose
from .select import GoverningLightSelector, LightCandidate

_OVERLAP_IOU = 0.3  # a proposal this much over the held head finds it afresh


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
        self.blob_params = BlobParams(min_diameter_px=cfg.min_lamp_px)
        self.selector = GoverningLightSelector(cfg)
        # (capture time, box) of the last governing head a proposal found.
        self._proposed_head: tuple[float, np.ndarray] | None = None
        self.smoother = LightSmoother(cfg)
        #: the last frame's fused, unsmoothed probabilities (none, red, yellow, green), for
        #: benchmarks and tuning
        self.last_probs: np.ndarray | None = None
        #: the last frame's crop reading (every lit head, the candidates), for eval and tuning
        self.last_candidate: LightCandidate | None = None

    def update(self, frame: Frame, detections: Detections,
               geometry: CameraGeometry | None = None) -> tuple[TrafficLight, list[Event]]:
        """``geometry``: the horizon and vanishing point estimated online (the geometry stage's
        last); None uses the config's. Heads hang above the horizon, lamps on vehicles at or
        below it: a dashcam pitched 2.5 degrees down puts the true horizon 48 px above the
        configured one (60 degree lens, 720 rows), where brake lights would pass for heads."""
        if geometry is not None and geometry.horizon_y_px < frame.height:
            horizon_y_px, vp_x_px = geometry.horizon_y_px, geometry.vp_x_px
        else:
            horizon_y_px = self.camera.vanishing_point_y * frame.height
            vp_x_px = self.camera.vanishing_point_x * frame.width
        cls = detections.class_id
        proposals = propose(frame.image, horizon_y_px,
                            detections.xyxy[np.isin(cls, self.traffic_light_class_ids)],
                            detections.xyxy[np.isin(cls, self.vehicle_class_ids)],
                            self.blob_params, max_blobs=self.cfg.max_blobs)
        held = self._held_head(frame.t_s, proposals)
        if held is not None:
            proposals = proposals.with_box(held, HELD)
        probs = self.crops.classify(frame.image, proposals)
        governing = self.selector.update(frame.t_s, frame.width, frame.height, vp_x_px,
                                         horizon_y_px, proposals, probs)
        if governing is not None and governing.xyxy is not None and (
                held is None or not np.array_equal(governing.xyxy, held)):
            self._proposed_head = (frame.t_s, governing.xyxy)
        frame_probs = self.frames.update(frame) if self.frames is not None else None
        fused = fuse(None if governing is None else governing.probs, frame_probs,
                     self.cfg.crop_weight, self._frame_visibility(frame, governing))
        self.last_probs = fused
        self.last_candidate = governing
        # A head found afresh within head_hold_s and lost now (its lamps a pixel across, its held
        # box read unlit at the classifier's limit) leaves this frame with no reading, not one of
        # "none": a far red head found in one frame of two would otherwise never lead the EMA.
        lost = governing is None and self._proposed_head is not None and (
            0.0 <= frame.t_s - self._proposed_head[0] <= self.cfg.head_hold_s)
        changed = False if lost else self.smoother.update(frame.t_s, fused)
        state, confidence = self.smoother.state, self.smoother.confidence
        if governing is None:
            light = TrafficLight(state, confidence)
        else:
            # The box shown is the head that governs now, when it shows the state fcw reports
            # (not during the debounce of a change, nor while the heads disagree).
            shows_state = STATES[int(np.argmax(governing.probs))] is state
            box = governing.xyxy if shows_state and state is not LightState.UNKNOWN else None
            light = TrafficLight(state, confidence, box, governing.heads_xyxy,
                                 governing.heads_state)
        events = []
        if changed:
            fields: dict = {"state": state.value, "confidence": round(confidence, 3)}
            if light.xyxy is not None:
                fields["xyxy"] = [round(float(v), 1) for v in light.xyxy]
            if state is LightState.UNKNOWN and governing is not None:
                fields["candidates"] = [
                    {"state": governing.heads_state[i].value,
                     "xyxy": [round(float(v), 1) for v in governing.heads_xyxy[i]]}
                    for i in governing.candidates]
            events.append(Event("traffic_light", frame.t_s, frame.index, fields))
        return light, events

    def _frame_visibility(self, frame: Frame, governing: LightCandidate | None) -> float:
        """How far the whole-frame classifier can see the governing head (the heaviest of those
        that disagree): its weight in the fusion scales with this (fcw/lights/fusion.py)."""
        if governing is None or self.frames is None:
            return 1.0
        box = governing.xyxy if governing.xyxy is not None else (
            governing.heads_xyxy[governing.candidates[0]])
        lamp_px = self.frames.head_lamp_px(float(box[3] - box[1]), frame.width, frame.height)
        return frame_visibility(lamp_px, self.cfg.frame_classifier_blind_lamp_px,
                                self.cfg.frame_classifier_sharp_lamp_px)

    def _held_head(self, t_s: float, proposals: LightProposals) -> np.ndarray | None:
        """The last governing head that a proposal found, within ``head_hold_s``, when no
        proposal overlaps it now: a head of a few pixels (a 2 px lamp 70 m away through a wide
        lens) is missed by the blob search in one frame of two, and each miss would hand the
        state to the whole-frame classifier, which cannot see it ("none"). Its crop is classified
        again where it was; one that is not lit there any more governs nothing. Only a head
        proposed afresh renews the hold, so a held box is never held on itself."""
        if self._proposed_head is None:
            return None
        seen_t_s, box = self._proposed_head
        if not 0.0 <= t_s - seen_t_s <= self.cfg.head_hold_s:
            return None
        if len(proposals) and iou_matrix(box, proposals.xyxy).max() > _OVERLAP_IOU:
            return None
        return box

    def reset(self) -> None:
        """Forget the state and the last governing head (a new source)."""
        self._proposed_head = None
        self.selector.reset()
        self.smoother.reset()
        self.last_probs, self.last_candidate = None, None
