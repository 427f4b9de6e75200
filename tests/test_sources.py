"""Video files, image folders/globs and the factory, on real files written with OpenCV."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from fcw.errors import SourceError
from fcw.sources import (
    Capture,
    FrameSource,
    ImageSequenceSource,
    LiveSource,
    SourceKind,
    VideoFileSource,
    classify,
    mask_credentials,
    open_source,
)

# As conftest's shared_dir: FCW_SHARED_DIR, else shared/ beside the checkout.
SHARED = Path(os.environ.get("FCW_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
UDACITY = SHARED / "data" / "udacity-vehicle-detection"
CLIP = UDACITY / "test_video.mp4"
STILLS = UDACITY / "test_images"

needs_clip = pytest.mark.skipif(not CLIP.is_file(), reason=f"shared clip absent: {CLIP}")
needs_stills = pytest.mark.skipif(not STILLS.is_dir(), reason=f"shared images absent: {STILLS}")


def gray(level: int, size: tuple[int, int] = (48, 64)) -> np.ndarray:
    return np.full((*size, 3), level, np.uint8)


def write_video(path: Path, n: int, fps: float) -> Path:
    """n frames whose brightness rises by 20 a frame, so the order survives lossy coding."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (64, 48))
    assert writer.isOpened()
    for i in range(n):
        writer.write(gray(10 + 20 * i))
    writer.release()
    return path


def assert_one_line_naming(exc: pytest.ExceptionInfo[SourceError], what: object) -> None:
    message = str(exc.value)
    assert "\n" not in message
    assert str(what) in message


class FakeClock:
    """Time moves only when the source sleeps or the test says so."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.sleeps.append(seconds)
        self.now += seconds


# --- video files -----------------------------------------------------------------------------


def test_video_every_frame_in_order_with_media_times(tmp_path: Path) -> None:
    path = write_video(tmp_path / "clip.mp4", n=12, fps=10.0)
    with VideoFileSource(path) as source:
        assert isinstance(source, FrameSource)
        assert source.fps == pytest.approx(10.0)
        assert source.frame_count == 12
        assert not source.live
        frames = list(source)
    assert [f.index for f in frames] == list(range(12))
    assert [f.t_s for f in frames] == pytest.approx([i / 10.0 for i in range(12)], abs=1e-3)
    assert np.all(np.diff([f.t_s for f in frames]) > 0)
    means = [float(f.image.mean()) for f in frames]
    assert np.all(np.diff(means) > 0), "frames out of order"
    assert frames[0].image.shape == (48, 64, 3)
    assert source.dropped == 0


@needs_clip
def test_real_clip_all_frames_and_times() -> None:
    with VideoFileSource(CLIP) as source:
        assert source.fps == pytest.approx(25.0)
        assert source.frame_count == 38
        frames = list(source)
    assert len(frames) == 38
    assert (frames[0].width, frames[0].height) == (1280, 720)
    assert [f.t_s for f in frames] == pytest.approx([i / 25.0 for i in range(38)], abs=1e-3)


@needs_clip
def test_real_clip_is_deterministic() -> None:
    with VideoFileSource(CLIP) as a, VideoFileSource(CLIP) as b:
        for fa, fb in zip(a, b, strict=True):
            assert (fa.index, fa.t_s) == (fb.index, fb.t_s)
            assert np.array_equal(fa.image, fb.image)


def test_video_iterates_once_and_close_is_idempotent(tmp_path: Path) -> None:
    source = VideoFileSource(write_video(tmp_path / "c.mp4", n=3, fps=10.0))
    assert len(list(source)) == 3
    with pytest.raises(RuntimeError):
        iter(source)
    source.close()
    source.close()


def test_video_closed_mid_way_stops(tmp_path: Path) -> None:
    source = VideoFileSource(write_video(tmp_path / "c.mp4", n=6, fps=10.0))
    seen = []
    for frame in source:
        seen.append(frame.index)
        if frame.index == 1:
            source.close()
    assert seen == [0, 1]


def test_realtime_paces_a_fast_consumer_without_drops(tmp_path: Path) -> None:
    clock = FakeClock()
    path = write_video(tmp_path / "clip.mp4", n=8, fps=10.0)
    with VideoFileSource(path, realtime=True, clock=clock, sleep=clock.sleep) as source:
        assert source.live
        delivered = [(f.index, f.t_s, clock.now) for f in source]
    assert [i for i, _, _ in delivered] == list(range(8))
    # Each frame is released exactly when its media time has elapsed on the injected clock.
    for _, t_s, now in delivered:
        assert now - 100.0 == pytest.approx(t_s, abs=1e-9)
    assert clock.sleeps == pytest.approx([0.1] * 7, abs=1e-3)
    assert source.dropped == 0


def test_realtime_slow_consumer_gets_newest_and_counts_drops(tmp_path: Path) -> None:
    clock = FakeClock()
    path = write_video(tmp_path / "clip.mp4", n=12, fps=10.0)
    delivered: list[int] = []
    with VideoFileSource(path, realtime=True, clock=clock, sleep=clock.sleep) as source:
        for frame in source:
            delivered.append(frame.index)
            elapsed = clock.now - 100.0
            if frame.index < 11:  # the newest due frame: due already, its successor not yet
                assert frame.t_s <= elapsed + 1e-9 < frame.t_s + 0.1
            clock.now += 0.27  # the consumer needs 2.7 frame periods per frame
    # t=0 -> 0; .27 -> 2 (1 late); .54 -> 5 (3, 4 late); .81 -> 8; 1.08 -> 10; 1.35 -> last, 11.
    assert delivered == [0, 2, 5, 8, 10, 11]
    assert source.dropped == 12 - len(delivered)
    assert clock.sleeps == []


def test_missing_video_is_source_not_found(tmp_path: Path) -> None:
    path = tmp_path / "nope.mp4"
    with pytest.raises(SourceError, match="source not found") as exc:
        VideoFileSource(path)
    assert_one_line_naming(exc, path)


def test_text_file_named_mp4_is_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "x.mp4"
    path.write_text("this is not a video\n")
    with pytest.raises(SourceError, match="cannot open video file") as exc:
        VideoFileSource(path)
    assert_one_line_naming(exc, path)


# --- image folders and globs -------------------------------------------------------------------


def write_images(folder: Path, names: list[str]) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, name in enumerate(names):
        path = folder / name
        assert cv2.imwrite(str(path), gray(10 * k + 10, (16, 24)))
        paths.append(path)
    return paths


def test_folder_natural_order_fps_and_filtering(tmp_path: Path) -> None:
    write_images(tmp_path / "f", ["img10.png", "img2.jpg", "img1.bmp", "img3.JPEG"])
    (tmp_path / "f" / "notes.txt").write_text("not an image")
    (tmp_path / "f" / "sub.png").mkdir()  # a folder with an image-like name is not a frame
    with ImageSequenceSource.from_folder(tmp_path / "f", fps=4.0) as source:
        assert source.frame_count == 4
        assert source.fps == 4.0
        assert [p.name for p in source.paths] == ["img1.bmp", "img2.jpg", "img3.JPEG", "img10.png"]
        frames = list(source)
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert [f.t_s for f in frames] == [0.0, 0.25, 0.5, 0.75]
    # Written in the order 10, 2, 1, 3 with rising brightness 10, 20, 30, 40.
    assert [round(float(f.image.mean())) for f in frames] == [30, 20, 40, 10]


def test_glob_matches_in_natural_order(tmp_path: Path) -> None:
    write_images(tmp_path, ["a_10.png", "a_9.png", "b_1.png"])
    with ImageSequenceSource.from_glob(str(tmp_path / "a_*.png"), fps=2.0) as source:
        assert [p.name for p in source.paths] == ["a_9.png", "a_10.png"]
        assert [f.t_s for f in source] == [0.0, 0.5]


@needs_stills
def test_real_still_images_folder() -> None:
    with ImageSequenceSource.from_folder(STILLS, fps=10.0) as source:
        frames = list(source)
    assert [p.name for p in source.paths] == [f"test{i}.jpg" for i in range(1, 7)]
    assert len(frames) == 6
    assert all(f.image.ndim == 3 and f.image.dtype == np.uint8 for f in frames)


def test_empty_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(SourceError) as exc:
        ImageSequenceSource.from_folder(tmp_path / "empty", fps=10.0)
    assert_one_line_naming(exc, tmp_path / "empty")


def test_glob_without_match_is_an_error(tmp_path: Path) -> None:
    pattern = str(tmp_path / "*.png")
    with pytest.raises(SourceError) as exc:
        ImageSequenceSource.from_glob(pattern, fps=10.0)
    assert_one_line_naming(exc, pattern)


def test_unreadable_image_is_skipped_naming_the_file(tmp_path: Path) -> None:
    write_images(tmp_path, ["f1.png", "f3.png"])
    bad = tmp_path / "f2.png"
    bad.write_bytes(b"\x89PNG truncated")
    source = ImageSequenceSource.from_folder(tmp_path, fps=10.0)
    events: list = []
    source.events_to(events.append)
    assert [f.index for f in source] == [0, 2]  # the gap in the indices shows the skip
    (event,) = events
    assert (event.type, event.frame, event.fields["path"]) == ("frames_skipped", 1, str(bad))


def test_no_readable_image_at_all_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "f1.png"
    bad.write_bytes(b"\x89PNG truncated")
    with pytest.raises(SourceError) as exc:
        list(ImageSequenceSource.from_folder(tmp_path, fps=10.0))
    assert_one_line_naming(exc, tmp_path)


def test_empty_image_list_and_bad_fps_are_errors(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="my-images"):
        ImageSequenceSource([], fps=10.0, name="my-images")
    paths = write_images(tmp_path, ["a.png"])
    with pytest.raises(SourceError, match="my-images"):
        ImageSequenceSource(paths, fps=0.0, name="my-images")


# --- factory and names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("0", SourceKind.CAMERA),
        ("12", SourceKind.CAMERA),
        ("/dev/video0", SourceKind.V4L2),
        ("/dev/video10", SourceKind.V4L2),
        ("nvarguscamerasrc ! video/x-raw(memory:NVMM) ! nvvidconv ! appsink", SourceKind.GSTREAMER),
        ("rtspsrc location=rtsp://cam/s ! decodebin ! appsink", SourceKind.GSTREAMER),
        ("rtsp://user:pw@10.0.0.2:554/stream1", SourceKind.STREAM),
        ("rtsps://cam.local/live", SourceKind.STREAM),
        ("http://cam.local/video.mjpg", SourceKind.STREAM),
        ("HTTPS://cam.local/live.m3u8", SourceKind.STREAM),
    ],
)
def test_classify_device_and_stream_strings(spec: str, kind: SourceKind) -> None:
    assert classify(spec) is kind


def test_classify_paths(tmp_path: Path) -> None:
    video = tmp_path / "drive.mp4"
    video.write_bytes(b"")
    odd = tmp_path / "drive[1].mp4"
    odd.write_bytes(b"")
    assert classify(str(tmp_path)) is SourceKind.FOLDER
    assert classify(str(video)) is SourceKind.VIDEO
    assert classify(str(odd)) is SourceKind.VIDEO  # an existing file is not read as a pattern
    assert classify(str(tmp_path / "*.jpg")) is SourceKind.GLOB
    assert classify(str(tmp_path / "frame_??.png")) is SourceKind.GLOB
    assert classify(str(tmp_path / "[ab].png")) is SourceKind.GLOB


@pytest.mark.parametrize("spec", ["", "no/such/file.mp4", "/dev/video", "cam0"])
def test_classify_unknown_is_source_not_found(spec: str) -> None:
    with pytest.raises(SourceError, match="source not found") as exc:
        classify(spec)
    assert_one_line_naming(exc, spec)


def test_open_source_builds_file_sources(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.mp4", n=3, fps=10.0)
    write_images(tmp_path / "imgs", ["1.png", "2.png"])
    with open_source(str(video)) as source:
        assert isinstance(source, VideoFileSource) and not source.live
    with open_source(str(video), realtime=True) as source:
        assert isinstance(source, VideoFileSource) and source.live
    with open_source(str(tmp_path / "imgs"), folder_fps=5.0) as source:
        assert isinstance(source, ImageSequenceSource)
        assert source.fps == 5.0 and source.frame_count == 2
    with open_source(str(tmp_path / "imgs" / "*.png"), folder_fps=2.5) as source:
        assert isinstance(source, ImageSequenceSource) and source.fps == 2.5
    with pytest.raises(SourceError, match="source not found"):
        open_source(str(tmp_path / "missing.mp4"))


def test_open_source_stream_that_cannot_open_is_source_error_without_password() -> None:
    # Port 1 on localhost refuses at once, so FFmpeg fails fast; the password must not leak.
    with pytest.raises(SourceError) as exc:
        open_source("rtsp://admin:hunter2@127.0.0.1:1/stream")
    message = str(exc.value)
    assert "hunter2" not in message and "\n" not in message
    assert "rtsp://admin:***@127.0.0.1:1/stream" in message


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("rtsp://user:secret@host/path", "rtsp://user:***@host/path"),
        ("rtsp://user:p@ss@10.0.0.1:554/s", "rtsp://user:***@10.0.0.1:554/s"),
        ("rtspsrc location=rtsp://a:b@cam/x ! sink", "rtspsrc location=rtsp://a:***@cam/x ! sink"),
        ("http://cam.local/video", "http://cam.local/video"),
        ("rtsp://host:554/path", "rtsp://host:554/path"),
        ("/videos/a:b@c.mp4", "/videos/a:b@c.mp4"),
    ],
)
def test_mask_credentials(text: str, masked: str) -> None:
    assert mask_credentials(text) == masked


def test_live_source_name_is_masked() -> None:
    with pytest.raises(SourceError) as exc:
        LiveSource(_refuse, name="rtsp://u:topsecret@cam/s")
    assert "topsecret" not in str(exc.value)
    assert "rtsp://u:***@cam/s" in str(exc.value)


def _refuse() -> Capture:
    raise OSError("connection refused")
