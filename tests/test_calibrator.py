"""INT8 calibration batches on real frames, the entropy calibrator (on the fake TensorRT), and the
detection agreement that decides whether an INT8 engine is kept."""
from __future__ import annotations

import numpy as np
import pytest
from fake_tensorrt import make_fakes

from engines.calibrator import (
    INT8_MIN_AGREEMENT,
    CalibrationBatches,
    check_agreement,
    decode_for,
    detection_agreement,
    frames_key,
    make_entropy_calibrator,
    split_holdout,
    top_class,
)
from engines.errors import ModelError
from engines.preprocess import preprocess
from engines.spec import load_spec
from fcw.types import Detections


@pytest.fixture(scope="module")
def stills(highway_images):
    """The six Udacity highway stills, in name order (test1 ... test6)."""
    return [highway_images[name] for name in sorted(highway_images)]


@pytest.fixture(scope="module")
def fd_input():
    return load_spec("fastestdet").input


class CountingFrames:
    """A sequence that loads on access, as fcw's frame readers may: counts what was read."""

    def __init__(self, frames):
        self.frames, self.reads = frames, []

    def __len__(self):
        return len(self.frames)

    def __getitem__(self, i):
        self.reads.append(i)
        return self.frames[i]


def test_holdout_split_is_every_fifth_in_order():
    calib, holdout = split_holdout(list("abcdefghijk"))
    assert list(holdout) == ["e", "j"]
    assert list(calib) == list("abcdfghik")
    assert list(calib[2:4]) == ["c", "d"]
    with pytest.raises(ModelError, match="at least 5 frames"):
        split_holdout(list("abcd"))


def test_split_and_batches_read_frames_only_when_needed(stills, fd_input):
    frames = CountingFrames(stills)
    calib, holdout = split_holdout(frames)
    assert frames.reads == []  # splitting reads nothing
    batches = CalibrationBatches(calib, fd_input, 2)
    first = next(iter(batches))
    assert frames.reads == [0, 1] and first.shape == (2, 3, 352, 352)
    assert holdout[0] is stills[4] and frames.reads[-1] == 4


def test_batches_sizes_order_and_dropped_tail(stills, fd_input):
    calib, _ = split_holdout(stills)
    batches = CalibrationBatches(calib, fd_input, 2)
    assert len(batches) == 2 and batches.shape == (2, 3, 352, 352)  # 5 frames: test6 dropped
    got = list(batches)
    assert len(got) == 2 and all(b.shape == (2, 3, 352, 352) and b.dtype == np.float32 for b in got)
    np.testing.assert_array_equal(got[0], preprocess(stills[0:2], fd_input))
    np.testing.assert_array_equal(got[1], preprocess(stills[2:4], fd_input))
    assert len(list(batches)) == 2  # re-iterable
    assert len(CalibrationBatches(calib, fd_input, 1)) == 5
    assert len(CalibrationBatches(calib, fd_input, 5)) == 1


def test_too_few_frames(stills, fd_input):
    with pytest.raises(ModelError, match="at least 8 frames"):
        CalibrationBatches(stills, fd_input, 8)


def test_frames_key_names_the_set(stills):
    assert frames_key(stills) == frames_key(list(stills))
    assert frames_key(stills) != frames_key(stills[:5])
    assert frames_key(stills[:2]) != frames_key(stills[1::-1])  # order matters: batches differ


def test_decode_is_the_callers_for_a_detector(fd_input):
    with pytest.raises(ModelError, match="needs a decode function"):
        decode_for(load_spec("fastestdet"), None)
    # a classifier is compared by its top class, as one frame-sized box
    decode = decode_for(load_spec("nexar_tl"), None)
    assert decode is top_class
    boxes = decode(np.float32([0.1, 0.7, 0.2]), 640, 360)
    np.testing.assert_array_equal(boxes.xyxy, [[0, 0, 640, 360]])
    assert boxes.class_id.tolist() == [1]


def test_entropy_calibrator_feeds_the_device_buffer(stills, fd_input, tmp_path):
    trt, cuda = make_fakes()
    calib, _ = split_holdout(stills)
    batches = CalibrationBatches(calib, fd_input, 2)
    cache = tmp_path / "sub" / "fd.calib"
    cal = make_entropy_calibrator(batches, cache, trt, cuda)
    assert isinstance(cal, trt.IInt8EntropyCalibrator2) and cal.base_initialised
    assert cal.get_batch_size() == 2
    expected = list(batches)
    for want in expected:
        (ptr,) = cal.get_batch(["input.1"])
        assert isinstance(ptr, int)
        got = trt.memory.view(ptr, np.float32).reshape(want.shape)
        np.testing.assert_array_equal(got, want)
    assert cal.get_batch(["input.1"]) is None  # exhausted
    assert cal.read_calibration_cache() is None
    cal.write_calibration_cache(memoryview(b"TRT-1000-EntropyCalibration2\n"))
    assert cal.read_calibration_cache() == b"TRT-1000-EntropyCalibration2\n"


def _dets(*rows) -> Detections:
    """rows of (x1, y1, x2, y2, class_id)."""
    if not rows:
        return Detections.empty()
    a = np.asarray(rows, np.float32)
    return Detections(a[:, :4], np.ones(len(a), np.float32), a[:, 4].astype(np.int32))


def test_detection_agreement():
    car, truck = 2, 7
    ref = [_dets((0, 0, 100, 100, car), (200, 200, 300, 300, truck)), _dets()]
    assert detection_agreement(ref, ref) == 1.0
    assert detection_agreement([_dets()], [_dets()]) == 1.0
    # slightly shifted boxes still match (IoU 0.9)
    shifted = [_dets((5, 0, 105, 100, car), (200, 200, 300, 300, truck)), _dets()]
    assert detection_agreement(ref, shifted) == 1.0
    # a box of another class never matches: 1 match of 2 + 2 boxes
    relabelled = [_dets((0, 0, 100, 100, truck), (200, 200, 300, 300, truck)), _dets()]
    assert detection_agreement(ref, relabelled) == pytest.approx(2 * 1 / 4)
    # a missed box and an extra box in another frame: 2 matches, 2 + 3 boxes
    extra = [_dets((0, 0, 100, 100, car), (200, 200, 300, 300, truck)), _dets((0, 0, 5, 5, car))]
    assert detection_agreement(ref, extra) == pytest.approx(4 / 5)
    # IoU below the threshold is no match; one candidate cannot match two references
    far = [_dets((60, 0, 160, 100, car), (200, 200, 300, 300, truck)), _dets()]
    assert detection_agreement(ref, far) == pytest.approx(2 / 4)
    assert detection_agreement(ref, far, iou=0.2) == 1.0
    dup_ref = [_dets((0, 0, 100, 100, car), (0, 0, 100, 100, car))]
    assert detection_agreement(dup_ref, [_dets((0, 0, 100, 100, car))]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="frames"):
        detection_agreement(ref, ref[:1])


def test_check_agreement_refuses_with_the_figure():
    check_agreement(0.95, "fastestdet")
    assert INT8_MIN_AGREEMENT == 0.9
    with pytest.raises(ModelError) as e:
        check_agreement(0.8123, "fastestdet")
    assert "0.812" in str(e.value) and "0.90" in str(e.value) and "\n" not in str(e.value)
    assert "INT8 engine for 'fastestdet'" in str(e.value) and "--fp16" in str(e.value)
