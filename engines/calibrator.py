"""INT8 calibration from real frames, and the check that decides whether an INT8 engine is kept.

``CalibrationBatches`` is pure Python (no TensorRT): it pre-processes images exactly as inference
does (``engines.preprocess.preprocess``) so the activation ranges TensorRT measures are those it
will see. Only full batches are yielded: the last partial batch is DROPPED, not padded, because
padding with repeated or blank frames would skew the entropy histograms.

``split_holdout`` keeps every ``every``-th image (in sorted order) out of calibration; those frames
are then run through both the fp32 ONNX graph and the INT8 engine, and the engine is accepted only
if ``detection_agreement`` >= ``INT8_MIN_AGREEMENT``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Optional, Sequence

import cv2
import numpy as np

from fcw.boxes import iou_matrix
from fcw.errors import ModelError, SourceError
from fcw.sources.images import IMAGE_SUFFIXES
from fcw.types import Detections

from .cache import atomic_write
from .preprocess import preprocess
from .spec import InputSpec

INT8_MIN_AGREEMENT = 0.9


def list_images(folder: Path) -> list[Path]:
    paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise SourceError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) for INT8 calibration")
    return paths


def split_holdout(paths: Sequence[Path], every: int = 5) -> tuple[list[Path], list[Path]]:
    """(calibration, hold-out): every ``every``-th image of the sorted list is held out."""
    paths = sorted(paths)
    holdout = [p for i, p in enumerate(paths) if i % every == every - 1]
    calib = [p for i, p in enumerate(paths) if i % every != every - 1]
    if not holdout:
        raise SourceError(f"INT8 calibration needs at least {every} images to hold some out; "
                          f"got {len(paths)}")
    return calib, holdout


def read_image(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SourceError(f"{path}: not a readable image")
    return img


class CalibrationBatches:
    """Iterable of (batch, 3, H, W) float32 arrays from ``image_paths``, in the given order.

    Re-iterable (each ``iter()`` starts again) and lazy: one batch of images in memory at a time.
    """

    def __init__(self, image_paths: Sequence[Path], spec: InputSpec, batch: int) -> None:
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.paths = [Path(p) for p in image_paths]
        self.spec = spec
        self.batch = batch
        if len(self) == 0:
            raise SourceError(f"INT8 calibration needs at least {batch} images (one batch); "
                              f"got {len(self.paths)}")

    def __len__(self) -> int:
        return len(self.paths) // self.batch  # the last partial batch is dropped

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.batch, 3, self.spec.height, self.spec.width)

    def __iter__(self) -> Iterator[np.ndarray]:
        for start in range(0, len(self) * self.batch, self.batch):
            chunk = self.paths[start:start + self.batch]
            yield preprocess([read_image(p) for p in chunk], self.spec)


def make_entropy_calibrator(batches: CalibrationBatches, cache_file: Path, trt: Any, cuda: Any):
    """An instance of a ``trt.IInt8EntropyCalibrator2`` subclass fed by ``batches``.

    The class is made here because its base comes from the (lazily imported) tensorrt module.
    ``cache_file`` keeps TensorRT's measured scales, so a rebuild skips the calibration pass.
    """
    cache_file = Path(cache_file)
    nbytes = int(np.prod(batches.shape)) * np.dtype(np.float32).itemsize

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            # pybind11 trampolines need the base __init__ called explicitly.
            trt.IInt8EntropyCalibrator2.__init__(self)
            self._batches = iter(batches)
            self._device = cuda.mem_alloc(nbytes)
            self.batches_served = 0

        def get_batch_size(self) -> int:
            return batches.batch

        def get_batch(self, names: list[str]) -> Optional[list[int]]:
            try:
                x = next(self._batches)
            except StopIteration:
                return None  # tells TensorRT calibration data is exhausted
            cuda.memcpy_htod(self._device, np.ascontiguousarray(x, np.float32))
            self.batches_served += 1
            return [int(self._device)]

        def read_calibration_cache(self) -> Optional[bytes]:
            return cache_file.read_bytes() if cache_file.is_file() else None

        def write_calibration_cache(self, cache: Any) -> None:
            atomic_write(cache_file, bytes(cache))

    return EntropyCalibrator()


def _frame_matches(ref: Detections, cand: Detections, iou: float) -> int:
    """Greedy one-to-one matches of same-class boxes with IoU >= ``iou``, best pairs first."""
    if len(ref) == 0 or len(cand) == 0:
        return 0
    m = iou_matrix(ref.xyxy, cand.xyxy)
    m[ref.class_id[:, None] != cand.class_id[None, :]] = 0.0
    matches = 0
    for flat in np.argsort(-m, axis=None):
        i, j = np.unravel_index(flat, m.shape)
        if m[i, j] < iou:
            break
        if np.isfinite(m[i, j]):
            matches += 1
            m[i, :] = -np.inf
            m[:, j] = -np.inf
    return matches


def detection_agreement(reference: list[Detections], candidate: list[Detections],
                        iou: float = 0.5) -> float:
    """F1 of ``candidate`` against ``reference`` over all frames: 2*matches / (|ref| + |cand|).

    A match pairs one box of each with the same class and IoU >= ``iou``. 1.0 when both are empty.
    """
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference frames but {len(candidate)} candidate frames")
    matches = sum(_frame_matches(r, c, iou) for r, c in zip(reference, candidate))
    total = sum(len(r) + len(c) for r, c in zip(reference, candidate))
    return 1.0 if total == 0 else 2.0 * matches / total


def check_agreement(agreement: float, model: str, threshold: float = INT8_MIN_AGREEMENT) -> None:
    """Refuse an INT8 engine whose hold-out agreement with fp32 is below ``threshold``."""
    if agreement < threshold:
        raise ModelError(f"INT8 engine for {model!r} agrees with fp32 on {agreement:.3f} of hold-out "
                         f"detections, below {threshold:.2f}; not cached: use --fp16 or "
                         "calibrate on more representative frames")
