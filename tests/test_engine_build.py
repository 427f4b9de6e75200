"""build_engine against the fake TensorRT (tests/fake_tensorrt.py) with the real ONNX files, the
engine cache writes, the backend factory, and the `fcw build-engine` command on a machine without
TensorRT. Nothing here runs TensorRT: see engines/check_gpu.py for the check that does."""
from __future__ import annotations

import argparse

import pytest
from fake_tensorrt import make_fakes

import engines.backends as backends
from engines.backends import TENSORRT_HINT, create_backend
from engines.backends.onnxruntime import OnnxRuntimeBackend
from engines.build import build_and_cache, build_engine, default_batch
from engines.cache import DeviceInfo, read_meta, sidecar_path
from engines.calibrator import CalibrationBatches, make_entropy_calibrator
from engines.errors import BackendUnavailable, ModelError
from engines.spec import load_spec

DEVICE = DeviceInfo("NVIDIA GeForce RTX 4090", (8, 9))


def _built(trt):
    (builder,) = trt.builders
    return builder.network, builder.config


@pytest.mark.parametrize("precision, flags", [("fp32", set()), ("fp16", {"FP16"})])
def test_fixed_batch_graph(fd_spec, fd_onnx, precision, flags):
    trt, _ = make_fakes()
    plan = build_engine(fd_spec, fd_onnx, precision, batch=1, workspace_mb=512, trt=trt)
    assert isinstance(plan, bytes) and plan
    network, config = _built(trt)
    assert network.flags == 0  # TensorRT 10: explicit batch is the default, no deprecated flag
    assert network.get_input(0).shape == (1, 3, 352, 352)
    assert {f.name for f in config.flags} == flags
    assert config.pool_limits == {trt.MemoryPoolType.WORKSPACE: 512 * 1024 * 1024}
    assert config.profiles == []  # fixed batch: no optimisation profile
    assert config.int8_calibrator is None
    assert [c[0] for c in trt.calls] == ["create_network", "OnnxParser", "build_serialized_network"]


def test_fixed_batch_graph_refuses_another_batch(fd_spec, fd_onnx):
    trt, _ = make_fakes()
    with pytest.raises(ModelError, match=r"fixed batch of 1; use --batch 1"):
        build_engine(fd_spec, fd_onnx, "fp16", batch=4, trt=trt)


def test_tensorrt8_asks_for_explicit_batch(fd_spec, fd_onnx):
    trt, _ = make_fakes("8.6.1")
    build_engine(fd_spec, fd_onnx, "fp32", trt=trt)
    assert _built(trt)[0].flags == 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)


def test_dynamic_batch_graph_gets_a_profile(nexar_spec, nexar_onnx):
    trt, _ = make_fakes()
    build_engine(nexar_spec, nexar_onnx, "fp16", batch=4, workspace_mb=256, trt=trt)
    network, config = _built(trt)
    assert network.get_input(0).shape[0] == -1
    (profile,) = config.profiles
    assert profile.shapes == {"data": ((1, 3, 227, 227), (4, 3, 227, 227), (4, 3, 227, 227))}
    assert config.pool_limits[trt.MemoryPoolType.WORKSPACE] == 256 << 20


def test_int8_attaches_the_calibrator(fd_spec, fd_onnx, highway_images, tmp_path):
    trt, cuda = make_fakes()
    images = list(highway_images.values())
    cal = make_entropy_calibrator(CalibrationBatches(images, fd_spec.input, 1),
                                  tmp_path / "c.calib", trt, cuda)
    build_engine(fd_spec, fd_onnx, "int8", batch=1, calibrator=cal, trt=trt)
    _, config = _built(trt)
    assert {f.name for f in config.flags} == {"INT8", "FP16"}
    assert config.int8_calibrator is cal
    assert trt.calibration_batches == len(images) == cal.batches_served
    assert (tmp_path / "c.calib").read_bytes() == b"fake-calibration-table"


def test_int8_on_dynamic_graph_sets_the_calibration_profile(nexar_spec, nexar_onnx,
                                                            highway_images, tmp_path):
    trt, cuda = make_fakes()
    images = list(highway_images.values())
    cal = make_entropy_calibrator(CalibrationBatches(images, nexar_spec.input, 2),
                                  tmp_path / "c.calib", trt, cuda)
    build_engine(nexar_spec, nexar_onnx, "int8", batch=2, calibrator=cal, trt=trt)
    _, config = _built(trt)
    assert config.calibration_profile is config.profiles[0]


def test_int8_without_calibrator_is_refused(fd_spec, fd_onnx):
    with pytest.raises(ModelError, match="needs a calibrator"):
        build_engine(fd_spec, fd_onnx, "int8", trt=make_fakes()[0])


def test_parser_failure_lists_the_errors(fd_spec, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not an onnx graph")
    with pytest.raises(ModelError) as e:
        build_engine(fd_spec, bad, "fp16", trt=make_fakes()[0])
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{bad}: TensorRT cannot parse it: ")
    assert "INVALID_GRAPH" in msg and "failed to parse ONNX model" in msg


def test_wrong_graph_for_the_spec_is_refused(fd_spec, nexar_onnx):
    with pytest.raises(ModelError, match=r"input data has shape \[-1, 3, 227, 227\]"):
        build_engine(fd_spec, nexar_onnx, "fp16", trt=make_fakes()[0])


@pytest.fixture(scope="module")
def yolox(models_dir):
    spec = load_spec("yolox_nano")
    path = models_dir / spec.file
    if not path.is_file():
        pytest.skip(f"{path} not found")
    return spec, path


def test_yolox_row_output_builds(yolox):
    # YOLOX's output is rows (1 x 3549 x 85), FastestDet's a grid (1 x 85 x 22 x 22): the
    # builder takes both from the spec.
    spec, path = yolox
    trt, _ = make_fakes()
    build_engine(spec, path, "fp16", batch=1, trt=trt)
    network, config = _built(trt)
    assert network.get_input(0).shape == (1, 3, 416, 416)
    assert network.get_output(0).shape == (1, 3549, 85)
    assert config.profiles == []


def test_output_that_differs_from_the_spec_is_refused(yolox):
    spec, path = yolox
    # The spec of a graph rewritten to 416x256 (3549 rows become 2184) given the original file.
    rows = 52 * 32 + 26 * 16 + 13 * 8
    wrong = spec.model_copy(update={"output": spec.output.model_copy(update={"shape": (rows, 85)})})
    with pytest.raises(ModelError) as e:
        build_engine(wrong, path, "fp16", trt=make_fakes()[0])
    assert str(e.value) == (f"{path}: output output has shape [1, 3549, 85], model "
                            f"'yolox_nano' expects [1, {rows}, 85]")


def test_builder_failure(fd_spec, fd_onnx):
    trt, _ = make_fakes()
    trt.fail_build = True
    with pytest.raises(ModelError, match="failed to build a fp16 engine"):
        build_engine(fd_spec, fd_onnx, "fp16", trt=trt)


def test_build_and_cache_writes_engine_and_sidecar(fd_spec, fd_onnx, tmp_path):
    trt, _ = make_fakes()
    path = build_and_cache(fd_spec, fd_onnx, "fp16", out_dir=tmp_path, device=DEVICE, trt=trt)
    assert path.name == ("fastestdet-31cb14c017fc-trt10.3.0-nvidia-geforce-rtx-4090-sm89-"
                         "fp16-b1.engine")
    assert path.read_bytes().startswith(b'{"inputs"')
    meta = read_meta(path)
    assert meta.onnx_sha256 == fd_spec.sha256 and meta.trt_version == "10.3.0"
    assert meta.input_shape == (1, 3, 352, 352) and meta.int8_agreement is None
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name,
                                                                 sidecar_path(path).name])


def test_default_batch(fd_spec, nexar_spec):
    assert default_batch(fd_spec) == 1 and default_batch(nexar_spec) == 2


# --- factory and command, on this machine (no TensorRT) -------------------------------------------

def test_factory_tensorrt_unavailable_says_what_to_install(monkeypatch, fd_spec, fd_onnx):
    monkeypatch.setattr(backends, "tensorrt_usable", lambda: False)
    with pytest.raises(BackendUnavailable) as e:
        create_backend("tensorrt", fd_spec, fd_onnx)
    assert str(e.value).startswith(TENSORRT_HINT) and "\n" not in str(e.value)


def test_factory_auto_is_onnxruntime_without_tensorrt(monkeypatch, fd_spec, fd_onnx):
    monkeypatch.setattr(backends, "tensorrt_usable", lambda: False)
    with create_backend("auto", fd_spec, fd_onnx) as be:
        assert isinstance(be, OnnxRuntimeBackend)


def _tensorrt_importable() -> bool:
    try:
        import tensorrt  # noqa: F401
        return True
    except Exception:
        return False


no_tensorrt = pytest.mark.skipif(_tensorrt_importable(), reason="TensorRT is installed here")


@no_tensorrt
def test_build_engine_command_in_process(capsys):
    from fcw.cli import build_engine as cmd

    parser = argparse.ArgumentParser()
    cmd.add_parser(parser.add_subparsers())
    args = parser.parse_args(["build-engine", "--model", "fastestdet"])
    assert args.backend == "tensorrt" and args.workspace == 1024
    with pytest.raises(BackendUnavailable, match="install NVIDIA TensorRT"):
        cmd.main(args)  # fp16 by default
    args = parser.parse_args(["build-engine", "--model", "fastestdet", "--int8"])
    with pytest.raises(ModelError, match="--int8 needs --calib"):
        cmd.main(args)
    # The CPU path needs no GPU, only frames; it builds nothing but INT8.
    args = parser.parse_args(["build-engine", "--model", "fastestdet", "--backend", "onnxruntime"])
    with pytest.raises(ModelError, match="--int8 needs --calib"):
        cmd.main(args)  # int8 by default there
    args = parser.parse_args(["build-engine", "--model", "fastestdet", "--backend", "onnxruntime",
                              "--fp16"])
    with pytest.raises(ModelError, match="--backend onnxruntime builds only INT8"):
        cmd.main(args)


@no_tensorrt
def test_build_engine_command_exits_1_with_the_hint():
    # Needs "build_engine" in fcw/cli/__init__.py's COMMANDS.
    from clitools import fcw

    proc = fcw("build-engine", "--model", "fastestdet", "--fp16")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"fcw: error: {TENSORRT_HINT} (cannot import")
