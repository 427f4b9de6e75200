"""How close the estimated TTC is to the truth on the rendered NHTSA scenarios, per TTC band.

Two figures per band, as TTC benchmarks separate them: the median relative error over the frames
where fcw tracks the lead (a frame where it has the lead but no TTC counts as a 100% error), and
the coverage, the fraction of the band's frames where fcw tracks the lead at all (how far the
detector sees). They are printed (run with -s) and held against limits committed in
tests/data/ttc_error_ceilings.json, which says how to move them as fcw improves.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fcw.app import GroundTruthOptions
from fcw.config import load_config
from fcw.eval.dataset import Clip
from fcw.eval.runner import run_clip
from fcw.eval.ttc import relative_errors as ttc_relative_errors
from fcw.eval.ttc import ttc_pairs
from fcw.labels import labels_path_for, load_labels
from fcw.scenarios.kinematics import SCENARIOS

CEILINGS = json.loads((Path(__file__).parent / "data" / "ttc_error_ceilings.json").read_text())
NHTSA = [n for n, s in SCENARIOS.items() if s.expect.warning == "required"]


def relative_errors(video: Path, mode: str, models_dir: Path) -> np.ndarray:
    """(true TTC, relative error) for every frame with a closing lead; the error is NaN where
    fcw does not track the lead, and 1.0 (100%) where it tracks it but gives no TTC
    (``fcw.eval.ttc``, the figures ``fcw eval`` reports)."""
    labels_file = labels_path_for(video)
    gt = GroundTruthOptions(labels_file, noise_px=2.0, seed=0) if mode == "ground_truth" else None
    clip = Clip(video.stem, video, labels_file, load_labels(labels_file))
    return ttc_relative_errors(ttc_pairs(run_clip(load_config(), clip, models_dir,
                                                  ground_truth=gt)))


@pytest.mark.parametrize("mode", ["detector", "ground_truth"])
def test_ttc_error_per_band(rendered, models_dir, mode):
    pairs = [p for name in NHTSA for p in relative_errors(rendered(name), mode, models_dir)]
    ttc = np.array([p[0] for p in pairs])
    err = np.array([p[1] for p in pairs])
    failures = []
    limits = zip(CEILINGS["bands_s"], CEILINGS["ceilings"][mode], CEILINGS["coverage_floors"][mode])
    for (lo, hi), ceiling, floor in limits:
        band = err[(ttc >= lo) & (ttc < hi)]
        tracked = band[~np.isnan(band)]
        assert len(tracked) > 30, f"too few tracked frames with true TTC in [{lo}, {hi}) s"
        median = float(np.median(tracked))
        coverage = len(tracked) / len(band)
        within = float((tracked <= 0.10).mean())
        print(f"TTC {mode} [{lo:.0f}-{hi:.0f} s): median error {median:.1%} "
              f"(ceiling {ceiling:.0%}), "
              f"{within:.0%} of {len(tracked)} tracked frames within 10%; "
              f"lead tracked in {coverage:.0%} of {len(band)} frames (floor {floor:.0%})")
        if median > ceiling:
            failures.append(f"[{lo}, {hi}) s: median {median:.3f} > ceiling {ceiling}")
        if coverage < floor:
            failures.append(f"[{lo}, {hi}) s: coverage {coverage:.3f} < floor {floor}")
    assert not failures, "; ".join(failures)
