"""benchmarks/compare_runs.py: one scenario's verdicts from runs of several commits side by side."""
import json

from benchmarks.compare_runs import parse_tuned, table


def _runs(path, rows):
    path.write_text(json.dumps({"meta": {}, "runs": [
        {"scenario": s, "camera": c, "seed": seed, "passed": ok,
         "first_warning_true_ttc_s": t} for s, c, seed, ok, t in rows]}))
    return path


def test_table_marks_tuned_and_held_out_seeds_and_each_commits_verdict(tmp_path):
    old = _runs(tmp_path / "old.json", [("stop_at_red", "wide", 0, False, 3.456),
                                        ("stop_at_red", "wide", 4, False, 3.5),
                                        ("lead_stopped", "wide", 0, True, 3.0)])
    new = _runs(tmp_path / "new.json", [("stop_at_red", "wide", 0, True, None),
                                        ("stop_at_red", "centred", 4, True, None)])
    out = table("stop_at_red", [("old", [old]), ("new", [new])], tuned={0})
    assert out.splitlines() == [
        "| mount | seed | old | new |",
        "|---|---|---|---|",
        "| centred | 4 (held out) | - | pass |",
        "| wide | 0 (tuned on) | warns at 3.46 s | pass |",
        "| wide | 4 (held out) | warns at 3.50 s | - |",
    ]


def test_a_cell_tuned_on_through_one_mount_is_held_out_through_the_others(tmp_path):
    runs = _runs(tmp_path / "r.json", [("stop_at_red", "wide", 4, True, None),
                                       ("stop_at_red", "centred", 4, True, None)])
    tuned = parse_tuned("0,wide:4")
    assert tuned == {0, ("wide", 4)}
    out = table("stop_at_red", [("r", [runs])], tuned)
    assert out.splitlines()[2:] == ["| centred | 4 (held out) | pass |",
                                    "| wide | 4 (tuned on) | pass |"]
