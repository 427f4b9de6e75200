"""Shared fixtures: the third-party models and images in ``shared/`` (see shared/README.md).

``shared/`` sits beside the repository; ``FCW_SHARED_DIR`` and ``FCW_MODELS_DIR`` point elsewhere.
Tests that need a model skip, with the reason, when it is absent.
"""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TESTS_DATA = Path(__file__).resolve().parent / "data"
HIGHWAY_IMAGES = tuple(f"test{i}.jpg" for i in range(1, 7))
# The modules whose tests run longest (each a CLI run of a drive or a batch), in that order,
# run first: pytest-xdist hands tests out in collection order, and a long test handed out last
# keeps one worker busy while the other has nothing left.
LONGEST_FIRST = ("test_scenario_runs.py", "test_batch.py", "test_real_drives.py",
                 "test_ttc_accuracy.py", "test_ui.py", "test_readme_figures.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return Path(os.environ.get("FCW_SHARED_DIR") or REPO_ROOT.parent / "shared")


@pytest.fixture(scope="session")
def models_dir(shared_dir: Path) -> Path:
    d = Path(os.environ.get("FCW_MODELS_DIR") or shared_dir / "models")
    if not (d / "fastestdet" / "FastestDet.onnx").is_file():
        pytest.skip(f"FastestDet.onnx not found under {d} (set FCW_MODELS_DIR to the folder "
                    "holding fastestdet/FastestDet.onnx)")
    return d


@pytest.fixture(scope="session")
def fd_spec():
    from engines.spec import load_spec

    return load_spec("fastestdet")


@pytest.fixture(scope="session")
def fd_onnx(models_dir: Path, fd_spec) -> Path:
    return models_dir / fd_spec.file


@pytest.fixture(scope="session")
def nexar_spec():
    from engines.spec import load_spec

    return load_spec("nexar_tl")


@pytest.fixture(scope="session")
def nexar_onnx(models_dir: Path, nexar_spec) -> Path:
    p = models_dir / nexar_spec.file
    if not p.is_file():
        pytest.skip(f"{p} not found")
    return p


@pytest.fixture(scope="session")
def fastestdet_backend(models_dir: Path):
    from engines.backends import create_backend
    from engines.spec import load_spec
    from engines.store import resolve_model

    spec = load_spec("fastestdet")
    backend = create_backend("onnxruntime", spec, resolve_model(spec, models_dir, download=False))
    yield backend
    backend.close()


def _read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        pytest.skip(f"image not found or unreadable: {path}")
    return img


@pytest.fixture(scope="session")
def highway_images(shared_dir: Path) -> dict[str, np.ndarray]:
    """The six 1280x720 BGR stills of the Udacity highway, by file name (test1.jpg ...)."""
    d = shared_dir / "data" / "udacity-vehicle-detection" / "test_images"
    return {name: _read(d / name) for name in HIGHWAY_IMAGES}


@pytest.fixture(scope="session")
def dlib_image(shared_dir: Path) -> np.ndarray:
    """dlib's 928x478 city street with cars from behind and traffic lights (BGR)."""
    return _read(shared_dir / "data" / "dlib" / "mmod_cars_test_image.jpg")


@pytest.fixture(scope="session")
def scenario_cache_dir(tmp_path_factory) -> Path:
    """Where rendered scenarios are kept: ``$FCW_SCENARIO_CACHE`` if set (kept between runs; a
    clip rendered by other renderer code is never reused), else one folder per test run that
    the xdist workers share (their own temporary folders sit side by side in it)."""
    env = os.environ.get("FCW_SCENARIO_CACHE")
    if env:
        return Path(env)
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "scenario-cache"


@pytest.fixture(scope="session")
def rendered(scenario_cache_dir: Path):
    """``rendered(name, camera="centred", seed=0, fps=30.0, size=(1280, 720)) -> Path`` of the
    scenario's video (labels beside it), rendered once per test run for every module and worker."""
    from fcw.scenarios.render import render_cached

    def get(name: str, camera: str = "centred", seed: int = 0, fps: float = 30.0,
            size: tuple[int, int] = (1280, 720)) -> Path:
        return render_cached(name, scenario_cache_dir, camera=camera, seed=seed, fps=fps,
                             width=size[0], height=size[1])

    return get
