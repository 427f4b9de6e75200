"""``fcw batch``: replay a fleet's drives on Ray, and compare two batches.

Exit codes: 0 every drive replayed (or skipped as complete); 1 some drive failed (each is a row
of the results with its error) or the batch could not start; 2 usage; 130 interrupted (rerun the
same command to finish).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch", help="replay many recorded drives on Ray; compare two batches",
        description="Replay every frame of each drive headless, as `fcw run` does, on a local Ray "
                    "or a cluster, into OUT/drives/<drive>/ (events.jsonl, tracks.txt, "
                    "summary.json) and OUT/results.parquet + .csv. A rerun skips the drives "
                    "already complete for the same config, model and file. "
                    "`--diff OLD NEW` lists the drives whose warnings changed.")
    p.add_argument("drives", nargs="*", metavar="DRIVES",
                   help="video files, folders of them, manifests (.txt/.list: one path or URL a "
                        "line), or URLs")
    p.add_argument("--out", type=Path, metavar="DIR", help="output folder")
    p.add_argument("--config", type=Path, help="YAML config (default: configs/default.yaml)")
    p.add_argument("--ray", metavar="ADDRESS",
                   help="run on this Ray cluster: auto, HOST:6379, or ray://HOST:10001 "
                        "(default: a local Ray on the cores this process is given)")
    p.add_argument("--workers", type=int,
                   help="worker processes, each with its own model, one drive each at a time "
                        "(default: local cores, or the cluster's CPUs / --cpus-per-worker)")
    p.add_argument("--cpus-per-worker", type=int, default=1,
                   help="CPUs Ray reserves per worker; also its inference threads (default 1)")
    p.add_argument("--models-dir", type=Path, help="model files here (on every node)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    d = p.add_argument_group("comparing two batches")
    d.add_argument("--diff", nargs=2, type=Path, metavar=("OLD_DIR", "NEW_DIR"),
                   help="the drives whose warnings changed from OLD_DIR's batch to NEW_DIR's")
    d.add_argument("--tolerance", type=float, default=0.5, metavar="S",
                   help="warnings this close in time are the same warning (default 0.5 s)")
    d.add_argument("--json", type=Path, metavar="FILE",
                   help="write the diff here (default: NEW_DIR/diff.json)")
    p.set_defaults(func=main, parser=p)


def _diff(args: argparse.Namespace) -> int:
    from fcw.batch.diff import diff_runs, format_diff
    from fcw.batch.outputs import write_json

    old, new = args.diff
    report = diff_runs(old, new, args.tolerance)
    print(format_diff(report))
    path = args.json or new / "diff.json"
    write_json(path, report)
    print(f"diff: {path}")
    return 0


def main(args: argparse.Namespace) -> int:
    parser: argparse.ArgumentParser = args.parser
    if args.diff:
        if args.drives or args.out:
            parser.error("--diff takes only OLD_DIR NEW_DIR")
        return _diff(args)
    if not args.drives or args.out is None:
        parser.error("give DRIVES and --out DIR, or --diff OLD_DIR NEW_DIR")
    if args.workers is not None and args.workers < 1 or args.cpus_per_worker < 1:
        parser.error("--workers and --cpus-per-worker must be at least 1")

    from fcw.batch.drives import expand_drives
    from fcw.batch.runner import BatchOptions, load_batch_config, run_batch
    from fcw.errors import FcwError

    cfg = load_batch_config(args.config)
    drives = expand_drives(args.drives)
    if not drives:
        raise FcwError("no drives to replay in " + " ".join(args.drives))
    options = BatchOptions(out=args.out, workers=args.workers, address=args.ray,
                           models_dir=args.models_dir, cpus_per_worker=args.cpus_per_worker,
                           progress=not args.no_progress)
    try:
        report = run_batch(drives, cfg, options)
    except KeyboardInterrupt:
        print("fcw batch: interrupted; rerun the same command to replay the drives left",
              file=sys.stderr)
        return 130
    print(report.line())
    print("results: " + ", ".join(map(str, report.tables)))
    return 1 if report.failed else 0
