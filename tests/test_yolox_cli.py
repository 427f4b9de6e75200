"""YOLOX-Nano through the real `fcw` command: the default model, named in the start record, and
every bad model file or input size refused in one line before the run."""
from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from clitools import HANG_S, fcw

from engines.spec import load_spec

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "sample_videos" / "lead_stopped.mp4"


def _start_record(path: Path) -> dict:
    return json.loads(path.read_text().splitlines()[0])


def _one_line_error(proc, code, *needles):
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def isolated(tmp_path):
    """Environment of a fresh machine: no FCW_MODELS_DIR, an empty user cache under tmp."""
    env = {k: v for k, v in os.environ.items() if k != "FCW_MODELS_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    return env


def _fcw(env, *args):
    return fcw(*args, env_extra={**env, "FCW_MODELS_DIR": ""})


def test_default_run_is_yolox_offline_without_env(tmp_path, isolated):
    events = tmp_path / "e.jsonl"
    proc = _fcw(isolated, "run", "--source", CLIP, "--headless", "--max-frames", "3",
                "--events", events)
    assert proc.returncode == 0, proc.stderr
    start, spec = _start_record(events), load_spec("yolox_nano")
    assert start["model"] == "yolox_nano" and start["model_sha256"] == spec.sha256
    assert Path(start["model_file"]).parent == REPO / "engines" / "models"  # shipped copy
    assert start["model_input_size"] == [416, 256]  # the spec's run size, a derived graph ...
    derived = Path(start["model_derived_file"])
    assert derived.is_relative_to(tmp_path / "xdg") and derived.is_file()  # ... in the cache
    assert not (tmp_path / "xdg" / "fcw" / "models").exists()  # nothing was downloaded


def test_fastestdet_stays_selectable(tmp_path, isolated):
    cfg = tmp_path / "lite.yaml"
    cfg.write_text("detector:\n  model: fastestdet\n")
    events = tmp_path / "e.jsonl"
    proc = _fcw(isolated, "run", "--source", CLIP, "--headless", "--max-frames", "3",
                "--events", events, "--config", cfg)
    assert proc.returncode == 0, proc.stderr
    start = _start_record(events)
    assert start["model"] == "fastestdet" and start["model_input_size"] == [352, 352]
    assert start["model_sha256"] == load_spec("fastestdet").sha256
    assert "model_derived_file" not in start


def _models_dir_with(tmp_path, data: bytes) -> Path:
    d = tmp_path / "models" / "yolox-nano"
    d.mkdir(parents=True)
    (d / "yolox_nano.onnx").write_bytes(data)
    return tmp_path / "models"


@pytest.mark.parametrize("damage, needle", [
    ("truncated", "truncated"),
    ("flipped", "sha256"),  # one byte changed: same size, another sha256
], ids=["truncated", "wrong-sha256"])
def test_bad_yolox_file_is_one_line_naming_it(tmp_path, isolated, damage, needle):
    data = (REPO / "engines" / "models" / "yolox_nano.onnx").read_bytes()
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data = data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:]
    models = _models_dir_with(tmp_path, data)
    events = tmp_path / "e.jsonl"
    line = _one_line_error(_fcw(isolated, "run", "--source", CLIP, "--headless", "--events",
                                events, "--models-dir", models), 1, needle)
    assert str(models / "yolox-nano" / "yolox_nano.onnx") in line
    assert not events.exists()  # refused before the run


def test_missing_models_dir_is_one_line(tmp_path, isolated):
    _one_line_error(_fcw(isolated, "run", "--source", CLIP, "--headless",
                         "--models-dir", tmp_path / "nowhere"), 1, "--models-dir",
                    str(tmp_path / "nowhere"), "no such folder")


def test_missing_yolox_file_fails_download_in_one_line(tmp_path, isolated):
    # An install without the shipped model file (the code copied, the file left out) and no
    # network: the download fails at once (a proxy that refuses), and the line says what to do.
    inst = tmp_path / "inst"
    for pkg in ("fcw", "engines"):
        shutil.copytree(REPO / pkg, inst / pkg, ignore=shutil.ignore_patterns(
            "__pycache__", "yolox_nano.onnx"))
    shutil.copytree(REPO / "configs", inst / "configs")
    env = {**isolated, "PYTHONPATH": str(inst), "https_proxy": "http://127.0.0.1:9",
           "HTTPS_PROXY": "http://127.0.0.1:9", "FCW_MODELS_DIR": ""}
    proc = __import__("subprocess").run(
        [sys.executable, "-m", "fcw", "run", "--source", str(CLIP), "--headless"],
        capture_output=True, text=True, timeout=HANG_S, env=env, cwd=tmp_path)
    line = _one_line_error(proc, 1, "yolox_nano", load_spec("yolox_nano").url, "--models-dir",
                           "FCW_MODELS_DIR")
    assert "yolox_nano.onnx" in line
    assert not (tmp_path / "xdg").exists()  # no empty cache folder left behind


def test_input_size_not_a_multiple_of_32_stops_the_start(tmp_path, isolated):
    cfg = tmp_path / "size.yaml"
    cfg.write_text("detector:\n  input_size: [420, 256]\n")
    _one_line_error(_fcw(isolated, "run", "--source", CLIP, "--headless", "--config", cfg), 1,
                    "yolox_nano.onnx", "420x256", "not a multiple of 32")


def test_input_size_for_a_fixed_size_model_stops_the_start(tmp_path, isolated):
    cfg = tmp_path / "size.yaml"
    cfg.write_text("detector:\n  model: fastestdet\n  input_size: [416, 256]\n")
    _one_line_error(_fcw(isolated, "run", "--source", CLIP, "--headless", "--config", cfg), 1,
                    "FastestDet.onnx", "takes only its own input size 352x352")


def test_bench_compares_both_models_in_one_run(tmp_path):
    out = tmp_path / "bench.json"
    proc = fcw("bench", "--models", "yolox_nano,fastestdet", "--frames", "8", "--json", out)
    assert proc.returncode == 0, proc.stderr
    reports = json.loads(out.read_text())
    assert [r["model"] for r in reports] == ["yolox_nano", "fastestdet"]
    assert [r["model_input_size"] for r in reports] == [[416, 256], [352, 352]]
    for r in reports:
        assert r["cpu_ms_per_frame"] > 0 and 0 <= r["non_inference_share"] < 1
    table = proc.stdout[proc.stdout.index("model share"):].splitlines()
    assert table[1].startswith("yolox_nano") and table[2].startswith("fastestdet")
    assert "CPU time" in proc.stdout and "model " in proc.stdout


def test_bench_unknown_model_is_one_line():
    _one_line_error(fcw("bench", "--models", "yolox_nano,yolo_huge", "--frames", "3"), 2,
                    "--models", "yolo_huge", "fastestdet")
