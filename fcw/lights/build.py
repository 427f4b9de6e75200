"""Building the traffic-light stage from the config: models found like the detector's."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

from engines.backends import create_backend
from engines.spec import ModelSpec, load_spec
from engines.store import resolve_model
from fcw.config import Config
from fcw.errors import ModelError

from .classify import CropClassifier, FrameClassifier
from .stage import LightStage

CROP_MODEL = "tl_crop"    # fcw's own, ships in engines/models/
FRAME_MODEL = "nexar_tl"  # the Nexar winner; no download URL, so it may be missing


def build_light_stage(cfg: Config, detector_spec: ModelSpec, models_dir: Optional[Path] = None,
                      backend: Optional[str] = None) -> tuple[LightStage, dict[str, Any]]:
    """The stage and what the start record says about it (models, files, backends)."""
    lc = cfg.lights
    kind = backend or cfg.detector.backend
    threads = cfg.detector.threads
    crop_spec = load_spec(CROP_MODEL)
    crop_path = resolve_model(crop_spec, models_dir, download=False)
    crops = CropClassifier(create_backend(kind, crop_spec, crop_path, threads=threads))
    info: dict[str, Any] = {"crop_model": crop_spec.name, "crop_model_sha256": crop_spec.sha256,
                            "crop_backend": crops.backend.name, "frame_model": None}
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
            frames = FrameClassifier(create_backend(kind, frame_spec, frame_path, threads=threads),
                                     lc.frame_classifier_period_s)
            info.update(frame_model=frame_spec.name, frame_model_sha256=frame_spec.sha256,
                        frame_backend=frames.backend.name)
    stage = LightStage(lc, cfg.camera, crops, frames, detector_spec.traffic_light_class_ids,
                       detector_spec.vehicle_class_ids)
    return stage, info
