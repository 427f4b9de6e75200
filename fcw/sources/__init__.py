"""Frame sources: video files, image folders, cameras and streams behind one interface."""
from fcw.sources.base import FrameSource, mask_credentials
from fcw.sources.factory import SourceKind, classify, open_source
from fcw.sources.images import ImageSequenceSource
from fcw.sources.live import Capture, LiveSource, Reconnect
from fcw.sources.video import LoopedVideoSource, VideoFileSource

__all__ = [
    "Capture",
    "FrameSource",
    "ImageSequenceSource",
    "LiveSource",
    "LoopedVideoSource",
    "Reconnect",
    "SourceKind",
    "VideoFileSource",
    "classify",
    "mask_credentials",
    "open_source",
]
