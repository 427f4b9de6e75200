"""INT8 for the CPU (engines/quantize.py): real ONNX Runtime static quantisation of real models on
real frames, the agreement gate accepting it and refusing a broken model, the cache checks, and
`fcw build-engine --backend onnxruntime --int8` in a subprocess."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from clitools import fcw

import engines.quantize as quantize
from engines.backends import create_backend
from engines.calibrator import split_holdout
from engines.errors import ModelError
from engines.spec import load_spec
from engines.store import resolve_model
from fcw.cli.build_engine import gate_decoder, read_calibration_frames
from fcw.config import load_config


@pytest.fixture(scope="module")
def frames(shared_dir, highway_images):
    """16 real frames: the six Udacity highway stills and every 8th KITTI frame."""
    kitti = shared_dir / "data" / "real-drives" / "kitti_stop_and_go" / "images"
    if not kitti.is_dir():
        pytest.skip(f"{kitti} not found")
    return read_calibration_frames([str(shared_dir / "data" / "udacity-vehicle-detection" /
                                        "test_images"), str(kitti)], every=1, limit=6) + \
        read_calibration_frames([str(kitti)], every=8, limit=100)


@pytest.fixture(scope="module")
def tl_crop():
    spec = load_spec("tl_crop")
    return spec, resolve_model(spec, download=False)


def test_int8_classifier_accepted_cached_and_run(tl_crop, frames, tmp_path, monkeypatch):
    spec, source = tl_crop
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # the default cache folder, used by
    path = quantize.quantize_int8(spec, source, frames)   # create_backend below
    assert path.parent == tmp_path / "fcw" / "engines"
    # A classifier's top class survives int8 rounding: the gate (F1 >= 0.9) lets it through.
    meta = quantize.read_quant_meta(path)
    assert meta.int8_agreement >= 0.9 and meta.min_agreement == 0.9
    assert (meta.calib_frames, meta.holdout_frames) == (13, 3)
    assert meta.fp32_cpu_ms > 0 and meta.int8_cpu_ms > 0
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # really quantised
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name,
                                                                    path.with_suffix(".json").name])
    with create_backend("onnxruntime", spec, source, int8=True) as be:
        assert be.precision == "int8" and be.model_path == path
        out = be.infer(frames[:3])
    assert out.shape == (3, 4)


def _broken(spec, source, frames, out_path, method):
    """In place of quantisation: the model with its prediction layers zeroed, so FastestDet's
    objectness is sigmoid(0) = 0.5 and its 80 class scores 1/80 everywhere: score
    0.5^0.6 * (1/80)^0.4 = 0.11, below any threshold, so it finds nothing."""
    model = onnx.load(str(source))
    heads = set(quantize.boundary_convs(source))
    assert heads  # objectness, box and class convolutions
    params = {name for n in model.graph.node if n.name in heads for name in n.input[1:]}
    for init in model.graph.initializer:
        if init.name in params:
            init.CopyFrom(onnx.numpy_helper.from_array(
                np.zeros_like(onnx.numpy_helper.to_array(init)), init.name))
    onnx.save(model, str(out_path))


def test_gate_refuses_a_broken_model(fd_spec, fd_onnx, frames, tmp_path, monkeypatch):
    monkeypatch.setattr(quantize, "quantize_graph", _broken)
    decode = gate_decoder(fd_spec, load_config(None))
    _, holdout = split_holdout(frames)
    fp32_boxes = sum(len(decode(o, f.shape[1], f.shape[0])) for f, o in
                     ((f, create_backend("onnxruntime", fd_spec, fd_onnx).infer([f])[0])
                      for f in holdout))
    assert fp32_boxes > 0  # so a model that finds nothing must disagree
    with pytest.raises(ModelError) as e:
        quantize.quantize_int8(fd_spec, fd_onnx, frames, decode, out_dir=tmp_path)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("INT8 model for 'fastestdet' agrees with fp32 on 0.000 of hold-out")
    assert list(tmp_path.iterdir()) == []  # nothing cached, no trial file left


def test_cached_int8_model_is_checked(tl_crop, frames, tmp_path):
    spec, source = tl_crop
    with pytest.raises(ModelError, match="no INT8 model for 'tl_crop'.*fcw build-engine --model "
                                         "tl_crop --backend onnxruntime --int8 --calib SRC"):
        quantize.find_int8_model(spec, source, tmp_path)
    path = quantize.quantize_int8(spec, source, frames, out_dir=tmp_path)
    assert quantize.find_int8_model(spec, source, tmp_path) == path
    other = tmp_path / "other.onnx"  # another file of the same model (a re-export)
    model = onnx.load(str(source))
    model.doc_string = "re-exported"
    onnx.save(model, str(other))
    with pytest.raises(ModelError, match="no INT8 model"):
        quantize.find_int8_model(spec, other, tmp_path)
    side = path.with_suffix(".json")
    meta = json.loads(side.read_text())
    side.write_text(json.dumps({**meta, "int8_sha256": "0" * 64}))
    with pytest.raises(ModelError, match="differs from its sidecar"):
        quantize.find_int8_model(spec, source, tmp_path)
    side.write_text("{}")
    with pytest.raises(ModelError, match="invalid INT8 sidecar"):
        quantize.find_int8_model(spec, source, tmp_path)


def test_build_engine_command_quantises_for_the_cpu(shared_dir, models_dir, tmp_path):
    kitti = shared_dir / "data" / "real-drives" / "kitti_stop_and_go" / "images"
    stills = shared_dir / "data" / "udacity-vehicle-detection" / "test_images"
    if not kitti.is_dir() or not stills.is_dir():
        pytest.skip("real frames not found")
    proc = fcw("build-engine", "--model", "tl_crop", "--backend", "onnxruntime", "--int8",
               "--calib", stills, kitti, "--calib-every", "8", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    (line,) = proc.stdout.strip().splitlines()
    (built,) = tmp_path.glob("tl_crop-*-int8.onnx")
    assert line.startswith(f"{built} (int8 for ONNX Runtime") and "agreement with fp32" in line
    # every 8th frame of each source: 1 of the 6 stills and 10 of KITTI's 78 frames; of those
    # 11, every 5th (2) judges and 9 calibrate
    assert "calibrated on 9 frames" in line and "on 2 held-out frames" in line
    assert "CPU ms per run fp32 " in line  # INT8 is not always faster: the build says
    bad = fcw("build-engine", "--model", "tl_crop", "--backend", "onnxruntime", "--int8",
              "--calib", tmp_path / "nowhere", "--out", tmp_path)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "nowhere" in bad.stderr


def test_run_with_int8_but_none_built_stops_with_one_line(tmp_path):
    # detector.int8 in a config, on a machine where no INT8 model was built: the start stops
    # with one line saying how to build it, never a silent fp32 run.
    config = tmp_path / "int8.yaml"
    config.write_text("detector:\n  int8: true\n  backend: onnxruntime\n")
    clip = Path(__file__).resolve().parent.parent / "sample_videos" / "lead_stopped.mp4"
    proc = fcw("run", "--source", clip, "--config", config,
               "--headless", "--max-frames", "2", env_extra={"XDG_CACHE_HOME": str(tmp_path)})
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("fcw: error: no INT8 model for ")
    assert "--backend onnxruntime --int8 --calib SRC" in lines[0]
