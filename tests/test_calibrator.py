"""INT8 calibration batches on real frames, the entropy calibrator (on the fake TensorRT), and the
detection agreement that decides whether an INT8 engine is kept."""
from __future__ import annotations

import numpy as np
import pytest
from fake_tensorrt import make_fakes

from engines.calibrator import (INT8_MIN_AGREEMENT, CalibrationBatches, check_agreement,
                                detection_agreement, list_images, make_entropy_calibrator,
                                split_holdout)
from engines.preprocess import preprocess
from engines.spec import load_spec
from fcw.errors import ModelError, SourceError
from fcw.types import Detections


@pytest.fixture(scope="module")
def image_dir(shared_dir, highway_images):  # highway_images: skips when the stills are absent
    return shared_dir / "data" / "udacity-vehicle-detection" / "test_images"


@pytest.fixture(scope="module")
def fd_input():
    return load_spec("fastestdet").input


def test_holdout_split_is_every_fifth_sorted(image_dir):
    paths = list_images(image_dir)
    assert [p.name for p in paths] == [f"test{i}.jpg" for i in range(1, 7)]
    calib, holdout = split_holdout(list(reversed(paths)))
    assert [p.name for p in holdout] == ["test5.jpg"]
    assert [p.name for p in calib] == ["test1.jpg", "test2.jpg", "test3.jpg", "test4.jpg", "test6.jpg"]
    with pytest.raises(SourceError, match="at least 5 images"):
        split_holdout(paths[:4])


def test_batches_sizes_order_and_dropped_tail(image_dir, fd_input, highway_images):
    calib, _ = split_holdout(list_images(image_dir))
    batches = CalibrationBatches(calib, fd_input, 2)
    assert len(batches) == 2 and batches.shape == (2, 3, 352, 352)  # 5 frames: test6 dropped
    got = list(batches)
    assert len(got) == 2 and all(b.shape == (2, 3, 352, 352) and b.dtype == np.float32 for b in got)
    np.testing.assert_array_equal(
        got[0], preprocess([highway_images["test1.jpg"], highway_images["test2.jpg"]], fd_input))
    np.testing.assert_array_equal(
        got[1], preprocess([highway_images["test3.jpg"], highway_images["test4.jpg"]], fd_input))
    assert len(list(batches)) == 2  # re-iterable
    assert len(CalibrationBatches(calib, fd_input, 1)) == 5
    assert len(CalibrationBatches(calib, fd_input, 5)) == 1


def test_too_few_or_unreadable_images(image_dir, fd_input, tmp_path):
    with pytest.raises(SourceError, match="at least 8 images"):
        CalibrationBatches(list_images(image_dir), fd_input, 8)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(SourceError, match="broken.jpg: not a readable image"):
        list(CalibrationBatches([bad], fd_input, 1))
    with pytest.raises(SourceError, match="no images"):
        list_images(_empty(tmp_path))


def _empty(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    return d


def test_entropy_calibrator_feeds_the_device_buffer(image_dir, fd_input, tmp_path):
    trt, cuda = make_fakes()
    calib, _ = split_holdout(list_images(image_dir))
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
