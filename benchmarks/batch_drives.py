"""Drives per minute of ``fcw batch`` on this machine, for 1 and 2 workers (or --workers ...).

    FCW_MODELS_DIR=../shared/models python benchmarks/batch_drives.py [--drives 8] [--workers 1 2]

The drives are copies of the two sample clips (lead_stopped, 133 frames; steady_follow, 181
frames; 1280x720 at 30 fps), alternated, each replayed in full into a fresh output folder. Two
rates are printed: over the replay alone (first drive handed out to last one back) and over the
whole command, with Ray's start and the workers' model loading, which a fleet-sized batch
amortises.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fcw.batch.drives import expand_drives  # noqa: E402
from fcw.batch.runner import BatchOptions, load_batch_config, run_batch  # noqa: E402
from fcw.bench import machine  # noqa: E402

CLIPS = (ROOT / "sample_videos" / "lead_stopped.mp4", ROOT / "sample_videos" / "steady_follow.mp4")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--drives", type=int, default=8)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--models-dir", type=Path)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    cfg = load_batch_config()
    results = []
    with tempfile.TemporaryDirectory(prefix="fcw-batch-bench-") as tmp:
        src = Path(tmp) / "drives"
        src.mkdir()
        for i in range(args.drives):
            shutil.copy(CLIPS[i % len(CLIPS)], src / f"drive{i:03d}.mp4")
        drives = expand_drives([str(src)])
        for workers in args.workers:
            t0 = time.perf_counter()
            report = run_batch(drives, cfg, BatchOptions(out=Path(tmp) / f"out-{workers}",
                                                         workers=workers,
                                                         models_dir=args.models_dir,
                                                         progress=False))
            wall = time.perf_counter() - t0
            frames = sum(s["frames"] for s in report.summaries)
            results.append({"workers": workers, "drives": report.ran, "frames": frames,
                            "failed": report.failed, "startup_s": round(report.startup_s, 2),
                            "replay_s": round(report.replay_s, 2), "wall_s": round(wall, 2),
                            "drives_per_min": round(report.drives_per_min, 1),
                            "drives_per_min_with_startup": round(60 * report.ran / wall, 1),
                            "frames_per_s": round(frames / report.replay_s, 1)})
    print(f"\n{machine()['cpu']}, {machine()['cores']} cores; {args.drives} drives")
    print("workers  drives/min  (with Ray start)  frames/s  replay s  start s")
    for r in results:
        print(f"{r['workers']:>7}  {r['drives_per_min']:>10}"
              f"  {r['drives_per_min_with_startup']:>16}  {r['frames_per_s']:>8}"
              f"  {r['replay_s']:>8}  {r['startup_s']:>7}")
    if args.json:
        figures = {"machine": machine(), "results": results}
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if all(r["failed"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
