"""The light figures of ``fcw eval`` (fcw/eval/lights.py) on hand-made labels and outputs."""
from __future__ import annotations

import numpy as np

from fcw.eval.floors import check_floors
from fcw.eval.lights import (
    LightOutput,
    evaluate_clip_lights,
    heads_found,
    light_figures,
    light_markdown,
    scaled_labels,
    summarize,
)
from fcw.labels import labels_from_dict

HEAD = [100.0, 50.0, 110.0, 80.0]  # 30 px tall


def _labels(states, split_at=2, heads=None):
    frames = [{"frame": i, "t": i / 10, "boxes": [], "lead": None, "light": s,
               "split": "tune" if i < split_at else "heldout"} for i, s in enumerate(states)]
    for i, boxes in (heads or {}).items():
        frames[i]["boxes"] = [{"track_id": k, "class": "traffic light", "xyxy": b}
                              for k, b in enumerate(boxes)]
    return labels_from_dict({"version": 1, "video": "x.mp4", "fps": 10.0, "width": 640,
                             "height": 360, "scenario": "t",
                             "expect": {"warning": None, "required_ttc_s": None},
                             "frames": frames})


def _out(state, heads=()):
    return LightOutput(state, np.array(heads, np.float32).reshape(-1, 4))


def test_green_while_red_accuracy_recall_and_splits():
    labels = _labels(["red", "red", "red", "green", None])
    outputs = {0: _out("none"), 1: _out("red"), 2: _out("green"), 3: _out("green"),
               4: _out("red")}
    r = evaluate_clip_lights(labels, outputs)
    assert r["n"] == 4  # the unlabelled frame does not count
    assert r["accuracy"] == 0.5 and r["green_while_red"] == 1
    assert r["recall"] == {"green": 1.0, "red": round(1 / 3, 4)}
    assert r["confusion"] == {"green->green": 1, "red->green": 1, "red->none": 1, "red->red": 1}
    assert r["splits"]["tune"]["accuracy"] == 0.5 and r["splits"]["heldout"]["green_while_red"] == 1


def test_unknown_is_a_state_of_its_own():
    r = evaluate_clip_lights(_labels(["red", "red"]), {0: _out("unknown"), 1: _out("red")})
    assert r["accuracy"] == 0.5 and r["green_while_red"] == 0
    assert r["confusion"] == {"red->red": 1, "red->unknown": 1}


def test_heads_are_matched_by_centre_and_size():
    truth = np.array([HEAD, HEAD])
    assert heads_found(truth[:1], np.array([[102.0, 56.0, 112.0, 86.0]])).tolist() == [True]
    # Too far from the centre (more than half the head's height), or twice too big.
    assert heads_found(truth[:1], np.array([[100.0, 70.0, 110.0, 100.0]])).tolist() == [False]
    assert heads_found(truth[:1], np.array([[90.0, 30.0, 120.0, 100.0]])).tolist() == [False]
    assert heads_found(truth, np.zeros((0, 4))).tolist() == [False, False]


def test_head_recall_by_height_band_and_floors():
    small = [300.0, 40.0, 304.0, 48.0]  # 8 px
    labels = _labels(["red", "red"], heads={0: [HEAD, small], 1: [HEAD]})
    outputs = {0: _out("red", [HEAD]), 1: _out("red", [])}
    per_clip = {"c": evaluate_clip_lights(labels, outputs)}
    report = summarize(per_clip)
    assert report["heads"]["20-40"] == {"n": 2, "recall": 0.5}
    assert report["heads"]["6-12"] == {"n": 1, "recall": 0.0}
    figures = light_figures(report)
    assert figures["lights.c.green_while_red"] == (0.0, "max")
    assert figures["lights.heads.20-40.recall"] == (0.5, "min")
    assert check_floors(figures, {"lights.heads.20-40.recall": {"min": 0.9}})[0].startswith(
        "lights.heads.20-40.recall: 0.5 is below the floor")
    assert any(line.startswith("| c | 2 | 100.0% |") for line in light_markdown(report))


def test_scaled_labels_shrink_boxes_and_frame():
    labels = scaled_labels(_labels(["red"], heads={0: [HEAD]}), 0.5)
    assert (labels.width, labels.height) == (320, 180)
    assert labels.frames[0].boxes[0].xyxy == (50.0, 25.0, 55.0, 40.0)
