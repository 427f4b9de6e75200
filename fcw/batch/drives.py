"""The drives of a batch, from the command line's video files, folders, manifests and URLs.

A drive's id names its output folder, so it must be stable from run to run (resuming depends on
it) and unique in a fleet where every camera writes ``0001.mp4``: it is the file's stem plus 8 hex
digits of the sha256 of its absolute path (or its URL).
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from fcw.errors import SourceError
from fcw.sources import mask_credentials

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".avi", ".mkv", ".m4v", ".webm", ".ts", ".mpg",
                            ".mpeg", ".h264", ".h265", ".hevc"})
MANIFEST_SUFFIXES = frozenset({".txt", ".list", ".lst", ".manifest"})
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Drive:
    id: str
    source: str  # an absolute path, or a URL the worker fetches before replaying it

    @property
    def is_url(self) -> bool:
        return bool(_URL.match(self.source))

    @property
    def name(self) -> str:
        """The source as logs and tables may show it (a URL's password masked)."""
        return mask_credentials(self.source)


def drive_id(source: str) -> str:
    path = source.split("?", 1)[0].rstrip("/") if _URL.match(source) else source
    stem = Path(path).stem
    stem = _UNSAFE.sub("_", stem).strip("._")[:60] or "drive"
    return f"{stem}-{hashlib.sha256(source.encode()).hexdigest()[:8]}"


def make_drive(source: str) -> Drive:
    if not _URL.match(source):
        source = str(Path(source).expanduser().resolve())
    return Drive(drive_id(source), source)


def _videos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*")
                  if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _manifest_lines(path: Path) -> Iterator[str]:
    """Each line a path (relative to the manifest's folder) or a URL; blanks and ``#`` skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{path}: cannot read manifest ({exc})") from None
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield line if _URL.match(line) else str(path.parent / Path(line).expanduser())


def _expand(arg: str, in_manifest: bool) -> Iterator[str]:
    if _URL.match(arg):
        yield arg
        return
    path = Path(arg).expanduser()
    if path.is_dir():
        videos = _videos_in(path)
        if not videos:
            raise SourceError(f"{path}: no video files ({', '.join(sorted(VIDEO_SUFFIXES))})")
        yield from map(str, videos)
    elif in_manifest:
        # A listed file that is gone or unreadable is that drive's failure, not the batch's.
        yield arg
    elif not path.exists():
        raise SourceError(f"drive not found: {path}")
    elif path.suffix.lower() in MANIFEST_SUFFIXES:
        for line in _manifest_lines(path):
            yield from _expand(line, in_manifest=True)
    else:
        yield arg


def expand_drives(args: Iterable[str]) -> list[Drive]:
    """Drives in the order given (folders sorted by name), each once."""
    drives: dict[str, Drive] = {}
    for arg in args:
        for source in _expand(str(arg), in_manifest=False):
            drive = make_drive(source)
            drives.setdefault(drive.id, drive)
    return list(drives.values())

