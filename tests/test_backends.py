"""The backend factory, the ONNX Runtime backend's signature check and batching, and preprocess."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

import engines.backends as backends
from engines.backends import TENSORRT_HINT, create_backend, tensorrt_usable
from engines.backends.base import check_io_shapes
from engines.backends.onnxruntime import OnnxRuntimeBackend
from engines.backends.trt_env import tensorrt_unavailable_reason
from engines.errors import BackendUnavailable, EngineError, ModelError
from engines.preprocess import preprocess
from engines.spec import load_spec
from fcw.errors import FcwError


def _rng_image(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# --- factory -----------------------------------------------------------------------------------

def test_onnxruntime_backend_runs(fd_spec, fd_onnx):
    with create_backend("onnxruntime", fd_spec, fd_onnx) as be:
        assert isinstance(be, OnnxRuntimeBackend) and be.name == "onnxruntime"
        out = be.infer([_rng_image(720, 1280)])
    assert out.shape == (1, 85, 22, 22) and out.dtype == np.float32
    # objectness is a sigmoid and the class scores a softmax (shared/README.md's model description)
    assert ((out[0, 0] >= 0) & (out[0, 0] <= 1)).all()
    np.testing.assert_allclose(out[0, 5:].sum(axis=0), 1.0, atol=1e-4)


def _tensorrt_importable() -> bool:
    try:
        import tensorrt  # noqa: F401
        return True
    except Exception:
        return False


@pytest.mark.skipif(_tensorrt_importable(), reason="TensorRT is installed here")
def test_tensorrt_without_tensorrt_says_what_to_install(fd_spec, fd_onnx):
    assert not tensorrt_usable()
    with pytest.raises(BackendUnavailable) as e:
        create_backend("tensorrt", fd_spec, fd_onnx)
    msg = str(e.value)
    assert "\n" not in msg
    assert "install" in msg and "TensorRT" in msg and "pycuda" in msg
    assert "onnxruntime" in msg  # the way out
    assert "cannot import tensorrt" in msg  # and why, not only what


@pytest.mark.skipif(_tensorrt_importable(), reason="TensorRT is installed here")
def test_tensorrt_usable_says_why_not(caplog):
    reason = tensorrt_unavailable_reason()
    assert reason is not None and reason.startswith("cannot import tensorrt (")
    assert "ModuleNotFoundError" in reason and "\n" not in reason
    with caplog.at_level("INFO", logger="engines.backends.trt_env"):
        assert tensorrt_usable() is False
    assert any(reason in r.getMessage() for r in caplog.records)


def test_tensorrt_unusable_forced(monkeypatch, fd_spec, fd_onnx):
    monkeypatch.setattr(backends, "tensorrt_usable", lambda: False)
    with pytest.raises(BackendUnavailable, match="install"):
        create_backend("tensorrt", fd_spec, fd_onnx)
    assert "\n" not in TENSORRT_HINT


def test_auto_falls_back_to_onnxruntime(monkeypatch, fd_spec, fd_onnx):
    monkeypatch.setattr(backends, "tensorrt_usable", lambda: False)
    with create_backend("auto", fd_spec, fd_onnx) as be:
        assert isinstance(be, OnnxRuntimeBackend)


@pytest.mark.skipif(_tensorrt_importable(), reason="TensorRT is installed here")
def test_auto_without_tensorrt_is_onnxruntime(fd_spec, fd_onnx):
    with create_backend("auto", fd_spec, fd_onnx) as be:
        assert be.name == "onnxruntime"


def test_unknown_backend(fd_spec, fd_onnx):
    with pytest.raises(BackendUnavailable, match="openvino"):
        create_backend("openvino", fd_spec, fd_onnx)  # type: ignore[arg-type]


def test_engine_errors_are_fcw_errors():
    # The fcw command prints any FcwError as one line with its exit code; engines' errors are
    # raised below fcw and must be among them.
    assert FcwError is EngineError
    assert issubclass(ModelError, FcwError) and issubclass(BackendUnavailable, FcwError)
    assert ModelError("x").exit_code == 1


# --- signature check ---------------------------------------------------------------------------

def test_wrong_input_shape_refused(fd_spec, nexar_onnx):
    # The 227x227 traffic-light classifier given FastestDet's spec.
    with pytest.raises(ModelError) as e:
        OnnxRuntimeBackend(fd_spec, nexar_onnx)
    assert str(nexar_onnx) in str(e.value) and "\n" not in str(e.value)


def test_wrong_output_shape_refused(fd_spec, fd_onnx):
    output = fd_spec.output.model_copy(update={"shape": (85, 11, 11)})
    spec = fd_spec.model_copy(update={"output": output})
    with pytest.raises(ModelError) as e:
        OnnxRuntimeBackend(spec, fd_onnx)
    assert str(fd_onnx) in str(e.value) and "output" in str(e.value)


def test_wrong_fixed_batch_refused(fd_spec, fd_onnx):
    spec = fd_spec.model_copy(update={"input": fd_spec.input.model_copy(update={"batch": 4})})
    with pytest.raises(ModelError, match="input"):
        OnnxRuntimeBackend(spec, fd_onnx)


def test_not_an_onnx_file_refused(fd_spec, tmp_path):
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(b"this is not a protobuf" * 10)
    with pytest.raises(ModelError) as e:
        OnnxRuntimeBackend(fd_spec, bad)
    assert str(bad) in str(e.value) and "\n" not in str(e.value)


def test_one_shape_check_for_every_backend(fd_spec, nexar_spec):
    where = "m.onnx"
    check_io_shapes(where, fd_spec, "input.1", [1, 3, 352, 352], [1, 85, 22, 22])
    check_io_shapes(where, nexar_spec, "data", ["n", 3, 227, 227], [None, 3])  # ONNX Runtime
    check_io_shapes(where, nexar_spec, "data", (-1, 3, 227, 227), (-1, 3))  # TensorRT
    with pytest.raises(ModelError) as e:
        check_io_shapes(where, fd_spec, "input.1", [1, 3, 416, 416], [1, 85, 22, 22])
    assert str(e.value) == ("m.onnx: input input.1 has shape [1, 3, 416, 416], model "
                            "'fastestdet' expects input.1 [1, 3, 352, 352]")
    with pytest.raises(ModelError, match=r"input images has shape \[1, 3, 352, 352\]"):
        check_io_shapes(where, fd_spec, "images", [1, 3, 352, 352], [1, 85, 22, 22])
    with pytest.raises(ModelError, match=r"input.1 has shape \[-1, 3, 352, 352\]"):
        check_io_shapes(where, fd_spec, "input.1", [-1, 3, 352, 352], [1, 85, 22, 22])
    with pytest.raises(ModelError) as e:
        check_io_shapes(where, nexar_spec, "data", [-1, 3, 227, 227], [-1, 4], "prob")
    assert str(e.value) == "m.onnx: output prob has shape [-1, 4], model 'nexar_tl' expects [N, 3]"


def test_yolox_runs_with_its_row_output(models_dir):
    spec = load_spec("yolox_nano")
    path = models_dir / spec.file
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with OnnxRuntimeBackend(spec, path) as be:
        out = be.infer([_rng_image(720, 1280, 4), _rng_image(360, 640, 5)])
    # 52x52 + 26x26 + 13x13 anchor points at 416x416 (shared/README.md), 85 values each
    assert out.shape == (2, 52 * 52 + 26 * 26 + 13 * 13, 85)
    assert ((out[..., 4:] >= 0) & (out[..., 4:] <= 1)).all()  # sigmoids in the export


def test_nexar_classifier_runs_with_its_own_spec(nexar_onnx):
    spec = load_spec("nexar_tl")
    with OnnxRuntimeBackend(spec, nexar_onnx) as be:
        out = be.infer([_rng_image(720, 1280, 1), _rng_image(480, 640, 2), _rng_image(300, 300, 3)])
    assert out.shape == (3, 3)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-4)  # "prob": class probabilities


# --- batching ----------------------------------------------------------------------------------

def test_batch_of_two_equals_two_single_runs(fastestdet_backend, highway_images):
    assert fastestdet_backend.spec.input.batch == 1  # the graph's fixed batch
    a, b = highway_images["test1.jpg"], highway_images["test3.jpg"][100:500, 200:900]
    both = fastestdet_backend.infer([a, b])
    assert both.shape == (2, 85, 22, 22)
    np.testing.assert_allclose(both[0], fastestdet_backend.infer([a])[0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(both[1], fastestdet_backend.infer([b])[0], rtol=0, atol=1e-6)
    assert not np.allclose(both[0], both[1])


# --- preprocess --------------------------------------------------------------------------------

def _block_mean(img: np.ndarray, k: int) -> np.ndarray:
    h, w, c = img.shape
    return img.reshape(h // k, k, w // k, k, c).astype(np.float64).mean(axis=(1, 3))


def test_preprocess_fastestdet_by_hand(fd_spec):
    # 704x704 -> 352x352 is an exact 2x2 area average; then BGR kept, CHW, x/255.
    img = _rng_image(704, 704, 5)
    x = preprocess([img], fd_spec.input)
    assert x.shape == (1, 3, 352, 352) and x.dtype == np.float32
    want = _block_mean(img, 2).transpose(2, 0, 1) / 255.0
    np.testing.assert_allclose(x[0], want, atol=0.51 / 255)  # cv2 rounds to uint8


def test_preprocess_large_area_reduction_matches_opencv_area(fd_spec, highway_images):
    """The two-step reduction of a 720p frame stays within half a grey level on average (a few
    at the sharpest edges) of OpenCV's single INTER_AREA resize, which FastestDet's authors used."""
    for img in highway_images.values():
        x = preprocess([img], fd_spec.input)[0] * 255.0
        ref = cv2.resize(img, (352, 352), interpolation=cv2.INTER_AREA).astype(np.float32)
        diff = np.abs(x - ref.transpose(2, 0, 1))
        p99 = np.percentile(diff, 99)
        assert diff.mean() < 0.5 and p99 <= 5.0, (diff.mean(), p99)


def test_preprocess_fastestdet_channel_order_and_scale(fd_spec):
    img = np.empty((720, 1280, 3), np.uint8)
    img[...] = (10, 128, 255)  # B, G, R
    x = preprocess([img], fd_spec.input)[0]
    np.testing.assert_allclose(x[:, 0, 0], np.array([10, 128, 255]) / 255.0, rtol=1e-6)
    np.testing.assert_allclose(x.reshape(3, -1).std(axis=1), 0.0, atol=1e-7)


def test_preprocess_nexar_crop_and_mean():
    spec = load_spec("nexar_tl").input
    # A 256x256 frame is not resized: only the centre crop (offset (256-227)//2 = 14) and the mean.
    img = _rng_image(256, 256, 7)
    x = preprocess([img], spec)
    assert x.shape == (1, 3, 227, 227)
    want = img[14:241, 14:241].astype(np.float32).transpose(2, 0, 1) - \
        np.float32([104, 117, 123]).reshape(3, 1, 1)
    np.testing.assert_array_equal(x[0], want)


def test_preprocess_nexar_resize_256_then_crop():
    spec = load_spec("nexar_tl").input
    # 512x512 -> 256x256 with INTER_LINEAR samples at 2x+0.5: the mean of each 2x2 block.
    img = _rng_image(512, 512, 8)
    x = preprocess([img, img[:, :, ::-1].copy()], spec)
    small = _block_mean(img, 2)[14:241, 14:241]
    want = small.transpose(2, 0, 1) - np.array([104, 117, 123]).reshape(3, 1, 1)
    np.testing.assert_allclose(x[0], want, atol=0.51)
    # the second image had R and B swapped: its B plane is the first image's R plane
    np.testing.assert_allclose(x[1][0] + 104, x[0][2] + 123, atol=1e-4)
