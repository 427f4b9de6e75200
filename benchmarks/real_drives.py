"""Warnings and cautions of ``fcw run`` on the real drives, with each detector (issue 16).

    FCW_SHARED_DIR=../shared python benchmarks/real_drives.py [--models fastestdet,yolox_nano]

Every clip in ``shared/data/real-drives/`` and the Udacity highway clip and stills is normal
driving: no forward-collision warning is expected on any (shared/data/real-drives/README.md; KITTI's
creep up to a stopped car never has a lidar TTC below 5.3 s). Each runs through the real ``fcw run``
in a subprocess, headless, with the default configuration but for the detector model and the light
stage, which is off to keep the runs short: that only removes the braking credit under a red light
(fcw/risk/braking.py), so the count is, if anything, stricter than the default's.

The README's figure (``python -m benchmarks.readme write real_drives``) is this script's table;
``tests/test_real_drives.py`` reruns each cell and fails where it differs.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("fastestdet", "yolox_nano")


@dataclass(frozen=True)
class DriveClip:
    """``rel``: the path under shared/data; ``extra``: ``fcw run`` arguments (the image folders
    play at their 10 Hz); ``half``: "tune" where the plausibility checks were designed, else
    "held out" (docs/warnings.md says how held out each is)."""

    name: str
    rel: str
    extra: tuple[str, ...] = ()
    half: str = "held out"


CLIPS = (
    DriveClip("highway_solid_white_right", "real-drives/highway_solid_white_right.mp4",
              half="tune"),
    DriveClip("city_sf_pandaset", "real-drives/city_sf_pandaset/", ("--fps", "10"), "tune"),
    DriveClip("udacity_test_video", "udacity-vehicle-detection/test_video.mp4", half="tune"),
    # Six unrelated highway stills, played as a 10 Hz folder: a tracker fed jumps must not warn.
    DriveClip("udacity_test_images", "udacity-vehicle-detection/test_images/"),
    DriveClip("motorway_dawn", "real-drives/motorway_dawn.mp4"),
    DriveClip("night_highway", "real-drives/night_highway.mp4"),
    DriveClip("highway_traffic", "real-drives/highway_traffic.mp4"),
    DriveClip("kitti_stop_and_go", "real-drives/kitti_stop_and_go/images/", ("--fps", "10")),
)


def shared_dir() -> Path:
    return Path(os.environ.get("FCW_SHARED_DIR", ROOT.parent / "shared"))


def models_dir() -> Path:
    return Path(os.environ.get("FCW_MODELS_DIR", shared_dir() / "models"))


def fcw_run(clip: DriveClip, model: str, out: Path) -> subprocess.CompletedProcess[str]:
    """``fcw run`` on ``clip`` with ``model``, its events into ``out/events.jsonl``."""
    return fcw_run_source(shared_dir() / "data" / clip.rel, clip.extra, model, out)


def fcw_run_source(source: Path, extra: tuple[str, ...], model: str,
                   out: Path) -> subprocess.CompletedProcess[str]:
    """``fcw run --source source *extra`` with ``model`` and the light stage off, its events into
    ``out/events.jsonl``."""
    config = out / "model.yaml"
    config.write_text(f"detector:\n  model: {model}\nlights:\n  enabled: false\n",
                      encoding="utf-8")
    cmd = [sys.executable, "-m", "fcw", "run", "--source", str(source), *extra, "--headless",
           "--no-status", "--config", str(config), "--events", str(out / "events.jsonl"),
           "--models-dir", str(models_dir())]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def counts(events: list[dict[str, Any]]) -> dict[str, int]:
    """A run's figure from its event records: frames, warnings and cautions (counts only: a
    caution's frame may move by one where ONNX Runtime's last digits differ between CPUs)."""
    levels = [r["level"] for r in events if r["type"] == "fcw"]
    end = next(r for r in reversed(events) if r["type"] == "end")
    return {"frames": end["frames"], "warnings": levels.count("warning"),
            "cautions": levels.count("caution")}


def measure(models: tuple[str, ...] = MODELS) -> dict[str, Any]:
    from fcw.sinks.events import read_events

    out: dict[str, Any] = {"clips": {}}
    for clip in CLIPS:
        row: dict[str, Any] = {"half": clip.half, "models": {}}
        for model in models:
            with tempfile.TemporaryDirectory(prefix="fcw-drive-") as tmp:
                proc = fcw_run(clip, model, Path(tmp))
                if proc.returncode != 0:
                    raise RuntimeError(f"{clip.name} with {model}: fcw run failed: "
                                       f"{proc.stderr.strip()[-500:]}")
                row["models"][model] = counts(list(read_events(Path(tmp) / "events.jsonl")))
        out["clips"][clip.name] = row
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(MODELS))
    args = p.parse_args()
    print(json.dumps(measure(tuple(args.models.split(","))), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
