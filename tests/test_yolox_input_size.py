"""A model's input size rewritten into a derived, cached graph (engines/input_size.py)."""
from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import pytest

from engines.errors import ModelError
from engines.input_size import derived_dir, with_input_size
from engines.spec import load_spec
from engines.store import BUNDLED_DIR

SPEC = load_spec("yolox_nano")
SOURCE = BUNDLED_DIR / "yolox_nano.onnx"


def test_native_size_and_none_use_the_file_as_it_is(tmp_path):
    fd = load_spec("fastestdet")
    assert with_input_size(fd, BUNDLED_DIR / "FastestDet.onnx", None, tmp_path) == \
        (fd, BUNDLED_DIR / "FastestDet.onnx")
    assert with_input_size(SPEC, SOURCE, (416, 416), tmp_path) == (SPEC, SOURCE)
    assert list(tmp_path.iterdir()) == []


def test_derived_graph_is_cached_keyed_by_source_sha_and_size(tmp_path):
    spec, path = with_input_size(SPEC, SOURCE, (640, 384), tmp_path)
    assert path == tmp_path / f"yolox_nano-{SPEC.sha256[:12]}-640x384.onnx"
    # 80x48 + 40x24 + 20x12 anchor points, from the strides, not from the file
    assert spec.output.shape == (80 * 48 + 40 * 24 + 20 * 12, 85)
    assert (spec.input.width, spec.input.height) == (640, 384)
    assert spec.sha256 == SPEC.sha256  # the start record still names the verified source
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["source_sha256"] == SPEC.sha256 and meta["input_size"] == [640, 384]
    assert meta["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    stamp = path.stat().st_mtime_ns
    assert with_input_size(SPEC, SOURCE, (640, 384), tmp_path) == (spec, path)
    assert path.stat().st_mtime_ns == stamp  # taken from the cache, not rewritten
    # The run size of the spec (416x256) when none is asked for
    assert with_input_size(SPEC, SOURCE, None, tmp_path)[0].input.width == 416


def test_damaged_derived_file_is_derived_again(tmp_path):
    _, path = with_input_size(SPEC, SOURCE, (416, 256), tmp_path)
    good = path.read_bytes()
    path.write_bytes(good[:1000])
    _, again = with_input_size(SPEC, SOURCE, (416, 256), tmp_path)
    assert again == path and path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file


def test_derived_graph_runs_and_sees_the_same_cars(tmp_path, highway_images):
    from engines.backends import create_backend
    from fcw.perception.decoders import make_decoder
    from fcw.perception.merge import nms

    img = highway_images["test1.jpg"]
    found = {}
    for size in [(416, 416), (416, 256)]:
        spec, path = with_input_size(SPEC, SOURCE, size, tmp_path)
        with create_backend("onnxruntime", spec, path) as b:
            d = nms(make_decoder(spec)(b.infer([img])[0], 0.5, img.shape[1], img.shape[0], None))
        found[size] = d.xyxy[np.argsort(d.xyxy[:, 0])]
    # The same two near cars, within a few pixels: 416x256 holds the 16:9 frame at the same scale.
    assert len(found[(416, 416)]) == len(found[(416, 256)]) >= 2
    np.testing.assert_allclose(found[(416, 416)], found[(416, 256)], atol=6)


def test_default_cache_folder_is_under_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert derived_dir() == tmp_path / "fcw" / "derived"


def test_not_a_multiple_is_refused(tmp_path):
    with pytest.raises(ModelError, match=r"yolox_nano.onnx: input size 416x250 .* multiple of 32"):
        with_input_size(SPEC, SOURCE, (416, 250), tmp_path)


def test_without_onnx_installed_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    with pytest.raises(ModelError) as e:
        with_input_size(SPEC, SOURCE, (640, 384), tmp_path)
    msg = str(e.value)
    assert "pip install onnx" in msg and "640x384" in msg and "\n" not in msg
    # the native size needs no onnx, and the default (the spec's run size) falls back to it
    assert with_input_size(SPEC, SOURCE, (416, 416), tmp_path)[1] == SOURCE
    assert with_input_size(SPEC, SOURCE, None, tmp_path) == (SPEC, SOURCE)
    assert list(tmp_path.iterdir()) == []


def _fixed_reshape_graph(path):
    """A graph that flattens its 1x3x64x64 input with a Reshape to a constant 12288 elements:
    exported like that, it cannot take another size."""
    import onnx
    from onnx import TensorProto, helper

    shape = helper.make_tensor("shape", TensorProto.INT64, [2], [1, 3 * 64 * 64])
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["images", "shape"], ["output"])], "fixed",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3 * 64 * 64])],
        initializer=[shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_graph_that_cannot_take_the_size_stops_in_one_line(tmp_path):
    pytest.importorskip("onnx")
    src = tmp_path / "fixed.onnx"
    _fixed_reshape_graph(src)
    spec = SPEC.model_copy(update={
        "name": "fixed", "sha256": hashlib.sha256(src.read_bytes()).hexdigest(),
        "input": SPEC.input.model_copy(update={"width": 64, "height": 64, "run_size": None}),
        "output": SPEC.output.model_copy(update={"shape": (3 * 64 * 64,), "strides": ()})})
    with pytest.raises(ModelError) as e:
        with_input_size(spec, src, (96, 64), tmp_path / "cache")
    msg = str(e.value)
    assert msg.startswith(f"{src}: the graph cannot run at input size 96x64") and "\n" not in msg
    assert list((tmp_path / "cache").iterdir()) == []  # nothing half-made is cached


def test_unreadable_source_graph_is_one_line(tmp_path):
    pytest.importorskip("onnx")
    src = tmp_path / "junk.onnx"
    src.write_bytes(b"not a protobuf at all" * 10)
    with pytest.raises(ModelError) as e:
        with_input_size(SPEC, src, (640, 384), tmp_path / "cache")
    assert str(e.value).startswith(f"{src}: cannot rewrite its input to 640x384")
