"""Finding model files: ``--models-dir``, ``FCW_MODELS_DIR``, the models that ship in
``engines/models/``, the user cache, then a download.

Every file is checked against the spec's sha256 before use; a download is written to a temporary
file beside its target and renamed only once its hash matches, so a cut connection never leaves a
half-written model where the next run would find it.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Optional

from engines.errors import ModelError

from .spec import ModelSpec

ENV_VAR = "FCW_MODELS_DIR"
#: models that ship inside the package (fcw's own and the small permissive defaults, so that
#: ``fcw run`` works offline), searched after the folders the user names.
BUNDLED_DIR = Path(__file__).resolve().parent / "models"
_CHUNK = 1 << 20


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fcw" / "models"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def search_dirs(models_dir: Optional[Path] = None) -> list[Path]:
    """The folders searched, in order; a ``models_dir`` that is not a folder is an error (a
    typo there would otherwise run whatever model the later folders hold)."""
    dirs = []
    if models_dir:
        if not Path(models_dir).is_dir():
            raise ModelError(f"--models-dir {models_dir}: no such folder")
        dirs.append(Path(models_dir))
    if os.environ.get(ENV_VAR):
        dirs.append(Path(os.environ[ENV_VAR]))
    dirs.append(BUNDLED_DIR)
    dirs.append(user_cache_dir())
    return dirs


def verify(spec: ModelSpec, path: Path) -> Path:
    """Refuse a file whose size or sha256 differs from the spec."""
    size = path.stat().st_size
    if size != spec.size_bytes:
        raise ModelError(f"{path}: {size} bytes, expected {spec.size_bytes} for model "
                         f"{spec.name!r} (truncated or a different file)")
    digest = sha256_of(path)
    if digest != spec.sha256:
        raise ModelError(f"{path}: sha256 {digest[:12]}... does not match model {spec.name!r} "
                         f"({spec.sha256[:12]}...); refusing to load it")
    return path


def resolve_model(spec: ModelSpec, models_dir: Optional[Path] = None, *,
                  download: bool = True,
                  fetch: Optional[Callable[[str, Path], None]] = None) -> Path:
    """The verified path of the spec's file, downloading it into the user cache if needed.

    ``fetch(url, dest)`` is injectable so that tests never touch the network.
    """
    for d in search_dirs(models_dir):
        for candidate in (d / spec.file, d / Path(spec.file).name):
            if candidate.is_file():
                return verify(spec, candidate)
    where = ", ".join(str(d) for d in search_dirs(models_dir))
    if not download or not spec.url:
        raise ModelError(f"model {spec.name!r} ({spec.file}) not found in {where}")
    target = user_cache_dir() / spec.file
    # Folders this download creates, removed again if it fails: no empty cache is left behind.
    created = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".download-", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        (fetch or _download)(spec.url, tmp)
        try:
            verify(spec, tmp)
        except ModelError as exc:
            raise ModelError(f"download of {spec.url}: {str(exc).split(': ', 1)[1]}") from None
        os.replace(tmp, target)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"model {spec.name!r} not found in {where}, and downloading "
                         f"{spec.url} failed: {str(exc).splitlines()[0] if str(exc) else exc!r}; "
                         f"put {Path(spec.file).name} in a folder and pass --models-dir DIR "
                         f"(or set {ENV_VAR}=DIR)") from None
    finally:
        tmp.unlink(missing_ok=True)
        if not target.exists():
            for d in created:  # deepest first
                try:
                    d.rmdir()
                except OSError:
                    break
    return target


def _download(url: str, dest: Path) -> None:
    from tqdm import tqdm

    with urllib.request.urlopen(url, timeout=30) as resp, open(dest, "wb") as out:
        total = int(resp.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {dest.name}",
                  leave=False) as bar:
            for chunk in iter(lambda: resp.read(_CHUNK), b""):
                out.write(chunk)
                bar.update(len(chunk))
        out.flush()
        os.fsync(out.fileno())
