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
    text = figures.README.read_text(encoding="utf-8")
    names = [m["name"] for m in figures.BLOCK.finditer(text)]
    assert "quickstart" in names
    assert figures.stale_blocks(text) == [], "python -m benchmarks.readme render"
    for name in names:
        doc = figures.load(name)
        assert doc["command"] and doc["figure"] == name
        # A timing is never rerun by a test: it must say when, and on what, it was measured.
        assert doc["deterministic"] or doc.get("measured_by_hand")


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
