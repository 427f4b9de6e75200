"""``fcw demo``: the first run after the install, offline and with no setting.

It replays the bundled NHTSA clip (``sample_videos/lead_stopped.mp4``: a rendered approach at
45 mph to a stopped car) headless with the models that ship in the package, and writes the
events file, the annotated video and the tracks into one folder, then says where they are and
when it warned.
"""
from __future__ import annotations

import argparse
from pathlib import Path

# sample_videos/ sits beside the package in a clone (pip install -e .), where the demo is run.
SAMPLE_CLIP = Path(__file__).resolve().parents[2] / "sample_videos" / "lead_stopped.mp4"
DEFAULT_OUT = Path("fcw-demo")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="run the bundled sample clip headless and write its outputs to a folder",
        description=f"Replay {SAMPLE_CLIP.name} (NHTSA's stopped-car test, rendered) headless "
                    "and write events.jsonl, the annotated video and tracks.txt into --out.")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                   help=f"output folder, created if missing (default ./{DEFAULT_OUT})")
    p.add_argument("--source", default=str(SAMPLE_CLIP), metavar="VIDEO",
                   help="another clip to replay the same way (default: the bundled sample)")
    p.add_argument("--models-dir", type=Path, metavar="DIR",
                   help="look for model files here first (default: the packaged models)")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from fcw.app import RunOptions, build_pipeline
    from fcw.config import load_config
    from fcw.errors import FcwError
    from fcw.runtime import run_pipeline
    from fcw.sinks.events import read_events
    from fcw.sinks.video import CODEC_NAMES, VideoRecorder

    if not Path(args.source).is_file():
        raise FcwError(f"{args.source}: sample clip not found (fcw demo runs from a clone of the "
                       "repository, which holds sample_videos/; or give --source VIDEO)")
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FcwError(f"{out}: cannot create the output folder ({exc.strerror})") from None
    events, tracks = out / "events.jsonl", out / "tracks.txt"
    video = out / "annotated.mp4"  # H.264 where PyAV is installed (the test extra has it)
    events.unlink(missing_ok=True)  # the events file appends; a rerun starts afresh
    pipeline = build_pipeline(load_config(None), RunOptions(
        source=args.source, events=events, record=video, tracks=tracks,
        models_dir=args.models_dir, status=False))
    recorder = next(s for s in pipeline.sinks if isinstance(s, VideoRecorder))
    code = run_pipeline(pipeline)
    records = list(read_events(events))
    end = records[-1] if records and records[-1]["type"] == "end" else {}
    print(f"fcw demo: {end.get('frames', '?')} frames of {args.source}")
    for r in records:
        if r["type"] == "fcw" and r["level"] != "none":
            print(f"  {r['level']:<8} at frame {r['frame']} (t {r['t']:.2f} s), "
                  f"TTC {r['ttc_s']:.2f} s +/- {r['ttc_sigma_s']:.2f}")
    codec = CODEC_NAMES.get(recorder.codec or "", "no frame")
    print(f"events: {events}\nvideo:  {video} ({codec})\ntracks: {tracks}")
    return code
