"""Model specs: what fcw knows about each model file, read from ``engines/specs/*.yaml``.

A spec is the single place that says where a model comes from (URL, sha256, size, licence), how
to feed it (input size, layout, colour order, resize, crop, scaling) and how to read its output
(decoder, class names, which classes are vehicles and traffic lights).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engines.errors import ModelError

SPECS_DIR = Path(__file__).resolve().parent / "specs"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Frozen):
    name: str
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    layout: Literal["NCHW"] = "NCHW"
    color: Literal["BGR", "RGB"] = "BGR"
    resize: Literal["area", "linear"] = "area"
    # Keep the aspect ratio: resize the image to fit, at the top-left corner, and fill the rest
    # with pad_value (YOLOX's letterbox); False stretches it to the input size.
    letterbox: bool = False
    pad_value: float = Field(114.0, ge=0.0, le=255.0)
    # Resize to this (w, h) first, then crop to (width, height); None resizes straight to it.
    resize_to: Optional[tuple[int, int]] = None
    crop: Optional[Literal["center"]] = None
    scale: float = 1.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    # A fixed batch size baked into the graph, or None when the batch axis is dynamic.
    batch: Optional[int] = Field(None, gt=0)
    # The input's height and width can be rewritten to multiples of this (engines/input_size.py);
    # None: the graph takes only its own size.
    size_multiple: Optional[int] = Field(None, gt=0)
    # The (width, height) fcw runs the model at when detector.input_size does not say; None:
    # width x height, the graph's own.
    run_size: Optional[tuple[int, int]] = None


class OutputSpec(_Frozen):
    decoder: Literal["fastestdet", "yolox", "softmax"]
    shape: tuple[int, ...]
    # Anchor-point strides of a multi-scale head (YOLOX), in input pixels.
    strides: tuple[int, ...] = ()


class ModelSpec(_Frozen):
    name: str
    task: Literal["detector", "frame_classifier", "crop_classifier"]
    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size_bytes: int = Field(gt=0)
    license: str
    url: Optional[str] = None
    input: InputSpec
    output: OutputSpec
    class_names: tuple[str, ...]
    vehicle_classes: tuple[str, ...] = ()
    traffic_light_classes: tuple[str, ...] = ()

    def class_ids(self, names: tuple[str, ...]) -> tuple[int, ...]:
        return tuple(self.class_names.index(n) for n in names)

    @property
    def vehicle_class_ids(self) -> tuple[int, ...]:
        return self.class_ids(self.vehicle_classes)

    @property
    def traffic_light_class_ids(self) -> tuple[int, ...]:
        return self.class_ids(self.traffic_light_classes)


def available_models() -> list[str]:
    return sorted(p.stem for p in SPECS_DIR.glob("*.yaml"))


def load_spec(name: str) -> ModelSpec:
    path = SPECS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ModelError(f"unknown model {name!r}; known: {', '.join(available_models())}")
    try:
        spec = ModelSpec.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ModelError(f"{path}: invalid model spec: {str(exc).splitlines()[0]}") from None
    missing = set(spec.vehicle_classes + spec.traffic_light_classes) - set(spec.class_names)
    if missing:
        raise ModelError(f"{path}: classes not in class_names: {sorted(missing)}")
    return spec
