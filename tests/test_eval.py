"""`fcw eval`: the metrics on small cases whose answer is known by reasoning, and the command on
the sample clips (held above the floors in tests/data/eval_floors.json) and on the real highway
clip labelled by hand.

tests/data/udacity_test_video.labels.json labels shared/data/udacity-vehicle-detection/
test_video.mp4 (resolved through FCW_SHARED_DIR) every 6th frame plus the last: the two cars
ahead (ids 1, 2), the small silver car far ahead (3), a 7 px car beyond it (4, too small to
count) and the oncoming traffic across the median (10 and up; those whose lower half the
barrier hides have occlusion 0.6, so they are ignored). The boxes were set by eye on 3x-10x
crops and checked drawn over the frames; expect a pixel or two of error, more on the tiny ones.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from clitools import fcw

from fcw.eval import EvalError, require
from fcw.eval.dataset import Clip, find_clips
from fcw.eval.detection import (
    ImageBoxes,
    LabelledFrame,
    evaluate_by_width,
    evaluate_detection,
    evaluate_splits,
    match_frame,
    width_jitter,
)
from fcw.eval.floors import check_floors, load_floors, make_floors
from fcw.eval.lights import evaluate_lights
from fcw.eval.report import figures
from fcw.eval.runner import ClipRun, FrameOutput
from fcw.eval.tracking import evaluate_tracking
from fcw.eval.ttc import evaluate_ttc
from fcw.eval.warnings import evaluate_warnings
from fcw.labels import BoxLabel, ClipLabels, Expectation, FrameLabels, LeadTruth
from fcw.types import Event, WarningLevel

REPO = Path(__file__).resolve().parent.parent
FLOORS = Path(__file__).parent / "data" / "eval_floors.json"
UDACITY = Path(__file__).parent / "data" / "udacity_test_video.labels.json"
H = 720
CAR = np.array([[100.0, 300.0, 300.0, 450.0]])  # 150 px high: the near band
FAR = np.array([[600.0, 350.0, 620.0, 365.0]])  # 15 px high: the far band


def _image(gt, det, scores=None, ignore=None):
    gt, det = np.asarray(gt, float).reshape(-1, 4), np.asarray(det, float).reshape(-1, 4)
    return ImageBoxes(H, gt, np.zeros(len(gt), bool) if ignore is None else np.asarray(ignore),
                      det, np.full(len(det), 0.9) if scores is None else np.asarray(scores))


# --- detection ------------------------------------------------------------------------------------

def test_perfect_detections_give_ap_and_recall_one():
    r = evaluate_detection([_image(np.vstack([CAR, FAR]), np.vstack([CAR, FAR])),
                            _image(CAR + 10, CAR + 10)])
    assert r["ap50"]["all"] == 1.0 and r["recall"]["all"] == 1.0
    assert r["recall"]["near"] == 1.0 and r["recall"]["far"] == 1.0
    assert r["n_gt"] == {"all": 3, "near": 2, "mid": 0, "far": 1}
    assert r["ap50"]["mid"] is None and r["recall"]["mid"] is None  # nothing labelled there


def test_one_missed_vehicle_halves_recall_by_band():
    r = evaluate_detection([_image(np.vstack([CAR, FAR]), CAR)])
    assert r["recall"] == {"all": 0.5, "near": 1.0, "mid": None, "far": 0.0}
    # Precision is 1 up to recall 0.5 and 0 beyond: 51 of COCO's 101 recall points.
    assert r["ap50"]["all"] == pytest.approx(51 / 101, abs=1e-4)


def test_a_better_scored_false_box_halves_precision():
    r = evaluate_detection([_image(CAR, np.vstack([CAR + 400, CAR]), scores=[0.9, 0.8])])
    assert r["recall"]["all"] == 1.0
    assert r["ap50"]["all"] == pytest.approx(0.5, abs=1e-4)


def test_a_loose_box_is_a_miss_and_a_false_positive():
    loose = CAR + np.array([[0, 0, 150, 100]])  # IoU 0.43
    r = evaluate_detection([_image(CAR, loose)])
    assert r["recall"]["all"] == 0.0 and r["ap50"]["all"] == 0.0


def test_ignored_and_tiny_vehicles_count_neither_way():
    tiny = np.array([[10.0, 10.0, 16.0, 15.0]])  # 5 px: under the minimum height
    r = evaluate_detection([_image(np.vstack([CAR, FAR]), np.vstack([CAR, FAR, tiny]),
                                   ignore=[False, True])])
    assert r["n_gt"]["all"] == 1 and r["ap50"]["all"] == 1.0 and r["recall"]["all"] == 1.0


# --- tracking, TTC, warnings, lights on a hand-built clip ---------------------------------------

def _clip(n, box=(100.0, 300.0, 300.0, 450.0), ttc=None, light=None, expect=Expectation()):
    frames = []
    for i in range(n):
        lead = None if ttc is None else LeadTruth(1, 20.0, 5.0, ttc[i], ttc[i])
        frames.append(FrameLabels(i, i / 10, (BoxLabel(1, "car", box),), lead,
                                  None if light is None else light[i]))
    labels = ClipLabels("x.mp4", 10.0, 1280, H, "test", expect, tuple(frames))
    return Clip("test", Path("x.mp4"), Path("x.labels.json"), labels)


def _out(i, ids=(), boxes=(), ttc=None, light="none", det=(), lead=1):
    det = np.asarray(det, np.float32).reshape(-1, 4)
    return FrameOutput(i, i / 10, det, np.full(len(det), 0.9, np.float32),
                       np.asarray(ids, np.int64), np.asarray(boxes, np.float32).reshape(-1, 4),
                       lead, ttc, None if ttc is None else 0.1, WarningLevel.NONE, light)


def test_an_id_switch_costs_mota_and_idf1():
    box = [100.0, 300.0, 300.0, 450.0]
    frames = tuple(_out(i, [7 if i < 2 else 8], [box]) for i in range(4))
    r = evaluate_tracking([ClipRun(_clip(4), frames, ())])["overall"]
    assert r["num_switches"] == 1 and r["num_misses"] == 0 and r["num_false_positives"] == 0
    assert r["mota"] == pytest.approx(1 - 1 / 4)
    assert r["idf1"] == pytest.approx(2 * 2 / (4 + 4))  # one identity holds 2 of 4 boxes


def test_a_lost_track_and_a_ghost_cost_mota():
    box = [100.0, 300.0, 300.0, 450.0]
    ghost = [700.0, 300.0, 800.0, 400.0]
    frames = (_out(0, [1], [box]), _out(1, [], []), _out(2, [1, 5], [box, ghost]),
              _out(3, [1], [box]))
    r = evaluate_tracking([ClipRun(_clip(4), frames, ())])["overall"]
    assert (r["num_misses"], r["num_false_positives"], r["num_switches"]) == (1, 1, 0)
    assert r["mota"] == pytest.approx(1 - 2 / 4)


def test_ttc_error_buckets():
    truth = [2.0, 2.0, 2.5, 4.0, 10.0, 25.0]
    est = [2.2, 1.9, None, None, 9.0, 25.0]
    lead = [1, 1, None, 1, 1, 1]  # frame 2: fcw has no lead at all
    frames = tuple(_out(i, ttc=e, lead=k) for i, (e, k) in enumerate(zip(est, lead)))
    r = evaluate_ttc([ClipRun(_clip(6, ttc=truth), frames, ())])
    assert r["0-3s"]["frames"] == 3 and r["0-3s"]["coverage"] == pytest.approx(2 / 3, abs=1e-4)
    assert r["0-3s"]["median_rel_error"] == pytest.approx(0.075)  # over the frames with a lead
    assert r["3-6s"] == {"frames": 1, "coverage": 1.0, "with_estimate": 0,
                         "median_rel_error": 1.0, "p90_rel_error": 1.0}  # lead, no TTC: 100%
    assert r["6-20s"]["median_rel_error"] == pytest.approx(0.1)  # 25 s is beyond every bucket


def test_warning_timing_and_false_warnings_per_hour():
    ttc = [4.0 - 0.125 * i for i in range(20)]
    need = _clip(20, ttc=ttc, expect=Expectation("required", 2.1))
    warn = (Event("fcw", 0.5, 5, {"level": "caution"}), Event("fcw", 1.0, 10, {"level": "warning"}))
    normal = Clip("normal", Path("n.mp4"), Path("n.labels.json"),
                  _clip(36, expect=Expectation("forbidden")).labels)
    frames = tuple(_out(i) for i in range(36))
    r = evaluate_warnings([ClipRun(need, frames[:20], warn),
                           ClipRun(normal, frames, (Event("fcw", 2.0, 20, {"level": "warning"}),))])
    c = r["clips"]["test"]
    assert c["passed"] and c["first_warning_true_ttc_s"] == pytest.approx(2.75)
    assert c["first_caution_t_s"] == 0.5
    assert not r["clips"]["normal"]["passed"]
    assert r["false_warnings"] == 1
    assert r["false_warnings_per_hour"] == pytest.approx(1 / (3.6 / 3600))
    warned = Event("fcw", 1.9, 19, {"level": "warning"})
    late = evaluate_warnings([ClipRun(need, frames[:20], (warned,))])
    assert late["clips"]["test"]["passed"] is False  # at true TTC 1.625 s: too late
    assert late["clips"]["test"]["first_warning_true_ttc_s"] == pytest.approx(1.625)


def test_light_accuracy_and_no_light_labels():
    clip = _clip(4, light=[None, "red", "red", "green"])
    frames = (_out(0), _out(1, light="red"), _out(2, light="green"), _out(3, light="green"))
    r = evaluate_lights([ClipRun(clip, frames, ())])
    assert r["n"] == 3 and r["accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert r["confusion"] == {"green->green": 1, "red->green": 1, "red->red": 1}
    none = evaluate_lights([ClipRun(_clip(2), frames[:2], ())])
    assert (none["n"], none["accuracy"], none["confusion"]) == (0, None, {})


def test_floors_catch_a_drop_a_rise_and_a_figure_without_floor():
    figs = {"detection.ap50.all": (0.9, "min"), "ttc.0-3s.median_rel_error": (0.1, "max")}
    floors = make_floors(figs, ["x"])["floors"]
    assert floors["detection.ap50.all"]["min"] < 0.9 < floors["detection.ap50.all"]["min"] + 0.1
    assert 0.1 < floors["ttc.0-3s.median_rel_error"]["max"] < 0.2
    assert check_floors(figs, floors) == []
    worse = {"detection.ap50.all": (0.5, "min"), "ttc.0-3s.median_rel_error": (0.3, "max"),
             "lights.accuracy": (0.9, "min")}
    fails = check_floors(worse, floors)
    assert len(fails) == 3 and "below the floor" in fails[0] and "above the ceiling" in fails[1]
    assert "no floor" in fails[2]


# --- the command ----------------------------------------------------------------------------------

def test_eval_on_the_sample_clips_stays_above_the_floors(tmp_path, models_dir):
    out = tmp_path / "report"
    proc = fcw("eval", REPO / "sample_videos", "--report", out, "--models-dir", models_dir,
               "--check-floors", FLOORS)
    print(proc.stdout)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    figs = figures(report)
    assert report["figures"] == {k: v for k, (v, _) in sorted(figs.items())}
    failures = check_floors(figs, load_floors(FLOORS))
    assert not failures, "\n".join(failures)
    # Every part of the list is measured on the samples (lights: none labelled).
    assert {"detection.ap50.all", "tracking.mota", "tracking.idf1", "ttc.0-3s.median_rel_error",
            "warnings.lead_stopped.first_warning_true_ttc_s",
            "warnings.false_per_hour"} <= set(figs)
    assert report["lights"]["n"] == 0 and "(n = 0)" in (out / "summary.md").read_text()
    # The plots are real PNGs, linked from the summary.
    summary = (out / "summary.md").read_text()
    for name in ("ttc_lead_stopped.png", "ttc_steady_follow.png", "recall_by_size.png"):
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        assert f"]({name})" in summary


def test_eval_on_the_hand_labelled_highway_clip(tmp_path, shared_dir, models_dir):
    if not (shared_dir / "data" / "udacity-vehicle-detection" / "test_video.mp4").is_file():
        pytest.skip("the Udacity clip is not in FCW_SHARED_DIR")
    out = tmp_path / "r"
    proc = fcw("eval", UDACITY, "--report", out, "--models-dir", models_dir,
               "--data-root", shared_dir)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((out / "report.json").read_text())
    det = report["detection"]
    # The two cars ahead are found, in every labelled frame, well placed.
    assert det["n_gt"]["near"] == 16
    assert det["recall"]["near"] == 1.0 and det["ap50"]["near"] >= 0.9
    assert report["warnings"]["clips"]["udacity_test_video"]["passed"]


def test_a_missing_metric_library_names_the_extra():
    with pytest.raises(EvalError, match=r"fcw eval needs nolib: pip install 'fcw\[eval\]'"):
        require("fcw_no_such_module", "nolib")


def test_bad_dataset_paths_are_one_line_errors(tmp_path):
    proc = fcw("eval", tmp_path / "nowhere")
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert "nowhere: no such file, folder or scenario" in proc.stderr
    with pytest.raises(EvalError, match="test_video.mp4' not found beside the label file"):
        find_clips([str(UDACITY)], tmp_path, data_roots=[tmp_path])
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvalError, match="no \\*.labels.json files"):
        find_clips([str(tmp_path / "empty")], tmp_path)
    (tmp_path / "clip.mp4").write_bytes(b"")
    with pytest.raises(EvalError, match="no label file beside it"):
        find_clips([str(tmp_path / "clip.mp4")], tmp_path)


# --- detector figures on hand-labelled real frames: bands by box width ---------------------------

def _lf(frame, gt, det, ids=None, ignore=None, scores=None, clip="c", split="tune"):
    im = _image(gt, det, scores, ignore)
    ids = np.arange(1, len(im.gt_xyxy) + 1) if ids is None else np.asarray(ids)
    return LabelledFrame(clip, frame, split, im, ids)


def test_width_bands_are_half_open_and_tiny_vehicles_do_not_count():
    w24 = [[100.0, 300.0, 124.0, 320.0]]  # exactly 24 px: the 24-48 band only
    w10 = [[400.0, 300.0, 410.0, 308.0]]  # under 12 px: counts neither way
    r = evaluate_by_width([_lf(0, np.vstack([w24, w10, CAR]), np.vstack([w24, CAR]))])
    assert r["n_gt"] == {"all": 2, "12-24": 0, "24-48": 1, "48-96": 0, "96+": 1}
    assert r["recall"]["24-48"] == 1.0 and r["recall"]["12-24"] is None
    assert r["ap50"]["all"] == 1.0 and r["false_per_frame"] == 0.0


def test_false_boxes_spare_ignored_and_tiny_vehicles_but_not_the_road():
    road = [[300.0, 600.0, 700.0, 700.0]]
    tiny_det = [[401.0, 300.0, 409.0, 307.0]]  # 8 px wide: below the size that counts
    gt = np.vstack([CAR, CAR + 400])
    dets = np.vstack([CAR, CAR + 401, road, tiny_det])
    im = _image(gt, dets, ignore=[False, True])
    gt_det, false = match_frame(im)
    assert list(gt_det) == [0, -1] and list(false) == [False, False, True, False]
    r = evaluate_by_width([_lf(0, gt, dets, ignore=[False, True])])
    assert r["false_boxes"] == 1 and r["recall"]["all"] == 1.0


def test_width_jitter_pairs_the_same_vehicle_on_consecutive_frames_only():
    gt0, gt1 = CAR, CAR + np.array([[0, 0, 4, 0]])  # the car grows 2% in the labels
    d0, d1 = CAR, CAR + np.array([[0, 0, 20, 0]])  # the detector's box grows 10%
    frames = [_lf(5, gt0, d0), _lf(6, gt1, d1),
              _lf(8, gt0, d0 + np.array([[0, 0, 100, 0]]))]  # not after 6: no pair
    j = width_jitter(frames)
    assert j["pairs"] == 1
    assert j["median"] == pytest.approx(0.10) and j["label_median"] == pytest.approx(0.02)
    # Another id in the next frame is another vehicle: nothing to pair.
    assert width_jitter([_lf(5, gt0, d0, ids=[1]), _lf(6, gt1, d1, ids=[2])])["pairs"] == 0


def test_splits_are_scored_apart():
    frames = [_lf(0, CAR, CAR, split="tune"), _lf(10, CAR, np.zeros((0, 4)), split="heldout")]
    r = evaluate_splits(frames)
    assert r["tune"]["recall"]["all"] == 1.0 and r["heldout"]["recall"]["all"] == 0.0
    assert r["all"]["frames"] == 2 and r["clips"]["c"]["frames"] == 2
