"""TTC on a real drive against lidar: the KITTI stop-and-go queue (shared/data/real-drives).

The truth file is derived from the drive's lidar by ``python -m fcw.eval.kitti``; the first test
checks that the committed file is exactly what that command writes, so nobody can tune it by
hand. The second runs ``fcw eval`` on the drive (a real subprocess, the default detector) and
holds the median relative TTC error under the ceiling in tests/data/kitti_ttc_ceiling.json.
To update the ceiling after a deliberate change, run the command in that file's ``command`` field
and set ``median_rel_error_max`` to the measured value plus the stated margin.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from clitools import fcw
from conftest import REPO_ROOT, TESTS_DATA

LABELS = TESTS_DATA / "real" / "kitti_stop_and_go.ttc.labels.json"
CEILING = TESTS_DATA / "kitti_ttc_ceiling.json"


@pytest.fixture(scope="module")
def drive(shared_dir: Path) -> Path:
    d = shared_dir / "data" / "real-drives" / "kitti_stop_and_go"
    if not (d / "lead_range.csv").is_file():
        pytest.skip(f"KITTI drive not found under {d}")
    return d


def test_truth_file_is_what_the_lidar_gives(drive: Path, tmp_path: Path) -> None:
    from fcw.eval.kitti import main

    out = tmp_path / "k.labels.json"
    assert main(["--drive", str(drive), "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == json.loads(LABELS.read_text())


def test_truth_ttc_matches_the_drive_readme(drive: Path) -> None:
    # The drive's README: closing at 1.1 m/s or less, lidar TTC never below 5.3 s, standing
    # still from about 5.3 s.
    frames = json.loads(LABELS.read_text())["frames"]
    ttc = [f["lead"]["ttc_s"] for f in frames if f["lead"]["ttc_s"] is not None]
    assert min(ttc) >= 5.3
    assert max(f["lead"]["closing_speed_mps"] for f in frames) <= 1.1
    assert all(f["lead"]["ttc_s"] is None for f in frames if f["t"] >= 5.8)


def test_ttc_error_against_lidar_stays_under_the_ceiling(drive: Path, tmp_path: Path) -> None:
    ceiling = json.loads(CEILING.read_text())
    r = fcw("eval", LABELS, "--report", tmp_path)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    bucket = report["ttc"][ceiling["bucket"]]
    assert bucket["frames"] >= 40
    assert bucket["coverage"] >= ceiling["coverage_min"], bucket
    assert bucket["median_rel_error"] <= ceiling["median_rel_error_max"], bucket
    # A slow creep to a stopped car: no warning (the drive's README).
    assert report["warnings"]["clips"]["kitti_stop_and_go.ttc"]["warnings"] == 0
    # The README's figure (docs/figures/kitti_ttc.json) must be what this run measures.
    sys.path.insert(0, str(REPO_ROOT))  # benchmarks/ is not installed with the package
    from benchmarks import readme as figures

    assert figures.differences("kitti_ttc", figures.kitti_figures(report),
                               figures.load("kitti_ttc")["values"]) == [], \
        "run `python -m benchmarks.readme write kitti_ttc && python -m benchmarks.readme render`"
