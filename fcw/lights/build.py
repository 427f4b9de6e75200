"""Building the traffic-light stage from the config: models found like the detector's."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engines.backends import BackendName, create_backend
from engines.backends.base import Backend
from engines.spec import ModelSpec, load_spec
from engines.store import resolve_model
from fcw.config import Config
from fcw.errors import ModelError

from .classify import CropClassifier, FrameClassifier
from .stage import LightStage

CROP_MODEL = "tl_crop"    # fcw's own, ships in engines/models/
FRAME_MODEL = "nexar_tl"  # the Nexar winner; no download URL, so it may be missing


@dataclass(frozen=True)
class LightModels:
    """The loaded classifiers' backends: loaded once, shared by every drive a process replays.

    crops: the crop classifier's backend; frames: the whole-frame classifier's, or None.
    info: what the start record says about them (models, sha256, backends).
    """

    crops: Backend
    frames: Backend | None
    info: dict[str, Any]


def load_light_models(cfg: Config, models_dir: Path | None = None,
                      backend: BackendName | None = None) -> LightModels:
    lc = cfg.lights
    kind = backend or cfg.detector.backend
    threads = cfg.inference_threads()
    crop_spec = load_spec(CROP_MODEL)
    crop_path = resolve_model(crop_spec, models_dir, download=False)
    crops = create_backend(kind, crop_spec, crop_path, threads=threads)
    info: dict[str, Any] = {"crop_model": crop_spec.name, "crop_model_sha256": crop_spec.sha256,
                            "crop_backend": crops.name, "frame_model": None}
    frames = None
    if lc.frame_classifier != "off":
        frame_spec = load_spec(FRAME_MODEL)
        try:
            frame_path = resolve_model(frame_spec, models_dir, download=False)
        except ModelError as exc:
            if lc.frame_classifier == "on":
                raise
            print(f"fcw: traffic lights without the whole-frame classifier: {exc}", file=sys.stderr)
        else:
            frames = create_backend(kind, frame_spec, frame_path, threads=threads)
            info.update(frame_model=frame_spec.name, frame_model_sha256=frame_spec.sha256,
                        frame_backend=frames.name)
    return LightModels(crops, frames, info)


def build_light_stage(cfg: Config, detector_spec: ModelSpec, models: LightModels) -> LightStage:
    """A fresh stage (its smoothing and the frame classifier's schedule start over) around
    already loaded models."""
    frames = (FrameClassifier(models.frames, cfg.lights.frame_classifier_period_s,
                              cfg.lights.frame_classifier_lag_s)
              if models.frames is not None else None)
    return LightStage(cfg.lights, cfg.camera, CropClassifier(models.crops), frames,
                      detector_spec.traffic_light_class_ids, detector_spec.vehicle_class_ids)
