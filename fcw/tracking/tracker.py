"""Multi-vehicle tracker: a BoxKalman per track, gated Hungarian matching, time-based lifecycle.

A track is tentative until it has been matched ``min_hits`` times; a tentative track that misses
a frame is dropped (most are one-off false detections), a confirmed one coasts on its prediction
and is deleted once ``max_age_s`` has passed since its last match. All times are the frames'
capture times, so dropped frames and a variable frame rate only change dt.

A detection with a NaN or infinite coordinate is ignored, and a track whose filter is no longer
finite is dropped (both logged at debug level, ``fcw run -v``): one bad box must not stop a run.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from fcw.config import TrackerConfig
from fcw.tracking.association import associate
from fcw.tracking.kalman import AS, VS, BoxKalman, process_noise_for
from fcw.types import Detections, Tracks

log = logging.getLogger(__name__)


@dataclass
class _Track:
    track_id: int
    kf: BoxKalman
    score: float
    class_id: int
    last_match_t_s: float
    first_t_s: float
    hits: int = 1
    confirmed: bool = False


class Tracker:
    def __init__(self, cfg: TrackerConfig,
                 vehicle_class_ids: tuple[int, ...] | None = None) -> None:
        self.cfg = cfg
        self.vehicle_class_ids = None if vehicle_class_ids is None else tuple(vehicle_class_ids)
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._last_t_s: float | None = None

    def update(self, t_s: float, detections: Detections) -> Tracks:
        dets = self._vehicles(detections)
        dt_s = 0.0 if self._last_t_s is None else t_s - self._last_t_s
        # A repeated or out-of-order timestamp gives no elapsed time to predict over.
        if dt_s > 0.0 and self._tracks:
            Q = process_noise_for(dt_s, self.cfg)
            for trk in self._tracks:
                trk.kf.predict(dt_s, Q)
        self._last_t_s = t_s if self._last_t_s is None else max(self._last_t_s, t_s)

        pred = np.array([trk.kf.box() for trk in self._tracks]).reshape(-1, 4)
        c = self.cfg
        result = associate(pred, dets.xyxy, c.iou_weight, c.center_weight, c.max_cost)

        for ti, di in result.matches:
            trk = self._tracks[ti]
            trk.kf.update(dets.xyxy[di])
            trk.score = float(dets.score[di])
            trk.class_id = int(dets.class_id[di])
            trk.last_match_t_s = t_s
            trk.hits += 1
            trk.confirmed = trk.confirmed or trk.hits >= c.min_hits

        missed = set(result.unmatched_tracks.tolist())
        self._tracks = [
            trk for i, trk in enumerate(self._tracks)
            if i not in missed or (trk.confirmed and t_s - trk.last_match_t_s <= c.max_age_s)
        ]
        for di in result.unmatched_detections:
            self._tracks.append(self._new_track(dets, int(di), t_s))
        self._drop_diverged(t_s)
        return self._tracks_result(t_s)

    def reset(self) -> None:
        self._tracks = []
        self._last_t_s = None

    def _drop_diverged(self, t_s: float) -> None:
        for trk in self._tracks:
            if not trk.kf.is_finite():
                log.debug("t=%.3f s: track %d dropped, its filter state is not finite",
                          t_s, trk.track_id)
        self._tracks = [trk for trk in self._tracks if trk.kf.is_finite()]

    def _vehicles(self, detections: Detections) -> Detections:
        if len(detections) and not np.isfinite(detections.xyxy).all():
            finite = np.isfinite(detections.xyxy).all(axis=1)
            log.debug("%d detection(s) with a non-finite box ignored", int((~finite).sum()))
            detections = detections[finite]
        if self.vehicle_class_ids is None or len(detections) == 0:
            return detections
        return detections[np.isin(detections.class_id, self.vehicle_class_ids)]

    def _new_track(self, dets: Detections, di: int, t_s: float) -> _Track:
        trk = _Track(self._next_id, BoxKalman(dets.xyxy[di], self.cfg), float(dets.score[di]),
                     int(dets.class_id[di]), t_s, t_s)
        trk.confirmed = trk.hits >= self.cfg.min_hits
        self._next_id += 1
        return trk

    def _tracks_result(self, t_s: float) -> Tracks:
        if not self._tracks:
            return Tracks.empty()
        trks = self._tracks
        return Tracks(
            track_id=np.array([t.track_id for t in trks], np.int64),
            xyxy=np.array([t.kf.box() for t in trks], np.float32),
            score=np.array([t.score for t in trks], np.float32),
            class_id=np.array([t.class_id for t in trks], np.int32),
            confirmed=np.array([t.confirmed for t in trks], bool),
            scale_rate_per_s=np.array([t.kf.x[VS] for t in trks], np.float64),
            scale_rate_var=np.array([t.kf.P[VS, VS] for t in trks], np.float64),
            scale_accel_per_s2=np.array([t.kf.x[AS] for t in trks], np.float64),
            age_s=np.array([t_s - t.first_t_s for t in trks], np.float64),
            since_match_s=np.array([t_s - t.last_match_t_s for t in trks], np.float64),
        )
