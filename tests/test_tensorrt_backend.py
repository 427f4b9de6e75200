"""TensorRTBackend's plumbing on the fake TensorRT and fake pycuda (tests/fake_tensorrt.py):
sidecar checks before loading, buffers allocated once, chunking, padding, shapes, close; and the
INT8 hold-out gate. The fake "engine" returns each input sample's mean, so these tests prove the
data goes to the right place, not that TensorRT computes the right numbers (engines/check_gpu.py
does that, on a GPU)."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from fake_tensorrt import make_fakes

from engines.backends.tensorrt import TensorRTBackend
from engines.build import build_and_cache
from engines.cache import DeviceInfo, read_meta, sidecar_path, write_meta
from engines.errors import ModelError
from engines.preprocess import preprocess
from engines.spec import load_spec
from fcw.cli.build_engine import gate_decoder
from fcw.config import load_config

DEVICE = DeviceInfo("NVIDIA GeForce RTX 4090", (8, 9))


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (360 + 40 * i, 640, 3), dtype=np.uint8) for i in range(n)]


@pytest.fixture()
def fakes():
    return make_fakes()


@pytest.fixture()
def fd_engine(fakes, fd_spec, models_dir, tmp_path):
    trt, _ = fakes
    return build_and_cache(fd_spec, models_dir / fd_spec.file, "fp16", out_dir=tmp_path,
                           device=DEVICE, trt=trt)


def _open(spec, engine, fakes, **kw):
    trt, cuda = fakes
    return TensorRTBackend(spec, engine, device=kw.pop("device", DEVICE), trt=trt, cuda=cuda, **kw)


def test_fixed_batch_engine_runs_frames_one_by_one(fakes, fd_spec, fd_engine):
    trt, cuda = fakes
    images = _images(3)
    with _open(fd_spec, fd_engine, fakes, precision="fp16") as be:
        assert be.name == "tensorrt" and be.batch == 1
        allocated = trt.memory.live
        out = be.infer(images)
        assert trt.memory.live == allocated == 2  # input and output buffers, allocated once
        assert be._context.executions == [1, 1, 1]
        assert be._context.input_shapes == {}  # fixed shape: never set
    assert out.shape == (3, 85, 22, 22) and out.dtype == np.float32
    want = preprocess(images, fd_spec.input).reshape(3, -1).mean(axis=1)
    np.testing.assert_allclose(out.reshape(3, -1), np.repeat(want[:, None], 85 * 22 * 22, 1),
                               rtol=1e-6)
    assert trt.memory.live == 0  # close freed them
    be.close()  # twice is fine


def test_dynamic_batch_engine_chunks_and_sets_shapes(fakes, nexar_spec, models_dir, tmp_path):
    trt, cuda = fakes
    onnx = models_dir / nexar_spec.file
    if not onnx.is_file():
        pytest.skip(f"{onnx} not found")
    engine = build_and_cache(nexar_spec, onnx, "fp32", batch=2, out_dir=tmp_path, device=DEVICE,
                             trt=trt)
    images = _images(3, seed=1)
    with _open(nexar_spec, engine, fakes) as be:
        assert be.batch == 2
        out = be.infer(images)
        assert be._context.executions == [2, 1]
        assert be._context.input_shapes == {"data": (1, 3, 227, 227)}  # the last one set
    want = preprocess(images, nexar_spec.input).reshape(3, -1).mean(axis=1)
    assert out.shape == (3, 3)
    np.testing.assert_allclose(out, np.repeat(want[:, None], 3, 1), rtol=1e-6)


@pytest.mark.parametrize("field, value, words", [
    ("trt_version", "10.0.1", "built with TensorRT 10.0.1, this is TensorRT 10.3.0"),
    ("compute_capability", (8, 7), "engine built for sm87"),
    ("onnx_sha256", "f" * 64, "ONNX sha256 ffffffffffff"),
    ("precision", "fp32", "precision is fp32, fp16 was asked for"),
])
def test_mismatched_sidecar_is_refused_before_loading(fakes, fd_spec, fd_engine, field, value,
                                                      words):
    trt, _ = fakes
    write_meta(replace(read_meta(fd_engine), **{field: value}), fd_engine)
    with pytest.raises(ModelError) as e:
        _open(fd_spec, fd_engine, fakes, precision="fp16")
    assert words in str(e.value) and str(fd_engine) in str(e.value)
    assert ("deserialize_cuda_engine",) not in trt.calls and trt.memory.live == 0


def test_engine_without_sidecar_is_never_loaded(fakes, fd_spec, fd_engine):
    trt, _ = fakes
    sidecar_path(fd_engine).unlink()
    with pytest.raises(ModelError, match="no sidecar"):
        _open(fd_spec, fd_engine, fakes)
    assert ("deserialize_cuda_engine",) not in trt.calls


def test_corrupt_engine_and_wrong_model(fakes, fd_spec, nexar_spec, fd_engine):
    trt, _ = fakes
    data = json.loads(fd_engine.read_bytes())
    with pytest.raises(ModelError, match=r"input input.1 has shape \[1, 3, 352, 352\], model "
                                         r"'nexar_tl' expects data \[N, 3, 227, 227\]"):
        # the fastestdet engine opened as nexar_tl (sidecar hash made to match)
        _open(nexar_spec, fd_engine, fakes, onnx_sha256=fd_spec.sha256)
    assert trt.memory.live == 0
    fd_engine.write_bytes(b"\x00garbage")
    with pytest.raises(ModelError, match="cannot deserialise"):
        _open(fd_spec, fd_engine, fakes)
    assert data["inputs"][0][0] == "input.1"


def test_yolox_engine_rows_reach_the_right_place(fakes, models_dir, tmp_path):
    spec = load_spec("yolox_nano")
    onnx = models_dir / spec.file
    if not onnx.is_file():
        pytest.skip(f"{onnx} not found")
    trt, _ = fakes
    engine = build_and_cache(spec, onnx, "fp16", out_dir=tmp_path, device=DEVICE, trt=trt)
    images = _images(2, seed=2)
    with _open(spec, engine, fakes, precision="fp16") as be:
        assert be.batch == 1
        out = be.infer(images)
        assert be._context.executions == [1, 1]
    assert out.shape == (2, 3549, 85)
    want = preprocess(images, spec.input).reshape(2, -1).mean(axis=1)
    np.testing.assert_allclose(out.reshape(2, -1), np.repeat(want[:, None], 3549 * 85, 1),
                               rtol=1e-5)


def test_engine_follows_the_file_not_the_spec(fakes, fd_spec, fd_onnx, tmp_path):
    # A graph rewritten to another input size is another file: its engine is named and checked
    # by the file's own sha256, not by the spec's.
    import onnx

    from engines.store import sha256_of

    model = onnx.load(str(fd_onnx))
    model.doc_string = "a derived copy"
    derived = tmp_path / "derived.onnx"
    onnx.save(model, str(derived))
    sha = sha256_of(derived)
    assert sha != fd_spec.sha256
    trt, _ = fakes
    engine = build_and_cache(fd_spec, derived, "fp16", out_dir=tmp_path, device=DEVICE, trt=trt)
    assert engine.name.startswith(f"fastestdet-{sha[:12]}-")
    assert read_meta(engine).onnx_sha256 == sha
    with pytest.raises(ModelError, match="engine built from ONNX sha256"):
        _open(fd_spec, engine, fakes)  # checked against the original file's hash
    with _open(fd_spec, engine, fakes, onnx_sha256=sha) as be:
        assert be.infer(_images(1)).shape == (1, 85, 22, 22)


def test_int8_engine_refused_when_holdout_disagrees(fakes, fd_spec, models_dir, highway_images,
                                                    tmp_path):
    trt, cuda = fakes
    frames = [highway_images[name] for name in sorted(highway_images)]
    decode = gate_decoder(fd_spec, load_config(None))
    # The fake engine's output (input means) decodes to no boxes; fp32 finds cars: agreement 0.
    with pytest.raises(ModelError, match=r"agrees with fp32 on 0\.000 of hold-out detections"):
        build_and_cache(fd_spec, models_dir / fd_spec.file, "int8", out_dir=tmp_path,
                        calib_frames=frames, decode=decode, device=DEVICE, trt=trt, cuda=cuda)
    assert not list(tmp_path.glob("*.engine")) and not list(tmp_path.glob(".trial*"))
    assert trt.calibration_batches == 5  # every frame but the held-out test5.jpg
    # Accepted (threshold 0 for the test): the figure is recorded in the sidecar.
    path = build_and_cache(fd_spec, models_dir / fd_spec.file, "int8", out_dir=tmp_path,
                           calib_frames=frames, decode=decode, min_agreement=0.0, device=DEVICE,
                           trt=trt, cuda=cuda)
    meta = read_meta(path)
    assert meta.precision == "int8" and meta.int8_agreement == 0.0
    assert trt.calibration_batches == 5  # second build reused the calibration cache
    assert len(list(tmp_path.glob("*.calib"))) == 1
