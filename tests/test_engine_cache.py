"""Engine cache: naming, sidecar round trip, and refusal of engines built for something else."""
from __future__ import annotations

import json
from dataclasses import FrozenInstanceError, replace

import pytest

from engines.cache import (
    DeviceInfo,
    EngineMeta,
    check_compatible,
    default_engine_dir,
    engine_path,
    read_meta,
    sidecar_path,
    write_meta,
)
from engines.store import user_cache_dir
from fcw.errors import ModelError

SHA = "31cb14c017fce347cb4c846ec62fdf00d76bb3beecdf4be21e7116ac67feb880"
ORIN = DeviceInfo("Orin", (8, 7))
RTX = DeviceInfo("NVIDIA GeForce RTX 4090", (8, 9))


def _meta(**kw) -> EngineMeta:
    base = dict(model="fastestdet", onnx_sha256=SHA, trt_version="10.3.0", gpu_name="Orin",
                compute_capability=(8, 7), precision="fp16", batch=1, input_shape=(1, 3, 352, 352),
                built_at="2026-01-01T00:00:00+00:00", fcw_version="0.1.0")
    return EngineMeta(**{**base, **kw})


def test_name_and_default_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    engines = tmp_path / "fcw" / "engines"
    assert default_engine_dir() == user_cache_dir().parent / "engines" == engines
    p = engine_path(_meta())
    assert p == engines / "fastestdet-31cb14c017fc-trt10.3.0-orin-sm87-fp16-b1.engine"
    q = engine_path(_meta(gpu_name=RTX.name, compute_capability=(8, 9), precision="int8", batch=2),
                    tmp_path / "x")
    assert q.name == "fastestdet-31cb14c017fc-trt10.3.0-nvidia-geforce-rtx-4090-sm89-int8-b2.engine"
    assert sidecar_path(q) == q.with_suffix(".json")
    with pytest.raises(ModelError, match="precision"):
        engine_path(_meta(precision="fp8"))


def test_sidecar_round_trip(tmp_path):
    meta = _meta(precision="int8", int8_agreement=0.9412)
    eng = engine_path(meta, tmp_path)
    side = write_meta(meta, eng)
    assert side == eng.with_suffix(".json")
    raw = json.loads(side.read_text())
    assert raw["onnx_sha256"] == SHA and raw["compute_capability"] == [8, 7]
    assert raw["int8_agreement"] == 0.9412 and raw["fcw_version"] == "0.1.0"
    assert read_meta(eng) == meta
    assert list(tmp_path.iterdir()) == [side]  # no temporary files left behind


def test_engine_without_sidecar_is_refused(tmp_path):
    eng = tmp_path / "mystery.engine"
    eng.write_bytes(b"plan")
    with pytest.raises(ModelError) as e:
        read_meta(eng)
    msg = str(e.value)
    assert "\n" not in msg and "mystery.engine" in msg and "sidecar" in msg
    assert "fcw build-engine" in msg


def test_invalid_sidecar_is_refused(tmp_path):
    eng = tmp_path / "a.engine"
    sidecar_path(eng).write_text('{"model": "fastestdet"}')
    with pytest.raises(ModelError, match=r"a\.json: invalid engine sidecar: missing field"):
        read_meta(eng)
    sidecar_path(eng).write_text("not json")
    with pytest.raises(ModelError, match="invalid engine sidecar"):
        read_meta(eng)


def test_compatible_engine_passes():
    check_compatible(_meta(), ORIN, "10.3.0", SHA, "fp16")
    check_compatible(_meta(), ORIN, "10.3.0", SHA)  # precision not asked: any


@pytest.mark.parametrize("device, trt_version, sha, precision, words", [
    (RTX, "10.3.0", SHA, "fp16",
     ["engine built for sm87 (Orin), this GPU is sm89 (NVIDIA GeForce RTX 4090)",
      "rebuild with fcw build-engine --model fastestdet --fp16"]),
    (DeviceInfo("Jetson AGX Orin", (8, 7)), "10.3.0", SHA, "fp16",
     ["GPU 'Orin'", "'Jetson AGX Orin'"]),
    (ORIN, "10.0.1", SHA, "fp16", ["built with TensorRT 10.3.0, this is TensorRT 10.0.1"]),
    (ORIN, "10.3.0", "0" * 64, "fp16", ["ONNX sha256 31cb14c017fc", "model file is 000000000000"]),
    (ORIN, "10.3.0", SHA, "int8", ["precision is fp16, int8 was asked for", "--int8 --calib DIR"]),
])
def test_incompatible_engine_is_refused_naming_the_field(tmp_path, device, trt_version, sha,
                                                         precision, words):
    eng = tmp_path / "e.engine"
    with pytest.raises(ModelError) as e:
        check_compatible(_meta(), device, trt_version, sha, precision, path=eng)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{eng}: ")
    for w in words:
        assert w in msg


def test_meta_is_frozen():
    with pytest.raises(FrozenInstanceError):
        _meta().batch = 4  # type: ignore[misc]
    assert replace(_meta(), batch=4).batch == 4
