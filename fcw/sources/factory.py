"""Turn the user's source string into the right frame source."""
from __future__ import annotations

import enum
import re
from functools import partial
from pathlib import Path

from fcw.errors import SourceError
from fcw.sources.base import FrameSource, mask_credentials
from fcw.sources.images import ImageSequenceSource
from fcw.sources.live import (
    LiveSource,
    Reconnect,
    open_camera,
    open_gstreamer,
    open_stream,
    open_v4l2,
)
from fcw.sources.video import VideoFileSource

_STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
_CAMERA_INDEX = re.compile(r"[0-9]+")
_V4L2_DEVICE = re.compile(r"/dev/video[0-9]+")
_GLOB_CHARS = frozenset("*?[")


class SourceKind(enum.Enum):
    CAMERA = "camera"  # OpenCV camera index
    V4L2 = "v4l2"  # /dev/videoN
    GSTREAMER = "gstreamer"  # pipeline string
    STREAM = "stream"  # rtsp / http(s) URL
    FOLDER = "folder"  # directory of images
    GLOB = "glob"  # pattern of images
    VIDEO = "video"  # video file


def classify(spec: str) -> SourceKind:
    """Which kind of source ``spec`` names; looks at the file system but opens nothing.

    An existing file wins over the glob rule, so a video whose name contains ``[`` still opens.
    """
    if _CAMERA_INDEX.fullmatch(spec):
        return SourceKind.CAMERA
    if _V4L2_DEVICE.fullmatch(spec):
        return SourceKind.V4L2
    if "!" in spec:
        return SourceKind.GSTREAMER
    if spec.lower().startswith(_STREAM_SCHEMES):
        return SourceKind.STREAM
    if spec:
        path = Path(spec)
        if path.is_dir():
            return SourceKind.FOLDER
        if path.is_file():
            return SourceKind.VIDEO
        if _GLOB_CHARS.intersection(spec):
            return SourceKind.GLOB
    raise SourceError(f"source not found: {mask_credentials(spec)}")


def open_source(spec: str, *, folder_fps: float = 10.0, realtime: bool = False,
                reconnect: Reconnect | None = None) -> FrameSource:
    """Open the source ``spec`` names (see :func:`classify`).

    ``folder_fps`` is the frame rate given to image folders and globs; ``realtime`` paces a video
    file like a live camera; ``reconnect`` reopens a camera or stream that is lost (None: its
    loss ends it). Raises :class:`SourceError` with a one-line message on failure.
    """
    kind = classify(spec)
    if kind is SourceKind.CAMERA:
        return LiveSource(partial(open_camera, int(spec)), name=f"camera {spec}",
                          reconnect=reconnect)
    if kind is SourceKind.V4L2:
        return LiveSource(partial(open_v4l2, spec), name=spec, reconnect=reconnect)
    if kind is SourceKind.GSTREAMER:
        return LiveSource(partial(open_gstreamer, spec), name=spec, reconnect=reconnect)
    if kind is SourceKind.STREAM:
        return LiveSource(partial(open_stream, spec), name=spec, reconnect=reconnect)
    if kind is SourceKind.FOLDER:
        return ImageSequenceSource.from_folder(spec, folder_fps)
    if kind is SourceKind.GLOB:
        return ImageSequenceSource.from_glob(spec, folder_fps)
    return VideoFileSource(spec, realtime=realtime)
