"""The hand-labelled real frames (tests/data/real/) and the detector figures measured on them.

The labels: vehicle boxes on 152 frames of every clip of shared/data/real-drives/ and of the
Udacity highway video and stills, drafted with YOLOX-Nano at 960 px, then looked at and fixed by
hand on enlarged crops (python -m fcw.eval.labeltool; workflow in docs/readme-parts/labels.md).
The last third of each clip's timeline is held out (``split``), chosen before any tuning.

The figures: `fcw eval --detection-only` runs fcw's detector stage, built from the config, on
every labelled frame and holds the default model above tests/data/real_detection_floors.json.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from clitools import fcw

from fcw.boxes import iou_matrix
from fcw.eval.dataset import find_clips
from fcw.eval.floors import load_floors
from fcw.eval.labeltool import apply_edit, parse_edits, parse_frames
from fcw.eval.labeltool import main as labeltool
from fcw.labels import BoxLabel, FrameLabels, load_labels
from fcw.sources import open_source

REAL = Path(__file__).parent / "data" / "real"
FLOORS = Path(__file__).parent / "data" / "real_detection_floors.json"
# Every clip the issue names, as the label files' "video" names them under the data root.
SOURCES = {
    "data/real-drives/highway_solid_white_right.mp4", "data/real-drives/night_highway.mp4",
    "data/real-drives/motorway_dawn.mp4", "data/real-drives/highway_traffic.mp4",
    "data/real-drives/city_sf_pandaset", "data/real-drives/kitti_stop_and_go/images",
    "data/udacity-vehicle-detection/test_video.mp4", "data/udacity-vehicle-detection/test_images",
}


def _box_labels():
    return [load_labels(p) for p in sorted(REAL.glob("*.labels.json"))
            if load_labels(p).boxes == "all"]


@pytest.fixture(scope="module")
def real_data(shared_dir):
    if not (shared_dir / "data" / "real-drives" / "motorway_dawn.mp4").is_file():
        pytest.skip(f"the real drives are not under {shared_dir} (set FCW_SHARED_DIR)")
    return shared_dir


def test_labels_cover_every_clip_with_runs_and_a_held_out_third():
    clips = _box_labels()
    assert {c.video for c in clips} == SOURCES
    frames = [f for c in clips for f in c.frames]
    assert len(frames) >= 150
    held = sum(f.split == "heldout" for f in frames) / len(frames)
    assert 0.25 <= held <= 0.45 and all(f.split in ("tune", "heldout") for f in frames)
    # Runs of >= 4 consecutive frames in at least 5 clips, in both splits, for the jitter.
    runs = set()
    for c in clips:
        idx = [f.frame for f in c.frames]
        for i in range(len(idx) - 3):
            if idx[i + 3] - idx[i] == 3:
                runs.add((c.video, c.frame_at(idx[i]).split))
    assert len({v for v, _ in runs}) >= 5 and {s for _, s in runs} == {"tune", "heldout"}
    boxes = [b for f in frames for b in f.boxes]
    assert {b.cls for b in boxes} <= {"car", "truck", "bus", "motorcycle"}
    assert sum(not b.ignore for b in boxes) >= 600


def test_every_labelled_frame_exists_in_its_clip(real_data, tmp_path):
    for clip in find_clips([str(REAL)], tmp_path, [real_data]):
        src = open_source(str(clip.video), folder_fps=clip.labels.fps)
        try:
            n = src.frame_count
            first = next(iter(src))
        finally:
            src.close()
        assert max(f.frame for f in clip.labels.frames) < n, clip.name
        assert first.image.shape[:2] == (clip.labels.height, clip.labels.width), clip.name


def test_default_model_stays_above_the_floors_on_every_labelled_frame(real_data, models_dir,
                                                                      tmp_path):
    report = tmp_path / "detection.md"
    proc = fcw("eval", REAL, "--detection-only", "--report", report, "--check-floors", FLOORS,
               "--models-dir", models_dir, "--data-root", real_data)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(report.with_suffix(".json").read_text())
    (model, r), = doc["models"].items()
    assert model == json.loads(FLOORS.read_text())["model"]
    assert r["tune"]["frames"] + r["heldout"]["frames"] == r["all"]["frames"] >= 150
    assert r["heldout"]["jitter"]["pairs"] > 20
    assert "| 12-24 (n) | 24-48 (n) | 48-96 (n) | 96+ (n) |" in report.read_text()
    # The README's table (docs/figures/real_detection.json) must be what this run measures.
    from conftest import REPO_ROOT

    sys.path.insert(0, str(REPO_ROOT))  # benchmarks/ is not installed with the package
    from benchmarks import readme as figures

    committed = figures.load("real_detection")["values"][model]
    assert figures.differences("real_detection", figures.detection_figures(doc)[model],
                               committed) == [], (
        "run `python -m benchmarks.readme write real_detection`")


def test_floors_hold_both_splits_and_every_figure_kind():
    floors = load_floors(FLOORS)
    for split in ("tune", "heldout"):
        assert {f"{split}.ap50.all", f"{split}.recall.12-24", f"{split}.recall.96+",
                f"{split}.false_per_frame", f"{split}.jitter_median",
                f"{split}.jitter_p90"} <= set(floors)
    assert floors["heldout.false_per_frame"] == {"max": floors["heldout.false_per_frame"]["max"]}


def test_both_models_in_one_run(real_data, models_dir, tmp_path):
    report = tmp_path / "both.md"
    proc = fcw("eval", REAL / "udacity_images.labels.json", "--detection-only",
               "--models", "yolox_nano,fastestdet", "--report", report,
               "--models-dir", models_dir, "--data-root", real_data)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(report.with_suffix(".json").read_text())
    assert list(doc["models"]) == ["yolox_nano", "fastestdet"]
    near = [b for f in load_labels(REAL / "udacity_images.labels.json").frames for b in f.boxes
            if not b.ignore and b.xyxy[2] - b.xyxy[0] >= 96]
    for r in doc["models"].values():
        # Both find every near car of the stills (the two ahead, 97-220 px wide).
        assert r["all"]["n_gt"]["96+"] == len(near) >= 8 and r["all"]["recall"]["96+"] == 1.0
    text = report.read_text()
    assert "| yolox_nano | heldout |" in text and "| fastestdet | tune |" in text


def test_an_unknown_model_or_a_floors_file_of_another_model_is_one_line(real_data, tmp_path):
    labels = REAL / "udacity_images.labels.json"
    proc = fcw("eval", labels, "--detection-only", "--models", "nosuch", "--data-root", real_data)
    assert proc.returncode != 0 and proc.stderr.count("\n") == 1 and "nosuch" in proc.stderr
    other = tmp_path / "floors.json"
    other.write_text(json.dumps({"model": "fastestdet", "floors": {}}))
    proc = fcw("eval", labels, "--detection-only", "--check-floors", other,
               "--data-root", real_data)
    assert proc.returncode == 1 and "floors are for model 'fastestdet'" in proc.stderr
    lead_only = tmp_path / "lead.labels.json"
    lead_only.write_text(json.dumps({**json.loads(labels.read_text()), "boxes": "lead_only"}))
    proc = fcw("eval", lead_only, "--detection-only", "--data-root", real_data)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "no label file boxes every vehicle" in proc.stderr


# --- the labelling helper ---------------------------------------------------------------------

def test_frame_lists_and_edits_parse():
    assert parse_frames("0,5,10-12,5") == [0, 5, 10, 11, 12]
    assert parse_edits("12 del 3; ign 4  # a comment\n\n13 clear") == [
        (12, ["del", "3"]), (12, ["ign", "4"]), (13, ["clear"])]


def test_edits_change_one_box_each():
    f = FrameLabels(7, 0.7, (BoxLabel(1, "car", (10.0, 10.0, 50.0, 40.0)),
                             BoxLabel(2, "truck", (60.0, 10.0, 90.0, 40.0))))
    f = apply_edit(f, ["move", "1", "11", "12", "49", "39"])
    f = apply_edit(f, ["ign", "2"])
    f = apply_edit(f, ["add", "5", "bus", "100", "10", "160", "60"])
    f = apply_edit(f, ["cls", "5", "truck"])
    f = apply_edit(f, ["del", "1"])
    assert [(b.track_id, b.cls, b.xyxy, b.ignore) for b in f.boxes] == [
        (2, "truck", (60.0, 10.0, 90.0, 40.0), True),
        (5, "truck", (100.0, 10.0, 160.0, 60.0), False)]
    for bad in (["del", "9"], ["move", "2", "5", "5", "1", "9"],
                ["add", "2", "car", "0", "0", "9", "9"], ["zap", "2"]):
        with pytest.raises(Exception, match="frame 7"):
            apply_edit(f, bad)


def test_propose_render_and_edit_on_a_real_still(real_data, models_dir, tmp_path, monkeypatch,
                                                 capsys):
    monkeypatch.setenv("FCW_SHARED_DIR", str(real_data))
    monkeypatch.setenv("FCW_MODELS_DIR", str(models_dir))
    labels = tmp_path / "stills.labels.json"
    assert labeltool(["propose", str(labels),
                      "--source", "data/udacity-vehicle-detection/test_images",
                      "--frames", "0", "--fps", "1"]) == 0
    drafted = load_labels(labels).frames[0]
    # The draft finds the two cars ahead that the committed hand labels hold.
    truth = load_labels(REAL / "udacity_images.labels.json").frame_at(0)
    near = np.array([b.xyxy for b in truth.boxes if b.xyxy[2] - b.xyxy[0] > 96])
    iou = iou_matrix(near, np.array([b.xyxy for b in drafted.boxes]))
    assert len(near) == 2 and (iou.max(axis=1) > 0.8).all()
    tid = drafted.boxes[0].track_id
    assert labeltool(["edit", str(labels), "0", "ign", str(tid)]) == 0
    assert load_labels(labels).frames[0].boxes[0].ignore
    assert labeltool(["render", str(labels), "--out", str(tmp_path),
                      "--zoom", "700,380,1280,520"]) == 0
    png = cv2.imread(str(tmp_path / "stills_0000.png"))
    assert png is not None and png.shape[1] >= 1280 and png.shape[0] > 720
    assert labeltool(["edit", str(labels), "3", "del", "1"]) == 1
    assert "frame 3 is not labelled" in capsys.readouterr().err
