"""The committed sample clips: still what the renderer makes, and the README's run works on them.

To update them after changing the renderer or a scenario:
    fcw render lead_stopped --out sample_videos && fcw render steady_follow --out sample_videos
"""
from pathlib import Path

import pytest
from clitools import fcw

from fcw.labels import labels_path_for, labels_to_dict, load_labels
from fcw.scenarios.render import render_scenario
from fcw.sinks.events import read_events

SAMPLES = Path(__file__).resolve().parent.parent / "sample_videos"
CLIPS = sorted(SAMPLES.glob("*.mp4"))


def test_there_are_samples():
    assert {c.stem for c in CLIPS} >= {"lead_stopped", "steady_follow"}


@pytest.mark.parametrize("clip", CLIPS, ids=lambda p: p.stem)
def test_sample_labels_match_the_renderer(tmp_path, clip):
    committed = load_labels(labels_path_for(clip))
    fresh = render_scenario(committed.scenario, tmp_path / clip.name, fps=committed.fps, seed=0)
    assert labels_to_dict(fresh) == labels_to_dict(committed), (
        "sample_videos/ is stale: re-render it (see this module's docstring)")


# lead_stopped's run is `fcw demo`'s: tests/test_readme_figures.py.
@pytest.mark.parametrize("clip", [c for c in CLIPS if c.stem != "lead_stopped"],
                         ids=lambda p: p.stem)
def test_readme_run_on_the_samples(tmp_path, models_dir, clip):
    events = tmp_path / "events.jsonl"
    proc = fcw("run", "--source", clip, "--headless", "--events", events,
               "--record", tmp_path / "annotated.mp4", "--models-dir", models_dir)
    assert proc.returncode == 0, proc.stderr
    levels = [r["level"] for r in read_events(events) if r["type"] == "fcw"]
    expect = load_labels(labels_path_for(clip)).expect.warning
    assert ("warning" in levels) == (expect == "required"), levels

