"""Every rendered scenario through the CLI: NHTSA's three must warn in time, benign ones never.

Each scenario is run twice over: with the real detector on the rendered video, and with the
ground-truth boxes plus detector-like noise, misses and false boxes over several seeds, so that
tracking, TTC and the warning logic are judged both with and without the detector.
"""
from __future__ import annotations

import pytest
from clitools import fcw

from fcw.labels import load_labels, labels_path_for
from fcw.scenarios.kinematics import SCENARIOS
from fcw.sinks.events import read_events

SEEDS = (0, 1, 2)
NHTSA = [n for n, s in SCENARIOS.items() if s.expect.warning == "required"]
BENIGN = [n for n, s in SCENARIOS.items() if s.expect.warning == "forbidden"]


def first_warning(events_path):
    for r in read_events(events_path):
        if r["type"] == "fcw" and r["level"] == "warning":
            return r
    return None


def judge(events_path, labels):
    """(passed, description) for one run against the clip's expectation."""
    warning = first_warning(events_path)
    expect = labels.expect
    if expect.warning == "forbidden":
        return warning is None, f"warning at frame {warning['frame']}" if warning else "no warning"
    if warning is None:
        return False, "no warning"
    lead = labels.frames[warning["frame"]].lead
    true_ttc = lead.ttc_s if lead is not None else None
    ok = true_ttc is not None and true_ttc >= expect.required_ttc_s
    return ok, f"warned at true TTC {true_ttc:.2f} s (required >= {expect.required_ttc_s} s)"


@pytest.mark.parametrize("name", NHTSA + BENIGN)
def test_scenario_with_real_detector(rendered, models_dir, tmp_path, name):
    video = rendered(name)
    labels = load_labels(labels_path_for(video))
    events = tmp_path / "e.jsonl"
    proc = fcw("run", "--source", video, "--headless", "--no-status", "--events", events,
               "--models-dir", models_dir)
    assert proc.returncode == 0, proc.stderr
    ok, what = judge(events, labels)
    print(f"{name} (detector): {what}")
    assert ok, f"{name} with the real detector: {what}"


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", NHTSA + BENIGN)
def test_scenario_with_noisy_ground_truth(rendered, tmp_path, name, seed):
    video = rendered(name)
    labels_file = labels_path_for(video)
    events = tmp_path / "e.jsonl"
    proc = fcw("run", "--source", video, "--headless", "--no-status", "--events", events,
               "--gt-boxes", labels_file, "--gt-noise-px", 2.0, "--gt-miss-rate", 0.05,
               "--gt-false-rate", 0.05, "--seed", seed)
    assert proc.returncode == 0, proc.stderr
    ok, what = judge(events, load_labels(labels_file))
    print(f"{name} (ground truth, seed {seed}): {what}")
    assert ok, f"{name} with noisy ground-truth boxes, seed {seed}: {what}"
