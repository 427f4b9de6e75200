"""Scheduling drives on Ray: one actor per worker process, one drive in flight per actor.

Drives whose outputs are complete for this key are skipped before Ray starts, so a finished batch
reruns in a moment. The queue stays in the driver and each actor gets its next drive only when it
hands back the last one, so the drives in flight never exceed the workers, however long the list.
A drive that fails is a row in the results; a worker process that dies (a decoder crash, memory)
fails only the drive it held, and a fresh worker takes its place.
"""
from __future__ import annotations

import datetime
import logging
import os
import sys
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from engines.spec import load_spec
from engines.store import ENV_VAR as MODELS_ENV
from fcw import __version__
from fcw.config import Config, load_config
from fcw.errors import FcwError

from . import require
from .drives import Drive
from .keys import config_sha256, drive_identity, is_complete, model_identity, resume_key
from .outputs import BATCH, SUMMARY, drive_dir, read_json, write_json
from .table import summary_line, write_table
from .worker import DriveReplayer, error_line

# The driver and workers pass only drive names and summaries; Ray's default (30% of RAM) would
# reserve shared memory a small CI machine may not have.
_LOCAL_OBJECT_STORE_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True)
class BatchOptions:
    out: Path
    workers: Optional[int] = None  # None: the cores given (local), or the cluster's CPUs
    address: Optional[str] = None  # None: a local Ray started in-process
    models_dir: Optional[Path] = None
    cpus_per_worker: int = 1
    progress: bool = True


@dataclass(frozen=True)
class BatchReport:
    summaries: tuple[dict[str, Any], ...]  # every drive's, in the order given
    skipped: int
    ran: int
    workers: int
    startup_s: float  # Ray and the workers' model loading
    replay_s: float  # first drive handed out to last drive back
    tables: tuple[Path, ...]

    @property
    def failed(self) -> int:
        return sum(s.get("status") != "ok" for s in self.summaries)

    @property
    def drives_per_min(self) -> float:
        return 60.0 * self.ran / self.replay_s if self.replay_s > 0 else 0.0

    def line(self) -> str:
        warnings = sum(s.get("warnings", 0) for s in self.summaries)
        cautions = sum(s.get("cautions", 0) for s in self.summaries)
        rate = (f", {self.drives_per_min:.1f} drives/min on {self.workers} workers"
                if self.ran else "")
        return (f"{len(self.summaries)} drives: ran {self.ran}, skipped {self.skipped} (complete), "
                f"failed {self.failed}; {warnings} warnings, {cautions} cautions{rate}")


def load_batch_config(path: Optional[Path] = None) -> Config:
    """The config a batch replays with: the file's, silent and reading every frame, whatever
    the car's config says (the start records and the resume key say so too)."""
    return load_config(path, {"alert.enabled": False, "source.realtime": False})


def cores_given() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _local_temp_dir() -> dict[str, str]:
    """Ray's own /tmp/ray, unless another user's Ray left it there unwritable (a shared runner)."""
    default = Path(tempfile.gettempdir()) / "ray"
    if os.environ.get("RAY_TMPDIR") or not default.exists() or os.access(default, os.W_OK):
        return {}
    return {"_temp_dir": str(default.with_name(f"ray-{os.getuid()}"))}


def _start_ray(ray: Any, options: BatchOptions) -> int:
    """Start or join Ray; how many workers to run."""
    common: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                              "logging_level": logging.WARNING}
    if options.address is None:
        workers = options.workers or max(1, cores_given() // options.cpus_per_worker)
        # "local", not None: None would join any cluster RAY_ADDRESS or `ray start` left behind.
        ray.init(address="local", num_cpus=workers * options.cpus_per_worker,
                 object_store_memory=_LOCAL_OBJECT_STORE_BYTES, **_local_temp_dir(), **common)
        return workers
    env = {MODELS_ENV: os.environ[MODELS_ENV]} if os.environ.get(MODELS_ENV) else {}
    ray.init(address=options.address, runtime_env={"env_vars": env} if env else None, **common)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return options.workers or max(1, cpus // options.cpus_per_worker)


def _batch_record(cfg: Config, drives: int) -> dict[str, Any]:
    return {"config": cfg.to_record(), "config_sha256": config_sha256(cfg),
            **model_identity(load_spec(cfg.detector.model)), "fcw_version": __version__,
            "drives": drives,
            "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds")}


def _lost_summary(drive: Drive, key: str, reason: str) -> dict[str, Any]:
    """The summary of a drive whose worker died under it (the worker could not write one)."""
    return {"drive": drive.id, "source": drive.name, "status": "failed", "error": reason,
            "frames": 0, "dropped": 0, "duration_s": 0.0, "fps": 0.0, "warnings": 0,
            "cautions": 0, "light_changes": 0, "first_warning_s": None, "warning_times_s": [],
            "key": key, "fcw_version": __version__}


def run_batch(drives: Sequence[Drive], cfg: Config, options: BatchOptions) -> BatchReport:
    """Replay every drive not already complete for this config and model; one line per drive."""
    out = Path(options.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    cfg_sha, model = config_sha256(cfg), model_identity(load_spec(cfg.detector.model))
    keys = {d.id: resume_key(cfg_sha, model, drive_identity(d)) for d in drives}
    todo = [d for d in drives if not is_complete(out, d, keys[d.id])]
    write_json(out / BATCH, _batch_record(cfg, len(drives)))
    workers, startup_s, replay_s = 0, 0.0, 0.0
    if todo:
        workers, startup_s, replay_s = _replay(todo, keys, cfg, options, out, len(drives))
    summaries = tuple(read_json(drive_dir(out, d.id) / SUMMARY)
                      or _lost_summary(d, keys[d.id], "no summary written") for d in drives)
    tables = write_table(summaries, out)
    return BatchReport(summaries, len(drives) - len(todo), len(todo), workers, startup_s,
                       replay_s, tables)


def _replay(todo: list[Drive], keys: dict[str, str], cfg: Config, options: BatchOptions,
            out: Path, total: int) -> tuple[int, float, float]:
    ray = require("ray")
    from ray.exceptions import RayActorError, RayError
    from tqdm import tqdm

    t0 = time.perf_counter()
    workers = _start_ray(ray, options)
    try:
        replayer = ray.remote(DriveReplayer).options(num_cpus=options.cpus_per_worker)
        models_dir = str(Path(options.models_dir).resolve()) if options.models_dir else None

        def new_worker() -> Any:
            return replayer.remote(cfg.to_record(), models_dir, options.cpus_per_worker)

        idle = [new_worker() for _ in range(min(workers, len(todo)))]
        try:
            problems = [p for p in ray.get([w.ready.remote() for w in idle]) if p]
        except RayError as exc:
            raise FcwError(f"a Ray worker could not start: {error_line(exc)[:300]}") from None
        if problems:
            raise FcwError(f"a Ray worker could not load the model: {problems[0]}")
        t1 = time.perf_counter()
        queue = deque(todo)
        # a replay's Ray object ref -> the actor running it and its drive (ray is imported late)
        pending: dict[Any, tuple[Any, Drive]] = {}
        bar = tqdm(total=total, initial=total - len(todo), unit="drive", desc="fcw batch",
                   disable=not options.progress, file=sys.stderr, dynamic_ncols=True)
        with bar:
            while queue or pending:
                while idle and queue:
                    worker, drive = idle.pop(), queue.popleft()
                    pending[worker.replay.remote(drive, keys[drive.id], str(out))] = (worker, drive)
                (done,), _ = ray.wait(list(pending), num_returns=1)
                worker, drive = pending.pop(done)
                try:
                    summary = ray.get(done)
                except RayActorError as exc:
                    ray.kill(worker)
                    worker = new_worker()
                    summary = _lost_summary(drive, keys[drive.id], (
                        f"worker process died replaying it ({type(exc).__name__}: a crash, the "
                        "OOM killer or a kill; Ray's worker logs say which)"))
                    write_json(drive_dir(out, drive.id) / SUMMARY, summary)
                except RayError as exc:  # an exception that escaped replay(): a bug or the disk
                    summary = _lost_summary(drive, keys[drive.id], error_line(exc)[:300])
                    write_json(drive_dir(out, drive.id) / SUMMARY, summary)
                idle.append(worker)
                bar.update(1)
                bar.write(summary_line(summary), file=sys.stdout)
                sys.stdout.flush()
        return workers, t1 - t0, time.perf_counter() - t1
    finally:
        ray.shutdown()
