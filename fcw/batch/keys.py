"""The resume key: outputs are reused only if the same config, model, fcw and drive made them.

The key is the sha256 of the config record's sha256, the models (the detector's file sha256, which
the model store checks the file against before loading, and the sha256 of every model spec fcw
has, which say how each model, the traffic-light ones included, is fed and decoded and which file
it must be), fcw's version and the drive's identity.

A local drive's identity is its path, size and modification time (ns), not a hash of its content:
deciding to skip must not read the fleet's video again (a day of drives is terabytes), and a
recorder does not rewrite a finished file in place with the same size and time — the same trust
``make`` and ``rsync`` place in them. A URL's identity is the URL: fleet uploads are write-once
object keys, and deciding to skip makes no request.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from engines.spec import ModelSpec, available_models, load_spec
from fcw import __version__
from fcw.config import Config

from .drives import Drive
from .outputs import EVENTS, SUMMARY, TRACKS, drive_dir, read_json


def _sha256(record: Any) -> str:
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def config_sha256(cfg: Config) -> str:
    return _sha256(cfg.to_record())


def model_identity(spec: ModelSpec) -> dict[str, str]:
    specs = {name: load_spec(name).model_dump(mode="json") for name in available_models()}
    return {"model": spec.name, "model_sha256": spec.sha256, "specs_sha256": _sha256(specs)}


def drive_identity(drive: Drive) -> dict[str, Any]:
    if drive.is_url:
        return {"source": drive.source}
    try:
        st = os.stat(drive.source)
    except OSError:  # a listed drive that is gone: its replay fails and says so
        return {"source": drive.source, "size": None, "mtime_ns": None}
    return {"source": drive.source, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def resume_key(config_sha: str, model: dict[str, str], drive: dict[str, Any]) -> str:
    return _sha256({"config_sha256": config_sha, **model, "drive": drive,
                    "fcw_version": __version__})


def is_complete(out: Path, drive: Drive, key: str) -> bool:
    """The drive was replayed successfully with this key and its outputs are all there."""
    d = drive_dir(out, drive.id)
    summary = read_json(d / SUMMARY)
    return (summary is not None and summary.get("status") == "ok" and summary.get("key") == key
            and (d / EVENTS).is_file() and (d / TRACKS).is_file())
