"""Model specs and the model store: lookup order, hash checks, atomic verified downloads.

No test touches the network: downloads go through an injected ``fetch``.
"""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from engines.spec import available_models, load_spec
from engines.store import BUNDLED_DIR, ENV_VAR, resolve_model, search_dirs, user_cache_dir
from fcw.errors import ModelError

PAYLOAD = b"fcw test model bytes\n" * 50


def _files_under(d: Path) -> list[Path]:
    return sorted(p for p in d.rglob("*") if p.is_file()) if d.exists() else []


@pytest.fixture
def env(tmp_path, monkeypatch):
    """An isolated environment: no FCW_MODELS_DIR, the user cache under tmp, an empty folder
    for the models that ship with the package, and an empty ``tmp/empty`` for --models-dir."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (tmp_path / "bundled").mkdir()
    (tmp_path / "empty").mkdir()
    monkeypatch.setattr("engines.store.BUNDLED_DIR", tmp_path / "bundled")
    return tmp_path


@pytest.fixture
def fake_spec():
    """The fastestdet spec pointed at a small fake file with a known hash."""
    return load_spec("fastestdet").model_copy(update={
        "file": "fake/model.onnx",
        "sha256": hashlib.sha256(PAYLOAD).hexdigest(),
        "size_bytes": len(PAYLOAD),
        "url": None,
    })


def _put(d: Path, rel: str, data: bytes = PAYLOAD) -> Path:
    p = d / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


# --- specs -------------------------------------------------------------------------------------

def test_unknown_model_lists_known_ones():
    with pytest.raises(ModelError) as e:
        load_spec("yolo-does-not-exist")
    msg = str(e.value)
    assert "yolo-does-not-exist" in msg
    assert "fastestdet" in msg and "nexar_tl" in msg
    assert "\n" not in msg


def test_fastestdet_spec_matches_shared_readme():
    # Values from shared/README.md, not from the spec file.
    spec = load_spec("fastestdet")
    assert {"fastestdet", "nexar_tl"} <= set(available_models())
    assert spec.sha256 == "31cb14c017fce347cb4c846ec62fdf00d76bb3beecdf4be21e7116ac67feb880"
    assert spec.size_bytes == 998169
    assert (spec.input.width, spec.input.height, spec.input.color) == (352, 352, "BGR")
    assert spec.output.shape == (85, 22, 22)
    assert len(spec.class_names) == 80
    # car=2, motorcycle=3, bus=5, truck=7, traffic light=9 (0-based COCO)
    assert spec.vehicle_class_ids == (2, 3, 5, 7)
    assert spec.traffic_light_class_ids == (9,)


def test_spec_names_match_coco_names(models_dir):
    names = (models_dir / "fastestdet" / "coco.names").read_text().split("\n")
    names = tuple(n.strip() for n in names if n.strip())
    assert load_spec("fastestdet").class_names == names


# --- lookup order ------------------------------------------------------------------------------

def test_resolve_order_models_dir_then_env_then_package_then_cache(env, fake_spec, monkeypatch):
    cli, envd, bundled = env / "cli", env / "envdir", env / "bundled"
    cache = user_cache_dir()
    assert cache == env / "xdg" / "fcw" / "models"
    paths = {name: _put(d, fake_spec.file) for name, d in
             (("cli", cli), ("env", envd), ("package", bundled), ("cache", cache))}
    monkeypatch.setenv(ENV_VAR, str(envd))

    assert resolve_model(fake_spec, cli, download=False) == paths["cli"]
    paths["cli"].unlink()
    assert resolve_model(fake_spec, cli, download=False) == paths["env"]
    assert resolve_model(fake_spec, None, download=False) == paths["env"]
    paths["env"].unlink()
    assert resolve_model(fake_spec, cli, download=False) == paths["package"]
    paths["package"].unlink()
    assert resolve_model(fake_spec, cli, download=False) == paths["cache"]
    paths["cache"].unlink()
    with pytest.raises(ModelError) as e:
        resolve_model(fake_spec, cli, download=False)
    assert "not found" in str(e.value) and str(cli) in str(e.value)


def test_resolve_accepts_flat_layout(env, fake_spec):
    flat = _put(env / "flat", "model.onnx")  # no "fake/" sub-folder
    assert resolve_model(fake_spec, env / "flat", download=False) == flat


def test_home_cache_without_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert user_cache_dir() == tmp_path / ".cache" / "fcw" / "models"


@pytest.mark.parametrize("data", [
    bytes(len(PAYLOAD)),      # right size, wrong sha256
    PAYLOAD[:-7],             # truncated
    PAYLOAD + b"extra",       # too long
], ids=["wrong-sha256", "truncated", "too-long"])
def test_bad_file_refused_naming_it(env, fake_spec, data):
    bad = _put(env / "cli", fake_spec.file, data)
    with pytest.raises(ModelError) as e:
        resolve_model(fake_spec, env / "cli", download=False)
    assert str(bad) in str(e.value)
    assert "\n" not in str(e.value)


# --- downloads ---------------------------------------------------------------------------------

def test_download_lands_verified_in_cache(env, models_dir):
    spec = load_spec("fastestdet")
    real = models_dir / spec.file
    target = user_cache_dir() / spec.file
    calls = []

    def fetch(url, dest):
        calls.append((url, Path(dest)))
        # Atomic: written beside the target under another name; the target is not there yet.
        assert Path(dest).parent == target.parent and Path(dest) != target
        assert not target.exists()
        shutil.copyfile(real, dest)

    got = resolve_model(spec, env / "empty", fetch=fetch)
    assert got == target
    assert [c[0] for c in calls] == [spec.url]
    assert hashlib.sha256(target.read_bytes()).hexdigest() == spec.sha256
    assert _files_under(user_cache_dir()) == [target]  # no temporary file left

    def no_fetch(url, dest):
        raise AssertionError("cached model must not be downloaded again")

    assert resolve_model(spec, env / "empty", fetch=no_fetch) == target


@pytest.mark.parametrize("payload", ["zeros", "truncated"])
def test_corrupt_download_refused_and_nothing_left(env, payload):
    spec = load_spec("fastestdet")

    def fetch(url, dest):
        n = spec.size_bytes if payload == "zeros" else spec.size_bytes // 2
        Path(dest).write_bytes(bytes(n))

    with pytest.raises(ModelError) as e:
        resolve_model(spec, env / "empty", fetch=fetch)
    assert spec.url in str(e.value)
    assert "\n" not in str(e.value)
    assert _files_under(user_cache_dir()) == []
    # and the next run does not find a half-written model
    with pytest.raises(ModelError):
        resolve_model(spec, env / "empty", download=False)


def test_failing_fetch_names_the_url(env):
    spec = load_spec("fastestdet")

    def fetch(url, dest):
        Path(dest).write_bytes(b"partial")
        raise OSError("connection reset by peer")

    with pytest.raises(ModelError) as e:
        resolve_model(spec, env / "empty", fetch=fetch)
    msg = str(e.value)
    assert spec.url in msg and "connection reset" in msg
    assert _files_under(user_cache_dir()) == []


def test_model_without_url_is_not_downloaded(env):
    spec = load_spec("nexar_tl")
    assert spec.url is None

    def fetch(url, dest):
        raise AssertionError("fetch must not be called")

    with pytest.raises(ModelError) as e:
        resolve_model(spec, env / "empty", fetch=fetch)
    assert "nexar_tl" in str(e.value) and "not found" in str(e.value)


def test_missing_models_dir_is_an_error(env, fake_spec):
    _put(user_cache_dir(), fake_spec.file)  # a later folder holds it: a typo must not fall back
    with pytest.raises(ModelError) as e:
        resolve_model(fake_spec, env / "no-such-dir", download=False)
    msg = str(e.value)
    assert "--models-dir" in msg and str(env / "no-such-dir") in msg and "\n" not in msg


def test_failed_download_leaves_no_cache_folder_and_says_how(env):
    spec = load_spec("yolox_nano")

    def fetch(url, dest):
        raise OSError("Temporary failure in name resolution")

    with pytest.raises(ModelError) as e:
        resolve_model(spec, env / "empty", fetch=fetch)
    msg = str(e.value)
    assert spec.url in msg and "name resolution" in msg and "\n" not in msg
    assert "--models-dir" in msg and "FCW_MODELS_DIR" in msg and "yolox_nano.onnx" in msg
    assert not (env / "xdg").exists()  # not even an empty cache folder


# --- the models that ship with the package --------------------------------------------------------

SHIPPED = {"yolox_nano": "yolox_nano.LICENSE", "fastestdet": "FastestDet.LICENSE.md",
           "nexar_tl": "nexar_tl_ensemble.LICENSE", "tl_crop": "tl_crop.LICENSE.md"}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_models_found_offline_without_env(tmp_path, monkeypatch, name):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    spec = load_spec(name)

    def fetch(url, dest):
        raise AssertionError("a shipped model must not be downloaded")

    path = resolve_model(spec, fetch=fetch)  # verified: size and sha256
    assert path.parent == BUNDLED_DIR
    assert (BUNDLED_DIR / SHIPPED[name]).stat().st_size > 500  # its licence beside it
    assert search_dirs()[0] == BUNDLED_DIR


def test_shipped_models_are_package_data():
    import fnmatch

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["engines"]
    files = [p.relative_to(BUNDLED_DIR.parent).as_posix() for p in BUNDLED_DIR.iterdir()
             if not p.name.startswith(".")]
    assert len(files) >= 2 * len(SHIPPED)
    for f in files:
        assert any(fnmatch.fnmatch(f, g) for g in globs), f"{f} is not package data"


def test_yolox_spec_matches_shared_readme():
    # Values from shared/README.md, not from the spec file.
    spec = load_spec("yolox_nano")
    assert spec.sha256 == "e8af074932d4ed7e232278e3055cefcdea3edf178874a3694ae292649fb464dd"
    assert spec.size_bytes == 3678356 and spec.license == "Apache-2.0"
    assert spec.url == ("https://raw.githubusercontent.com/Bigisland1729/object-detection-models/"
                        "6e770c5ef34fa42aaa2521eb7d0d9ec2bb5f40a3/yolox_nano.onnx")
    inp = spec.input
    assert (inp.name, inp.width, inp.height, inp.color) == ("images", 416, 416, "BGR")
    assert inp.letterbox and inp.pad_value == 114 and inp.scale == 1.0 and inp.mean == (0, 0, 0)
    assert spec.output.shape == (52 * 52 + 26 * 26 + 13 * 13, 85)
    assert spec.output.strides == (8, 16, 32)
    assert spec.vehicle_class_ids == (2, 3, 5, 7) and spec.traffic_light_class_ids == (9,)
    assert spec.class_names == load_spec("fastestdet").class_names
