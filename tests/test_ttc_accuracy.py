"""How close the estimated TTC is to the truth on the rendered NHTSA scenarios, per TTC band.

The figures are printed (run with -s) and held under ceilings committed in
tests/data/ttc_error_ceilings.json, which says how to lower them as fcw improves.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fcw.app import GroundTruthOptions, RunOptions, build_pipeline
from fcw.config import load_config
from fcw.labels import labels_path_for, load_labels
from fcw.scenarios.kinematics import SCENARIOS
from fcw.sinks.base import Sink

CEILINGS = json.loads((Path(__file__).parent / "data" / "ttc_error_ceilings.json").read_text())
NHTSA = [n for n, s in SCENARIOS.items() if s.expect.warning == "required"]


class Collect(Sink):
    def __init__(self) -> None:
        self.results = []

    def write(self, result) -> None:
        self.results.append(result)


def relative_errors(video: Path, mode: str, models_dir: Path) -> list[tuple[float, float]]:
    """(true TTC, relative error) for every frame with a closing lead; a frame where fcw has no
    TTC for a lead that is closing counts as a 100% error."""
    labels_file = labels_path_for(video)
    labels = load_labels(labels_file)
    gt = GroundTruthOptions(labels_file, noise_px=2.0, seed=0) if mode == "ground_truth" else None
    pipeline = build_pipeline(load_config(), RunOptions(source=str(video), status=False,
                                                        models_dir=models_dir, ground_truth=gt))
    sink = Collect()
    pipeline.sinks = [sink]
    pipeline.run()
    out = []
    for r in sink.results:
        lead = labels.frames[r.frame.index].lead
        if lead is None or lead.ttc_s is None:
            continue
        est = r.risk.ttc_s
        out.append((lead.ttc_s, abs(est - lead.ttc_s) / lead.ttc_s if est is not None else 1.0))
    return out


@pytest.mark.parametrize("mode", ["detector", "ground_truth"])
def test_ttc_error_per_band(rendered, models_dir, mode):
    pairs = [p for name in NHTSA for p in relative_errors(rendered(name), mode, models_dir)]
    ttc = np.array([p[0] for p in pairs])
    err = np.array([p[1] for p in pairs])
    failures = []
    for (lo, hi), ceiling in zip(CEILINGS["bands_s"], CEILINGS["ceilings"][mode]):
        band = err[(ttc >= lo) & (ttc < hi)]
        assert len(band) > 30, f"too few frames with true TTC in [{lo}, {hi}) s"
        median = float(np.median(band))
        within = float((band <= 0.10).mean())
        print(f"TTC {mode} [{lo:.0f}-{hi:.0f} s): median error {median:.1%}, "
              f"{within:.0%} of {len(band)} frames within 10% (ceiling {ceiling:.0%})")
        if median > ceiling:
            failures.append(f"[{lo}, {hi}) s: median {median:.3f} > ceiling {ceiling}")
    assert not failures, "; ".join(failures)
