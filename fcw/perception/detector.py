"""The vehicle detector stage: full frame plus a far-range crop, decoded and merged.

The model behind it (YOLOX-Nano by default, FastestDet as the lite choice) is whatever the
backend's spec names; its output decoder comes from :func:`make_decoder`.

A 1280x720 frame squeezed into FastestDet's 352x352 input leaves a car 60 m ahead a dozen pixels
wide, below what the model resolves. A second pass over a crop around the vanishing point, where
distant vehicles in the ego lane sit, sees them at 2.5 to 3.3 times the resolution; the two sets of
boxes are then merged as one. Through a wide-angle lens (configured focal length) a third pass
over a tighter window on the same centre finds cars 8-12 px wide, which the far crop misses.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from engines.backends.base import Backend
from fcw.boxes import containment, iou_matrix
from fcw.config import CameraConfig, DetectorConfig, FarCropConfig
from fcw.types import Detections, Frame

from .decoders import make_decoder
from .merge import nms, soft_nms, weighted_fusion

# A crop box within this many pixels of a crop edge that is not a frame edge is a vehicle cut
# in two by the crop: the full-frame pass sees it whole.
_EDGE_PX = 3.0


@dataclass(frozen=True)
class CropWindow:
    """A region of the frame in pixels: x0, y0 inclusive, x1, y1 exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def around(cls, cx: float, cy: float, w: int, h: int, frame_w: int, frame_h: int) -> CropWindow:
        """A w x h window centred on (cx, cy), shifted to lie inside the frame."""
        w, h = min(w, frame_w), min(h, frame_h)
        x0 = int(round(min(max(cx - w / 2, 0), frame_w - w)))
        y0 = int(round(min(max(cy - h / 2, 0), frame_h - h)))
        return cls(x0, y0, x0 + w, y0 + h)


def far_crop_window(cfg: DetectorConfig, camera: CameraConfig, frame_w: int, frame_h: int,
                    centre_px: tuple[float, float] | None = None) -> CropWindow:
    """The far crop around ``centre_px`` (the estimated vanishing point), else the config's."""
    return far_crop_windows(cfg, camera, frame_w, frame_h, centre_px)[0]


def hfov_deg(focal_px: float, width_px: float) -> float:
    """Horizontal field of view (degrees) of a pinhole camera, focal length and width in px."""
    return math.degrees(2.0 * math.atan(0.5 * width_px / focal_px))


def tight_crop_on(fc: FarCropConfig, focal_px: float | None, width_px: float) -> bool:
    """Whether the tight crop runs: "auto" runs it for a lens at least ``tight_min_hfov_deg``
    wide, which only a known focal length tells (a zoom about the principal point changes
    nothing else in the picture of a flat road: widths and rows below the horizon scale
    alike, so the video alone does not give it)."""
    if fc.tight == "auto":
        return focal_px is not None and hfov_deg(focal_px, width_px) >= fc.tight_min_hfov_deg
    return fc.tight == "on"


def far_crop_windows(cfg: DetectorConfig, camera: CameraConfig, frame_w: int, frame_h: int,
                     centre_px: tuple[float, float] | None = None) -> tuple[CropWindow, ...]:
    """The far crop, then the tight crop where it runs, both around ``centre_px`` (the
    estimated vanishing point), else the config's."""
    fc = cfg.far_crop
    cx, cy = centre_px or (camera.vanishing_point_x * frame_w, camera.vanishing_point_y * frame_h)
    sizes = [(fc.width_frac, fc.height_frac)]
    if tight_crop_on(fc, camera.focal_px, frame_w):
        sizes.append((fc.tight_width_frac, fc.tight_height_frac))
    return tuple(CropWindow.around(cx, cy, int(round(wf * frame_w)), int(round(hf * frame_h)),
                                   frame_w, frame_h) for wf, hf in sizes)


def drop_cut_boxes(dets: Detections, win: CropWindow, frame_w: int, frame_h: int) -> Detections:
    """Remove crop detections that touch a crop edge lying inside the frame."""
    x1, y1, x2, y2 = dets.xyxy.T
    cut = np.zeros(len(dets), bool)
    if win.x0 > 0:
        cut |= x1 <= win.x0 + _EDGE_PX
    if win.y0 > 0:
        cut |= y1 <= win.y0 + _EDGE_PX
    if win.x1 < frame_w:
        cut |= x2 >= win.x1 - _EDGE_PX
    if win.y1 < frame_h:
        cut |= y2 >= win.y1 - _EDGE_PX
    return dets[~cut]


def drop_fragments(crop: Detections, full: Detections, iou_threshold: float) -> Detections:
    """Remove crop boxes that are pieces of a vehicle the full frame saw whole.

    A near vehicle that straddles the crop shows up in it as a smaller box mostly inside the
    full-frame box; its IoU with that box is too low for NMS to merge the two, so it would
    become a phantom second vehicle. Duplicates (IoU above the NMS threshold) are left to NMS.
    """
    if not len(crop) or not len(full):
        return crop
    fragment = ((containment(crop.xyxy, full.xyxy) > 0.5)
                & (iou_matrix(crop.xyxy, full.xyxy) < iou_threshold))
    return crop[~fragment.any(axis=1)]


def drop_nested(dets: Detections, threshold: float = 0.7) -> Detections:
    """Remove boxes lying mostly inside a larger box that scored higher.

    FastestDet sometimes answers a near car with its whole box plus a box over one half of it
    (a door, the rear); the pair's IoU is too low for NMS, and the half becomes a phantom track
    beside the real one. A vehicle hidden that much behind a nearer one is not visible anyway.
    """
    if len(dets) < 2:
        return dets
    inside = containment(dets.xyxy, dets.xyxy)
    area = np.prod(dets.xyxy[:, 2:] - dets.xyxy[:, :2], axis=1)
    dominated = (inside > threshold) & (dets.score[None, :] > dets.score[:, None]) \
        & (area[None, :] > area[:, None])
    return dets[~dominated.any(axis=1)]


def drop_enclosing(dets: Detections, vehicle_ids: np.ndarray, threshold: float = 0.9,
                   below_px: float = 2.0) -> Detections:
    """Remove vehicle boxes that enclose a better-scored vehicle box and reach lower than it.

    Close behind a car (under 8 m), FastestDet adds a wide, weaker box over the car, the road
    and the lane marks beside it; it becomes the lead (its bottom is lower) and its growth a
    false TTC. On a flat road a box reaching lower is nearer, and a nearer vehicle would hide
    one inside its box, so such a pair cannot both be real; the surer inner box stays.
    """
    veh = np.isin(dets.class_id, vehicle_ids)
    if veh.sum() < 2:
        return dets
    inside = containment(dets.xyxy, dets.xyxy)  # [i, j]: share of box i inside box j
    encloses = (inside.T > threshold) & veh[:, None] & veh[None, :] \
        & (dets.score[None, :] > dets.score[:, None]) \
        & (dets.xyxy[:, None, 3] > dets.xyxy[None, :, 3] + below_px)
    np.fill_diagonal(encloses, False)
    return dets[~encloses.any(axis=1)]


@dataclass(frozen=True)
class DetectorInput:
    """What :meth:`Detector.prepare` hands to :meth:`Detector.run`.

    x: (N, 3, H, W) float32 model input, N = 1 + len(windows): the full frame, then the crops.
    """

    x: np.ndarray
    windows: tuple[CropWindow, ...]
    preprocess_ms: float

    def __post_init__(self) -> None:
        if self.x.ndim != 4 or len(self.x) != 1 + len(self.windows):
            raise ValueError(f"model input {self.x.shape} for {len(self.windows)} crop(s)")

    @property
    def window(self) -> CropWindow | None:
        """The far crop (None when off)."""
        return self.windows[0] if self.windows else None


@dataclass(frozen=True)
class DetectorOutput:
    """The model's raw output, out: (N, *spec.output.shape) float32, N = 1 + len(windows), with
    its stage times."""

    out: np.ndarray
    windows: tuple[CropWindow, ...]
    preprocess_ms: float
    inference_ms: float


class Detector:
    """``update(frame) -> Detections`` of the classes the rest of fcw uses (vehicles, lights)."""

    def __init__(self, backend: Backend, cfg: DetectorConfig, camera: CameraConfig) -> None:
        self.backend = backend
        self.cfg = cfg
        self.camera = camera
        spec = backend.spec
        self._decode = make_decoder(spec)
        self.keep_classes = np.asarray(spec.vehicle_class_ids + spec.traffic_light_class_ids)
        # Per class score threshold: traffic-light heads are small and score lower than vehicles,
        # and a false head costs little (the lights stage judges every proposal's crop).
        self._class_threshold = np.full(len(spec.class_names), cfg.score_threshold, np.float32)
        self._class_threshold[list(spec.traffic_light_class_ids)] = cfg.light_score_threshold
        self._min_threshold = float(self._class_threshold[self.keep_classes].min())
        self.last_ms: dict[str, float] = {}
        # (from frame index, x, y) of the vanishing points the geometry stage has told; a
        # tuple replaced whole, as prepare() reads it on the reading thread.
        self._vp_schedule: tuple[tuple[int, float, float], ...] = ()

    def set_vanishing_point(self, x_px: float, y_px: float, from_index: int = 0) -> None:
        """Centre the far crop on (x_px, y_px) for frames of index ``from_index`` on. Keyed on
        the frame index, not on when it is called, so that a replay crops the same windows
        whether the frames are prepared ahead on a thread or in turn."""
        self._vp_schedule = (*self._vp_schedule[-7:], (from_index, x_px, y_px))

    def _merge(self, dets: Detections) -> Detections:
        nms_cfg = self.cfg.nms
        if nms_cfg.method == "soft":
            return soft_nms(dets, sigma=nms_cfg.soft_sigma,
                            score_threshold=self.cfg.score_threshold,
                            class_agnostic=nms_cfg.class_agnostic)
        if nms_cfg.method == "fusion":
            return weighted_fusion(dets, nms_cfg.iou_threshold, nms_cfg.class_agnostic)
        return nms(dets, nms_cfg.iou_threshold, nms_cfg.class_agnostic)

    # update() is prepare -> run -> decode; a threaded pipeline (fcw/pipeline.py) calls the
    # three on separate threads so that the model never waits for the frame's other work.

    def prepare(self, frame: Frame) -> DetectorInput:
        """The model input for the whole frame and the far-range crop (CPU pre-processing)."""
        t0 = time.perf_counter()
        wins: tuple[CropWindow, ...] = ()
        if self.cfg.far_crop.enabled:
            told = [(x, y) for i, x, y in self._vp_schedule if i <= frame.index]
            wins = far_crop_windows(self.cfg, self.camera, frame.width, frame.height,
                                    told[-1] if told else None)
        x = self.backend.prepare([frame.image]
                                 + [frame.image[w.y0:w.y1, w.x0:w.x1] for w in wins])
        return DetectorInput(x, wins, (time.perf_counter() - t0) * 1e3)

    def run(self, inp: DetectorInput) -> DetectorOutput:
        """The model run alone."""
        t0 = time.perf_counter()
        out = self.backend.run(inp.x)
        return DetectorOutput(out, inp.windows, inp.preprocess_ms,
                              (time.perf_counter() - t0) * 1e3)

    def decode(self, frame: Frame, raw: DetectorOutput) -> Detections:
        """Boxes in frame pixels from the model's output: decoded, merged, filtered.

        Sets ``last_ms`` to this frame's stage times, which travel with the output so that they
        stay right when the stages run on different threads."""
        t1 = time.perf_counter()
        h, w = frame.height, frame.width
        out = raw.out
        parts = [self._decode_one(out[0], w, h)]
        for k, win in enumerate(raw.windows, start=1):
            crop = self._decode_one(out[k], win.x1 - win.x0, win.y1 - win.y0)
            shift = np.array([win.x0, win.y0, win.x0, win.y0], np.float32)
            crop = Detections(crop.xyxy + shift, crop.score, crop.class_id)
            crop = drop_cut_boxes(crop, win, w, h)
            if k > 1:  # the tight crop (far_crop_windows puts it after the far crop)
                crop = crop[crop.xyxy[:, 2] - crop.xyxy[:, 0]
                            < self.cfg.far_crop.tight_max_box_frac * w]
            # A tight crop's fragment of a car the far crop saw whole is dropped like one of
            # the full frame's: against every pass before it.
            parts.append(drop_fragments(crop, Detections.concat(parts),
                                        self.cfg.nms.iou_threshold))
        dets = drop_enclosing(drop_nested(self._merge(Detections.concat(parts))),
                              np.asarray(self.backend.spec.vehicle_class_ids))
        if self.cfg.min_box_px > 0 and len(dets):
            wh = dets.xyxy[:, 2:] - dets.xyxy[:, :2]
            dets = dets[(wh >= self.cfg.min_box_px).all(axis=1)]
        self.last_ms = {"preprocess": raw.preprocess_ms, "inference": raw.inference_ms,
                        "postprocess": (time.perf_counter() - t1) * 1e3}
        return dets

    def _decode_one(self, out: np.ndarray, w: int, h: int) -> Detections:
        dets = self._decode(out, self._min_threshold, w, h, self.keep_classes)
        return dets[dets.score > self._class_threshold[dets.class_id]]

    def update(self, frame: Frame) -> Detections:
        return self.decode(frame, self.run(self.prepare(frame)))
