"""INT8 calibration on real frames, and the gate that decides whether an INT8 model is kept.

Both INT8 paths use this module: TensorRT engines (engines/build.py) and statically quantised
ONNX graphs for the CPU (engines/quantize.py). engines knows nothing of where frames come from
or how a detector's output becomes boxes: the caller (``fcw build-engine``) passes the frames,
BGR uint8 arrays in a sequence that may load them lazily, and a ``Decode`` function.

``CalibrationBatches`` pre-processes frames exactly as inference does
(``engines.preprocess.preprocess``), so the activation ranges measured are those the model will
see. Only full batches are yielded: the last partial batch is DROPPED, not padded, because
padding with repeated or blank frames would skew the histograms.

``split_holdout`` keeps every ``every``-th frame out of calibration; those frames are run through
both the fp32 graph and the INT8 candidate, their outputs decoded, and the candidate is accepted
only if ``detection_agreement`` >= ``INT8_MIN_AGREEMENT``.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Protocol, TypeVar, overload

import numpy as np

from .backends.base import Backend
from .cache import atomic_write
from .errors import ModelError
from .preprocess import preprocess
from .spec import InputSpec, ModelSpec

INT8_MIN_AGREEMENT = 0.9
HOLDOUT_EVERY = 5
#: IoU at which two boxes of the same class count as the same detection.
MATCH_IOU = 0.5

T = TypeVar("T")


class BoxSet(Protocol):
    """One frame's decoded detections: xyxy (N, 4) pixels, class_id (N,) int."""

    @property
    def xyxy(self) -> np.ndarray: ...

    @property
    def class_id(self) -> np.ndarray: ...


#: One frame's raw model output (no batch axis), the frame's width and height -> its detections.
Decode = Callable[[np.ndarray, int, int], BoxSet]


@dataclass(frozen=True)
class TopClass:
    """A classifier's answer as one frame-sized box of its top class, so that a changed class is
    a disagreement. xyxy: (1, 4) float32; class_id: (1,) int32."""

    xyxy: np.ndarray
    class_id: np.ndarray

    def __post_init__(self) -> None:
        if self.xyxy.shape != (1, 4) or self.class_id.shape != (1,):
            raise ValueError(f"TopClass: xyxy {self.xyxy.shape}, class_id {self.class_id.shape}")


def top_class(out: np.ndarray, width: int, height: int) -> TopClass:
    return TopClass(np.array([[0, 0, width, height]], np.float32),
                    np.array([int(np.argmax(out))], np.int32))


def decode_for(spec: ModelSpec, decode: Optional[Decode]) -> Decode:
    """``decode``, or for a classifier its top class; a detector needs its decoder passed in."""
    if decode is not None:
        return decode
    if spec.task == "detector":
        raise ModelError(f"INT8 agreement check for detector {spec.name!r} needs a decode "
                         "function for its output (the caller passes it)")
    return top_class


class Subset(Sequence[T]):
    """The items of ``items`` at ``indices``, read only when asked for (frames may load lazily)."""

    def __init__(self, items: Sequence[T], indices: Sequence[int]) -> None:
        self._items, self._indices = items, list(indices)

    def __len__(self) -> int:
        return len(self._indices)

    @overload
    def __getitem__(self, i: int) -> T: ...

    @overload
    def __getitem__(self, i: slice) -> Subset[T]: ...

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return Subset(self._items, self._indices[i])
        return self._items[self._indices[i]]


def split_holdout(frames: Sequence[T], every: int = HOLDOUT_EVERY) -> tuple[Subset[T], Subset[T]]:
    """(calibration, hold-out): every ``every``-th frame, in the given order, is held out."""
    n = len(frames)
    holdout = [i for i in range(n) if i % every == every - 1]
    if not holdout:
        raise ModelError(f"INT8 calibration needs at least {every} frames to hold some out; "
                         f"got {n}")
    calib = [i for i in range(n) if i % every != every - 1]
    return Subset(frames, calib), Subset(frames, holdout)


def frames_key(frames: Sequence[np.ndarray]) -> str:
    """8 hex digits naming a set of frames (a calibration cache is valid only for its frames).
    Every 8th pixel of each frame: enough to tell sets apart, cheap on hundreds of 1080p frames."""
    h = hashlib.sha256()
    for f in frames:
        h.update(repr(f.shape).encode())
        h.update(np.ascontiguousarray(f[::8, ::8]).tobytes())
    return h.hexdigest()[:8]


class CalibrationBatches:
    """Iterable of (batch, 3, H, W) float32 arrays from ``frames``, in the given order.

    Re-iterable (each ``iter()`` starts again) and lazy: one batch of frames in memory at a time
    when the sequence loads them on access.
    """

    def __init__(self, frames: Sequence[np.ndarray], spec: InputSpec, batch: int) -> None:
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.frames = frames
        self.spec = spec
        self.batch = batch
        if len(self) == 0:
            raise ModelError(f"INT8 calibration needs at least {batch} frames (one batch); "
                             f"got {len(frames)}")

    def __len__(self) -> int:
        return len(self.frames) // self.batch  # the last partial batch is dropped

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.batch, 3, self.spec.height, self.spec.width)

    def __iter__(self) -> Iterator[np.ndarray]:
        for start in range(0, len(self) * self.batch, self.batch):
            yield preprocess([self.frames[i] for i in range(start, start + self.batch)], self.spec)


def make_entropy_calibrator(batches: CalibrationBatches, cache_file: Path, trt: Any,
                            cuda: Any) -> Any:
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


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) IoU of xyxy boxes. fcw.boxes has the same for fcw's stages; engines sits
    below fcw and may not import it (tests/test_layers.py)."""
    a = np.asarray(a, float).reshape(-1, 1, 4)
    b = np.asarray(b, float).reshape(1, -1, 4)
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _frame_matches(ref: BoxSet, cand: BoxSet, iou: float) -> int:
    """Greedy one-to-one matches of same-class boxes with IoU >= ``iou``, best pairs first."""
    if len(ref.xyxy) == 0 or len(cand.xyxy) == 0:
        return 0
    m = _iou_matrix(ref.xyxy, cand.xyxy)
    m[np.asarray(ref.class_id)[:, None] != np.asarray(cand.class_id)[None, :]] = 0.0
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


def detection_agreement(reference: Sequence[BoxSet], candidate: Sequence[BoxSet],
                        iou: float = MATCH_IOU) -> float:
    """F1 of ``candidate`` against ``reference`` over all frames: 2*matches / (|ref| + |cand|).

    A match pairs one box of each with the same class and IoU >= ``iou``. 1.0 when both are empty.
    """
    if len(reference) != len(candidate):
        raise ValueError(f"{len(reference)} reference frames but {len(candidate)} candidate frames")
    pairs = list(zip(reference, candidate, strict=True))
    matches = sum(_frame_matches(r, c, iou) for r, c in pairs)
    total = sum(len(r.xyxy) + len(c.xyxy) for r, c in pairs)
    return 1.0 if total == 0 else 2.0 * matches / total


def holdout_agreement(reference: Backend, candidate: Backend, frames: Sequence[np.ndarray],
                      decode: Decode) -> float:
    """Detection agreement of ``candidate`` with ``reference`` (the fp32 model) on ``frames``."""
    ref, cand = [], []
    for i in range(len(frames)):  # one frame at a time: the sequence may load them lazily
        frame = frames[i]
        h, w = frame.shape[:2]
        ref.append(decode(reference.infer([frame])[0], w, h))
        cand.append(decode(candidate.infer([frame])[0], w, h))
    return detection_agreement(ref, cand)


def check_agreement(agreement: float, model: str, threshold: float = INT8_MIN_AGREEMENT,
                    what: str = "INT8 engine", instead: str = "use --fp16") -> None:
    """Refuse an INT8 candidate whose hold-out agreement with fp32 is below ``threshold``."""
    if agreement < threshold:
        raise ModelError(f"{what} for {model!r} agrees with fp32 on {agreement:.3f} of hold-out "
                         f"detections, below {threshold:.2f}; not cached: {instead} or "
                         "calibrate on more representative frames")
