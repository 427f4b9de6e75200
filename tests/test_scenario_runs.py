"""Rendered scenarios through the CLI, judged as NHTSA scores them (``fcw/eval/warnings.py``):
NHTSA's three tests must warn in time and not too early, benign scenes must never warn.

With the real detector (the default config's model) on the rendered video: the NHTSA tests and
the benign scenes that come close on seed 0 with every camera mount (centred, a tilted windscreen
mount, a wide-angle lens), and the other benign scenes with the centred camera. With the
ground-truth boxes plus detector-like noise, misses and false boxes, over three seeds, so that
tracking, TTC and the warning logic are judged without the detector. The whole matrix (every
scene, camera and seed) is ``benchmarks/scenarios.py``.
"""
from __future__ import annotations

import pytest
from clitools import fcw

from fcw.eval.warnings import judge_events, read_fcw_events
from fcw.labels import labels_path_for, load_labels
from fcw.scenarios.camera import CAMERAS
from fcw.scenarios.kinematics import SCENARIOS

SEEDS = (0, 1, 2)
NHTSA = [n for n, s in SCENARIOS.items() if s.expect.warning == "required"]
BENIGN = [n for n, s in SCENARIOS.items() if s.expect.warning == "forbidden"]
CLOSE = [n for n, s in SCENARIOS.items() if s.comes_close] + ["overtake_close"]
MOUNTED = [(n, c) for n in NHTSA + CLOSE for c in CAMERAS]
CENTRED_ONLY = [(n, "centred") for n in BENIGN if n not in CLOSE]


def describe(v: dict) -> str:
    if v["expect"] == "forbidden":
        return (f"{v['warnings']} warning(s), {v['cautions']} caution(s)"
                + (f", first at frame {v['first_warning_frame']}" if v["warnings"] else ""))
    if v["first_warning_frame"] is None:
        return "no warning"
    return (f"warned at true TTC {v['first_warning_true_ttc_s']} s ({v['ttc']}; required >= "
            f"{v['required_ttc_s']} s, no earlier than {v['earliest_ttc_s']} s), "
            f"{v['nuisance_warnings']} too early")


def run_and_judge(video, events, *extra):
    proc = fcw("run", "--source", video, "--headless", "--no-status", "--events", events, *extra)
    assert proc.returncode == 0, proc.stderr
    return judge_events(load_labels(labels_path_for(video)), read_fcw_events(events))


@pytest.mark.parametrize("name,camera", MOUNTED + CENTRED_ONLY)
def test_scenario_with_real_detector(rendered, models_dir, tmp_path, name, camera):
    v = run_and_judge(rendered(name, camera), tmp_path / "e.jsonl", "--models-dir", models_dir)
    print(f"{name} ({camera} camera, detector): {describe(v)}")
    assert v["passed"], f"{name}, {camera} camera, real detector: {describe(v)}"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", NHTSA + BENIGN)
def test_scenario_with_noisy_ground_truth(rendered, tmp_path, name, seed):
    video = rendered(name)
    v = run_and_judge(video, tmp_path / "e.jsonl", "--gt-boxes", labels_path_for(video),
                      "--gt-noise-px", 2.0, "--gt-miss-rate", 0.05, "--gt-false-rate", 0.05,
                      "--seed", seed)
    print(f"{name} (ground truth, seed {seed}): {describe(v)}")
    assert v["passed"], f"{name} with noisy ground-truth boxes, seed {seed}: {describe(v)}"
