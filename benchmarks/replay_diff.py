"""Replay diff: record fcw's events and tracks on fixed clips at one commit, compare with another.

    python -m benchmarks.replay_diff record OUTDIR [--clips all|sample|real|NAME,NAME...]
        [--max-frames N] [--config FILE] [--checkout DIR] [--force]
    python -m benchmarks.replay_diff compare A B [--box-tol-px 0.01] [--ttc-tol-s 1e-6]
        [--ignore TYPE.FIELD ...] [--show 3]

``record`` runs the real ``fcw run --headless`` in a subprocess on each clip (the sample clips
``sample_videos/*.mp4`` and the real drives of ``$FCW_SHARED_DIR/data/real-drives/`` plus the
Udacity clip) and writes ``NAME.events.jsonl``, ``NAME.tracks.txt`` and ``manifest.json`` (commit,
clips, options, exit codes, wall times). The code run is the checkout's, not whatever the Python
environment installed: the subprocess runs in the checkout (``--checkout``; default the one this
script lives in) with it first on PYTHONPATH, and the run is refused if ``fcw`` would be imported
from elsewhere. So a ``git worktree`` of another commit records that commit (docs/replay.md).

``compare`` checks, clip by clip, the events record by record and the tracks row by row, ignoring
what varies with the wall clock or the machine (``IGNORED``), and prints one line per clip (``same``
or its first differences: record type, frame, field, A's value vs B's) and a summary. Exit 0 when
every clip is the same, 1 when one differs, 2 on bad input.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from fcw.sinks.events import read_events

MANIFEST = "manifest.json"
# The real drives' image folders carry no frame rate: 10 Hz (shared/data/real-drives/README.md).
IMAGE_FOLDERS = (("city_sf_pandaset", "real-drives/city_sf_pandaset", 10.0),
                 ("kitti_stop_and_go", "real-drives/kitti_stop_and_go/images", 10.0))
# Also a real drive, and tests/test_real_drives.py runs it with them.
EXTRA_VIDEOS = (("udacity_test_video", "udacity-vehicle-detection/test_video.mp4"),)

# Fields that vary with the machine, the wall clock or where the files lie, never with what fcw
# decided, by record type ("*": every type). Found in real events files: the start record's host,
# version and file paths; the end's mean fps; the heartbeat's fps and memory (its other fields
# count frames, which are deterministic; the start's "fps" is the source's rate, so it is kept).
IGNORED: dict[str, frozenset[str]] = {
    "*": frozenset({"host", "fcw_version", "source", "path", "model_file", "model_derived_file",
                    "mean_fps", "rss_mb", "lost_records"}),
    "heartbeat": frozenset({"fps"}),
}
# Whole records written by the watchdog on wall-clock stalls: they come and go with the load.
IGNORED_TYPES = frozenset({"stall", "stall_cleared"})
TRACK_FIELDS = ("frame", "id", "x", "y", "w", "h", "conf")


class ReplayError(Exception):
    """Bad input: one line naming the file, clip or option."""


@dataclass(frozen=True)
class Clip:
    """One replayed source: name (file stem), source path, and fcw run's extra arguments."""

    name: str
    source: Path
    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tolerance:
    """How far a value of B may be from A's: boxes in pixels (tracks and ``*_px`` fields), times
    in seconds (``*_s`` fields: TTC, its sigma); every other value must be equal."""

    box_px: float = 0.01
    ttc_s: float = 1e-6


def shared_dir() -> Path:
    # As tests/conftest.py finds it: FCW_SHARED_DIR, else shared/ beside the repository.
    return Path(os.environ.get("FCW_SHARED_DIR") or REPO.parent / "shared")


def all_clips(checkout: Path, shared: Path) -> dict[str, Clip]:
    """The sample clips of the checkout, then the real drives, by name."""
    clips = [Clip(p.stem, p) for p in sorted((checkout / "sample_videos").glob("*.mp4"))]
    # The videos are globbed so that a drive added to the folder is replayed too.
    clips += [Clip(p.stem, p) for p in sorted((shared / "data" / "real-drives").glob("*.mp4"))]
    clips += [Clip(name, shared / "data" / rel, ("--fps", f"{fps:g}"))
              for name, rel, fps in IMAGE_FOLDERS]
    clips += [Clip(name, shared / "data" / rel) for name, rel in EXTRA_VIDEOS]
    return {c.name: c for c in clips}


def select_clips(spec: str, clips: dict[str, Clip], checkout: Path, shared: Path) -> list[Clip]:
    sample = {c.name for c in clips.values() if c.source.parent == checkout / "sample_videos"}
    if spec == "all":
        chosen = list(clips.values())
    elif spec in ("sample", "real"):
        chosen = [c for c in clips.values() if (c.name in sample) == (spec == "sample")]
    else:
        names = [n.strip() for n in spec.split(",") if n.strip()]
        unknown = [n for n in names if n not in clips]
        if unknown or not names:
            raise ReplayError(f"--clips: unknown clip {', '.join(unknown) or repr(spec)} "
                              f"(all, sample, real or some of: {', '.join(clips)})")
        chosen = [clips[n] for n in names]
    if spec in ("all", "real") and not (shared / "data" / "real-drives").is_dir():
        raise ReplayError(f"{shared / 'data' / 'real-drives'}: not found "
                          "(set FCW_SHARED_DIR to the folder holding data/real-drives)")
    for c in chosen:
        if not c.source.exists():
            raise ReplayError(f"{c.source}: clip {c.name} not found (FCW_SHARED_DIR?)")
    return chosen


# --- record --------------------------------------------------------------------------------------

def _git(checkout: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True,
                          check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def checkout_env(checkout: Path) -> dict[str, str]:
    """The environment that makes a subprocess import fcw from ``checkout``: an editable install
    of another checkout would otherwise win over the worktree being recorded."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(checkout) + (os.pathsep + path if path else "")}


def imported_from(checkout: Path, env: dict[str, str]) -> Path:
    """Where ``python -m fcw`` in ``checkout`` imports fcw from; refused if not the checkout."""
    proc = subprocess.run([sys.executable, "-c", "import fcw; print(fcw.__file__)"],
                          cwd=checkout, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ReplayError(f"{checkout}: cannot import fcw there: {last}")
    where = Path(proc.stdout.strip()).resolve()
    if checkout.resolve() not in where.parents:
        raise ReplayError(f"{checkout}: fcw would be imported from {where}, not this checkout")
    return where


def run_clip(clip: Clip, out: Path, checkout: Path, env: dict[str, str],
             extra: tuple[str, ...]) -> dict[str, Any]:
    """One ``fcw run`` of ``clip`` into ``out``; its manifest entry."""
    events, tracks = out / f"{clip.name}.events.jsonl", out / f"{clip.name}.tracks.txt"
    for p in (events, tracks):
        p.unlink(missing_ok=True)  # the events file is appended to
    cmd = [sys.executable, "-m", "fcw", "run", "--headless", "--no-status",
           "--source", str(clip.source), *clip.args, "--events", str(events),
           "--tracks", str(tracks), *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=checkout, env=env, capture_output=True, text=True,
                          check=False)
    return {"name": clip.name, "source": str(clip.source), "args": list(clip.args),
            "rc": proc.returncode, "stderr_tail": proc.stderr[-1000:] if proc.returncode else "",
            "wall_s": round(time.perf_counter() - t0, 1), "events": events.name,
            "tracks": tracks.name}


def record(out: Path, spec: str, max_frames: int | None, config: Path | None, checkout: Path,
           force: bool) -> int:
    checkout = checkout.resolve()
    if not (checkout / "fcw").is_dir():
        raise ReplayError(f"--checkout {checkout}: not an fcw checkout (no fcw/ folder)")
    if (out / MANIFEST).exists() and not force:
        raise ReplayError(f"{out / MANIFEST}: a recording is already there (--force to replace "
                          "it, docs/replay.md)")
    if config is not None and not config.is_file():
        raise ReplayError(f"--config {config}: not found")
    env = checkout_env(checkout)
    fcw_file = imported_from(checkout, env)
    clips = select_clips(spec, all_clips(checkout, shared_dir()), checkout, shared_dir())
    out.mkdir(parents=True, exist_ok=True)
    extra: tuple[str, ...] = ()
    if max_frames is not None:
        extra += ("--max-frames", str(max_frames))
    if config is not None:
        extra += ("--config", str(config.resolve()))
    t0 = time.perf_counter()
    entries = []
    for clip in clips:
        entry = run_clip(clip, out, checkout, env, extra)
        entries.append(entry)
        status = "ok" if entry["rc"] == 0 else (
            f"fcw exited {entry['rc']}: "
            f"{(entry['stderr_tail'].strip().splitlines() or [''])[-1]}")
        print(f"{clip.name}: {status} ({entry['wall_s']:.1f} s)", flush=True)
    total_s = time.perf_counter() - t0
    manifest: dict[str, Any] = {
        "commit": _git(checkout, "rev-parse", "HEAD"),
        "subject": _git(checkout, "log", "-1", "--format=%s"),
        "dirty": bool(_git(checkout, "status", "--porcelain", "--untracked-files=no")),
        "checkout": str(checkout), "fcw_imported_from": str(fcw_file),
        "python": sys.executable, "host": platform.node(),
        "recorded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "options": {"clips": spec, "max_frames": max_frames,
                    "config": str(config.resolve()) if config else None,
                    "models_dir": os.environ.get("FCW_MODELS_DIR")},
        "wall_s": round(total_s, 1), "clips": entries}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    failed = [e["name"] for e in entries if e["rc"] != 0]
    print(f"recorded {len(entries)} clips of {manifest['commit'][:12] or checkout}"
          f"{' (uncommitted changes)' if manifest['dirty'] else ''} into {out} in {total_s:.0f} s"
          + (f"; fcw failed on {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


# --- compare -------------------------------------------------------------------------------------

def _close(a: Any, b: Any, key: str, tol: Tolerance) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not (
            isinstance(a, (int, float)) and isinstance(b, (int, float))):
        return bool(a == b)
    if key.endswith("_px"):
        limit = tol.box_px
    elif key.endswith("_s"):
        limit = tol.ttc_s
    else:
        limit = 0.0
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    # 1e-9: values printed with a decimal or two are not exact binary fractions
    return abs(a - b) <= limit + 1e-9


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}" if abs(v) < 1e5 else repr(v)
    text = json.dumps(v)
    return text if len(text) <= 60 else text[:57] + "..."


def diff_values(a: Any, b: Any, path: str, tol: Tolerance) -> Iterator[str]:
    """``field a vs b`` for each leaf where ``b`` differs from ``a`` (nested fields dotted)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            sub = f"{path}.{key}" if path else key
            if key not in b:
                yield f"{sub} {_fmt(a[key])} vs (missing)"
            elif key not in a:
                yield f"{sub} (missing) vs {_fmt(b[key])}"
            else:
                yield from diff_values(a[key], b[key], sub, tol)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from diff_values(x, y, f"{path}[{i}]", tol)
    elif not _close(a, b, path.rsplit(".", 1)[-1], tol):
        yield f"{path} {_fmt(a)} vs {_fmt(b)}"


def _strip(record: dict[str, Any], ignore: frozenset[str]) -> dict[str, Any]:
    """The record without its ignored fields (top-level names, or ``type.dotted.path``)."""
    kind = record.get("type", "")
    drop = IGNORED["*"] | IGNORED.get(kind, frozenset())
    out = {k: v for k, v in record.items() if k not in drop}
    for item in ignore:
        t, _, field = item.partition(".")
        if t not in (kind, "*") or not field:
            continue
        *parents, last = field.split(".")
        out = json.loads(json.dumps(out))  # a copy to cut into: nested dicts are shared
        node: Any = out
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return out


def _label(record: dict[str, Any]) -> str:
    return f"{record.get('type')} frame {record.get('frame')}"


def diff_events(a: list[dict[str, Any]], b: list[dict[str, Any]], tol: Tolerance,
                ignore: frozenset[str] = frozenset()) -> list[str]:
    """Differences between two runs' event records, in order; stops at the first record whose
    type or frame differs (what follows is out of step). The start record's differences (a
    config field added or renamed, a model) come last, as one item, so that what fcw decided
    is read first."""
    a = [r for r in a if r.get("type") not in IGNORED_TYPES]
    b = [r for r in b if r.get("type") not in IGNORED_TYPES]
    out, setup = [], []
    for i, (ra, rb) in enumerate(zip(a, b)):
        if (ra.get("type"), ra.get("frame")) != (rb.get("type"), rb.get("frame")):
            out.append(f"events #{i}: {_label(ra)} vs {_label(rb)}")
            break
        diffs = [f"events #{i} {_label(ra)}: {d}"
                 for d in diff_values(_strip(ra, ignore), _strip(rb, ignore), "", tol)]
        if ra.get("type") in ("start", "rotate"):
            setup += diffs
        else:
            out += diffs
    else:
        if len(a) != len(b):
            longer, side = (a, "A") if len(a) > len(b) else (b, "B")
            out.append(f"events: {len(a)} records vs {len(b)}; {side}'s first extra is "
                       f"#{min(len(a), len(b))} {_label(longer[min(len(a), len(b))])}")
    if len(setup) > 1:
        setup = [f"{setup[0]} (and {len(setup) - 1} more fields of the start record; "
                 "--ignore start.config to leave the config out)"]
    return out + setup


def read_tracks(path: Path) -> list[tuple[float, ...]]:
    """A MOTChallenge track file's rows as (frame, id, x, y, w, h, conf)."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rows.append(tuple(float(v) for v in line.split(",")[:len(TRACK_FIELDS)]))
            except ValueError:
                raise ReplayError(f"{path}:{n}: not a MOTChallenge row: {line.strip()!r}") from None
    return rows


def diff_tracks(a: list[tuple[float, ...]], b: list[tuple[float, ...]],
                tol: Tolerance) -> list[str]:
    """Differences between two track files, row by row: frame and id exact, the box within
    ``tol.box_px``, the score within its printed precision (3 decimals)."""
    out = []
    for i, (ra, rb) in enumerate(zip(a, b)):
        where = f"tracks row {i + 1} frame {int(ra[0])} id {int(ra[1])}"
        if ra[:2] != rb[:2]:
            out.append(f"tracks row {i + 1}: frame {int(ra[0])} id {int(ra[1])} vs "
                       f"frame {int(rb[0])} id {int(rb[1])}")
            return out
        for field, x, y in zip(TRACK_FIELDS[2:], ra[2:], rb[2:]):
            limit = 1e-3 if field == "conf" else tol.box_px
            if abs(x - y) > limit + 1e-9:
                out.append(f"{where}: {field} {x:g} vs {y:g}")
    if len(a) != len(b):
        out.append(f"tracks: {len(a)} rows vs {len(b)}")
    return out


def load_manifest(d: Path) -> dict[str, Any]:
    p = d / MANIFEST
    if not p.is_file():
        raise ReplayError(f"{p}: not found (make it with `python -m benchmarks.replay_diff "
                          f"record {d}`)")
    try:
        manifest: dict[str, Any] = json.loads(p.read_text())
        manifest["clips"] = {c["name"]: c for c in manifest["clips"]}
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ReplayError(f"{p}: not a replay manifest ({exc})") from None
    return manifest


def _outputs(d: Path, entry: dict[str, Any]
             ) -> tuple[list[dict[str, Any]], list[tuple[float, ...]]]:
    events, tracks = d / entry["events"], d / entry["tracks"]
    for p in (events, tracks):
        # A run that failed before its first record leaves no file: it compares as empty.
        if not p.is_file() and entry.get("rc") == 0:
            raise ReplayError(f"{p}: not found (listed in {d / MANIFEST})")
    return (list(read_events(events)) if events.is_file() else [],
            read_tracks(tracks) if tracks.is_file() else [])


def compare_clip(a_dir: Path, a: dict[str, Any], b_dir: Path, b: dict[str, Any],
                 tol: Tolerance, ignore: frozenset[str]) -> list[str]:
    out = []
    if a.get("rc") != b.get("rc"):
        out.append(f"fcw exit code {a.get('rc')} vs {b.get('rc')}")
    ea, ta = _outputs(a_dir, a)
    eb, tb = _outputs(b_dir, b)
    return out + diff_events(ea, eb, tol, ignore) + diff_tracks(ta, tb, tol)


def compare(a_dir: Path, b_dir: Path, tol: Tolerance, ignore: frozenset[str], show: int) -> int:
    a, b = load_manifest(a_dir), load_manifest(b_dir)
    for side, m in (("A", a), ("B", b)):
        dirty = " (uncommitted changes)" if m.get("dirty") else ""
        print(f"{side}: {m.get('commit', '?')[:12]}{dirty} {m.get('subject', '')}")
    differ = []
    fa, fb = (m.get("options", {}).get("max_frames") for m in (a, b))
    if fa != fb:
        print(f"options: --max-frames {fa} vs {fb}")
        differ.append("options")
    for name in [*a["clips"], *(n for n in b["clips"] if n not in a["clips"])]:
        if name not in b["clips"] or name not in a["clips"]:
            print(f"{name}: only in {'A' if name in a['clips'] else 'B'}")
            differ.append(name)
            continue
        diffs = compare_clip(a_dir, a["clips"][name], b_dir, b["clips"][name], tol, ignore)
        if not diffs:
            print(f"{name}: same")
            continue
        differ.append(name)
        more = f" (+{len(diffs) - show} more)" if len(diffs) > show else ""
        print(f"{name}: DIFFERS: " + "; ".join(diffs[:show]) + more)
    n = len(set(a["clips"]) | set(b["clips"]))
    clips_differ = [d for d in differ if d != "options"]
    print(f"{n - len(clips_differ)} of {n} clips the same"
          + (f"; differ: {', '.join(differ)}" if differ else ""))
    return 1 if differ else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.replay_diff",
                                 description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record", help="record events and tracks of every clip into OUTDIR")
    rec.add_argument("outdir", type=Path)
    rec.add_argument("--clips", default="all",
                     help="all (default), sample, real, or clip names separated by commas")
    rec.add_argument("--max-frames", type=int, help="stop each clip after N frames")
    rec.add_argument("--config", type=Path, help="fcw's --config for every clip")
    rec.add_argument("--checkout", type=Path, default=REPO,
                     help="the checkout whose code runs (default: this script's)")
    rec.add_argument("--force", action="store_true", help="replace a recording in OUTDIR")
    cmp = sub.add_parser("compare", help="compare two recordings; exit 1 if they differ")
    cmp.add_argument("a", type=Path)
    cmp.add_argument("b", type=Path)
    cmp.add_argument("--box-tol-px", type=float, default=Tolerance.box_px)
    cmp.add_argument("--ttc-tol-s", type=float, default=Tolerance.ttc_s)
    cmp.add_argument("--ignore", action="append", default=[], metavar="TYPE.FIELD",
                     help="also ignore this field, e.g. start.config.lead_scale (repeatable)")
    cmp.add_argument("--show", type=int, default=3, help="differences printed per clip")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "record":
            if args.max_frames is not None and args.max_frames < 1:
                raise ReplayError(f"--max-frames: must be at least 1 (got {args.max_frames})")
            return record(args.outdir, args.clips, args.max_frames, args.config, args.checkout,
                          args.force)
        return compare(args.a, args.b, Tolerance(args.box_tol_px, args.ttc_tol_s),
                       frozenset(args.ignore), max(args.show, 1))
    except ReplayError as exc:
        print(f"replay_diff: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
