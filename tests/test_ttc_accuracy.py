"""How close the estimated TTC is to the truth on the rendered NHTSA scenarios, per TTC band.

Two figures per band, as TTC benchmarks separate them: the median relative error over the frames
where fcw tracks the lead (a frame where it has the lead but no TTC counts as a 100% error), and
the coverage, the fraction of the band's frames where fcw tracks the lead at all (how far the
detector sees). They are printed (run with -s), held against limits committed in
tests/data/ttc_error_ceilings.json, which says how they were set from the measurement, and
against the README's figure (docs/figures/ttc_accuracy.json, written by
``python -m benchmarks.readme write ttc_accuracy`` with the same functions).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # benchmarks/ is not installed with the package

from benchmarks import readme as figures  # noqa: E402

CEILINGS = json.loads(figures.TTC_CEILINGS.read_text())


@pytest.mark.parametrize("mode", ["detector", "ground_truth"])
def test_ttc_error_per_band(rendered, models_dir, mode):
    pairs = [p for name in figures.nhtsa_scenarios()
             for p in figures.ttc_relative_errors(rendered(name), mode, models_dir)]
    fresh = figures.ttc_band_figures(pairs, CEILINGS["bands_s"])
    failures = []
    limits = zip(fresh.items(), CEILINGS["ceilings"][mode], CEILINGS["coverage_floors"][mode])
    for (band, f), ceiling, floor in limits:
        assert f["tracked"] > 30, f"too few tracked frames with true TTC in {band}"
        print(f"TTC {mode} [{band}): median error {f['median_rel_error']:.1%} "
              f"(ceiling {ceiling:.1%}), {f['within_10pct']:.0%} of {f['tracked']} tracked "
              f"frames within 10%; lead tracked in {f['coverage']:.0%} of {f['frames']} frames "
              f"(floor {floor:.0%})")
        if f["median_rel_error"] > ceiling:
            failures.append(f"{band}: median {f['median_rel_error']:.4f} > ceiling {ceiling}")
        if f["coverage"] < floor:
            failures.append(f"{band}: coverage {f['coverage']:.4f} < floor {floor}")
    assert not failures, "; ".join(failures)
    # The README's table must be what this run measures.
    committed = figures.load("ttc_accuracy")["values"][mode]
    assert figures.differences("ttc_accuracy", fresh, committed) == [], (
        "the README's TTC accuracy moved: python -m benchmarks.readme write ttc_accuracy && "
        "python -m benchmarks.readme render")
