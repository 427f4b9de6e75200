"""Replaying drives one after another in one process, the model loaded once: a Ray actor's body.

Each drive goes through :func:`fcw.app.build_pipeline`, exactly as ``fcw run --headless --events
--tracks`` would run it, except that the models (the detector stage and the traffic-light
classifiers' backends) are loaded once, when the worker starts, and handed to every drive's
pipeline; the tracker, lights and risk stages are new per drive, so no state leaks from one drive
into the next.
"""
from __future__ import annotations

import datetime
import os
import platform
import shutil
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

import cv2

from engines.spec import load_spec
from fcw import __version__
from fcw.app import RunOptions, build_detector, build_pipeline
from fcw.config import Config
from fcw.errors import FcwError
from fcw.lights.build import load_light_models

from .drives import Drive
from .keys import config_sha256, model_identity
from .outputs import EVENTS, PARTIAL, SUMMARY, TRACKS, drive_dir, read_behaviour, write_json


def error_line(exc: BaseException) -> str:
    """A one-line reason: fcw's own messages as they are, anything else with its type."""
    text = str(exc) if isinstance(exc, FcwError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())


def _fetch(url: str, dest: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:
            shutil.copyfileobj(resp, out, 1 << 20)
    except (OSError, ValueError) as exc:
        raise FcwError(f"cannot fetch {url}: {exc}") from None


class DriveReplayer:
    """Holds one built detector and replays drives with it.

    ``threads``: the CPUs Ray gives this worker process. They bound OpenCV's threads (decoding,
    resizing), and ONNX Runtime's when the config leaves those to it (0): either would otherwise
    take every core of the machine in every worker. On one thread a worker used 1.05 cores and 10%
    less CPU time per clip than with OpenCV's default (1.5 cores on a 2-core machine).
    """

    def __init__(self, config_record: dict[str, Any], models_dir: Optional[str] = None,
                 threads: int = 1) -> None:
        cv2.setNumThreads(threads)  # for the whole process: a worker process is this object's
        self.cfg = Config.model_validate(config_record)
        self._options = RunOptions(source="", models_dir=Path(models_dir) if models_dir else None,
                                   status=False)
        spec = load_spec(self.cfg.detector.model)
        self._meta = {"config_sha256": config_sha256(self.cfg), **model_identity(spec),
                      "fcw_version": __version__, "worker": f"{platform.node()}:{os.getpid()}"}
        self._drives = 0
        self._threads = threads
        self.startup_error: Optional[str] = None
        self._detector = None
        self._light_models = None
        try:
            det_cfg = self.cfg
            if not self.cfg.detector.threads:
                det_cfg = self.cfg.model_copy(update={
                    "detector": self.cfg.detector.model_copy(update={"threads": threads})})
            self._detector = build_detector(det_cfg, spec, self._options)
            self._light_models = (load_light_models(det_cfg, self._options.models_dir)
                                  if self.cfg.lights.enabled else None)
        except FcwError as exc:  # no model on this node: every drive would fail the same way
            self.startup_error = error_line(exc)

    def ready(self) -> Optional[str]:
        """None once the model is loaded, else why it could not be."""
        return self.startup_error

    def replay(self, drive: Drive, key: str, out: str) -> dict[str, Any]:
        """Replay one drive into ``out``; its summary (also written as summary.json, last)."""
        d = drive_dir(Path(out), drive.id)
        d.mkdir(parents=True, exist_ok=True)
        (d / SUMMARY).unlink(missing_ok=True)  # from here on the folder is unfinished
        for stale in [d / EVENTS, d / TRACKS, *d.glob(f"*{PARTIAL}*")]:  # an older or killed run's
            stale.unlink(missing_ok=True)
        events, tracks = d / (EVENTS + PARTIAL), d / (TRACKS + PARTIAL)
        self._drives += 1
        started = time.perf_counter()
        summary: dict[str, Any] = {"drive": drive.id, "source": drive.name, "status": "failed",
                                   "error": None, "frames": 0, "dropped": 0, "duration_s": 0.0,
                                   "fps": 0.0}
        try:
            if self._detector is None:
                raise FcwError(self.startup_error or "no detector")
            local = drive.source
            if drive.is_url:
                local = str(d / ("source" + Path(drive.source.split("?", 1)[0]).suffix + PARTIAL))
                _fetch(drive.source, Path(local))
            options = replace(self._options, source=local, events=events, tracks=tracks)
            pipeline = build_pipeline(self.cfg, options, detector=self._detector,
                                      light_models=self._light_models)
            # On one CPU the worker threads of a threaded pipeline have nothing to overlap.
            pipeline.threaded = pipeline.threaded and self._threads > 1
            run = pipeline.run()
            summary.update(status="ok", frames=run.frames, dropped=run.dropped,
                           duration_s=round(run.last_t_s, 3), fps=round(run.mean_fps, 1))
        except Exception as exc:
            summary["error"] = error_line(exc)
        finally:
            for stale in d.glob(f"source*{PARTIAL}"):
                stale.unlink()
        behaviour = read_behaviour(events) if events.is_file() else None
        if behaviour is not None and behaviour.error and summary["status"] == "ok":
            summary.update(status="failed", error=behaviour.error)
        for partial, final in ((events, d / EVENTS), (tracks, d / TRACKS)):
            if partial.is_file():  # a failed drive's partial outputs are kept for its diagnosis
                os.replace(partial, final)
        times = behaviour.warning_times_s if behaviour else ()
        summary.update(
            warnings=len(times), cautions=behaviour.cautions if behaviour else 0,
            light_changes=behaviour.light_changes if behaviour else 0,
            first_warning_s=times[0] if times else None, warning_times_s=list(times),
            wall_s=round(time.perf_counter() - started, 3), key=key, **self._meta,
            backend=self._detector[1].get("backend") if self._detector else None,
            worker_drive=self._drives,
            finished_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
        write_json(d / SUMMARY, summary)
        return summary
