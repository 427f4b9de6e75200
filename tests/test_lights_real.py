"""Traffic lights on the hand-labelled real frames (tests/data/lights), held to committed floors.

Every real frame in ../shared/data with a signal head in view is labelled: the PandaSet San
Francisco drive (green through heads, with red left-turn arrows beside them that must not
govern), the KITTI queue at a red light, dlib's street still; plus two drives with no head at
all, a motorway against a low dawn sun and an unlit road at night, where fcw must say "none".
The real detector and the real light models run over the real frames; the floors
(tests/data/lights/floors.json) come from ``python benchmarks/lights.py --real-only
--write-floors``, a margin below what was measured.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from engines.spec import load_spec
from fcw.app import RunOptions, build_detector
from fcw.config import Config
from fcw.eval.floors import check_floors, load_floors
from fcw.eval.lights import (
    evaluate_clip_lights,
    light_figures,
    replay_clip,
    scaled_labels,
    summarize,
)
from fcw.labels import load_labels
from fcw.lights.build import build_light_stage, load_light_models

DATA = Path(__file__).resolve().parent / "data" / "lights"
# The two drives without a head are long; their first 40 frames (2.7 s and 1.3 s) say as much.
FIRST_FRAMES = {"motorway_dawn": 40, "night_highway": 40}


@pytest.fixture(scope="module")
def parts(models_dir):
    cfg = Config()
    spec = load_spec(cfg.detector.model)
    detector, _ = build_detector(cfg, spec, RunOptions(source="", models_dir=models_dir,
                                                       backend="onnxruntime"))
    return cfg, spec, detector, load_light_models(cfg, models_dir, "onnxruntime")


@pytest.fixture(scope="module")
def report(parts, shared_dir):
    cfg, spec, detector, models = parts
    per_clip = {}
    for path in sorted(DATA.glob("*.labels.json")) + sorted(DATA.glob("*.still.json")):
        name = path.name.split(".")[0]
        labels = load_labels(path)
        outputs = replay_clip(path, labels, detector, build_light_stage(cfg, spec, models),
                              [shared_dir], FIRST_FRAMES.get(name))
        per_clip[name] = evaluate_clip_lights(labels, outputs)
    return summarize(per_clip)


def test_real_frames_hold_their_floors(report):
    failures = check_floors(light_figures(report), load_floors(DATA / "floors.json"))
    assert not failures, "\n".join(failures)


def test_the_issue_goals_on_real_frames(report):
    """Issue 17's bar: 95% of the labelled real frames right, never green while red, and the
    held-out frames (not used to choose any threshold) as good as the tuned-on ones."""
    assert report["accuracy"] >= 0.95 and report["green_while_red"] == 0
    assert report["splits"]["heldout"]["accuracy"] >= 0.95
    # The SF drive's red left-turn arrows never make it report red.
    assert report["clips"]["city_sf_pandaset"]["recall"]["green"] >= 0.95
    assert "green->red" not in report["clips"]["city_sf_pandaset"]["confusion"]


def test_every_labelled_head_band_is_measured(report):
    heads = report["heads"]
    assert sum(h["n"] for h in heads.values()) >= 20
    assert all(h["recall"] is None or 0.0 <= h["recall"] <= 1.0 for h in heads.values())


def test_heads_of_7_to_11_px_are_found(parts, shared_dir):
    """The KITTI queue shrunk to half size (621x188): its three heads are 7-11 px tall, the
    smallest the issue asks fcw to find (6-40 px at 1280x720)."""
    cfg, spec, detector, models = parts
    path = DATA / "kitti_stop_and_go.lights.labels.json"
    labels = load_labels(path)
    outputs = replay_clip(path, labels, detector, build_light_stage(cfg, spec, models),
                          [shared_dir], scale=0.5)
    r = evaluate_clip_lights(scaled_labels(labels, 0.5), outputs)
    assert r["heads"]["6-12"]["n"] == 7 and r["heads"]["6-12"]["recall"] >= 0.7
    assert r["accuracy"] >= 0.95 and r["green_while_red"] == 0
