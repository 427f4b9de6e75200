"""Sinks and the pipeline's promise: what was written before a fault stays on disk."""
import importlib.util
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from fcw.errors import FcwError
from fcw.pipeline import Pipeline
from fcw.sinks.annotate import LEVEL_COLOR, _overlaps, annotate, ttc_text
from fcw.sinks.base import Sink
from fcw.sinks.events import EventLog, read_events
from fcw.sinks.tracks import MotTrackWriter
from fcw.sinks.video import BROWSER_CODECS, CODEC_NAMES, VideoRecorder
from fcw.sources import ImageSequenceSource, VideoFileSource
from fcw.types import Detections, Event, Frame, FrameResult, Risk, Tracks, WarningLevel

IMG = np.zeros((48, 64, 3), np.uint8)


def result(index, events=(), tracks=None):
    return FrameResult(Frame(index, index / 10, IMG), Detections.empty(),
                       tracks if tracks is not None else Tracks.empty(), events=tuple(events))


def test_event_log_lines_are_on_disk_as_soon_as_written(tmp_path):
    path = tmp_path / "e.jsonl"
    with EventLog(path, {"source": "x"}) as log:
        log.write(result(3, [Event("fcw", 0.3, 3, {"level": "warning"})]))
        # Read by another handle while the log is still open: nothing waits in a buffer.
        records = list(read_events(path))
        assert [r["type"] for r in records] == ["start", "fcw"]
        assert records[1] == {"type": "fcw", "t": 0.3, "frame": 3, "level": "warning"}


def test_reader_skips_a_partial_last_line(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text('{"type":"start","t":0,"frame":0}\n{"type":"fcw","t":1.0,"fr')
    assert [r["type"] for r in read_events(path)] == ["start"]


def test_unwritable_events_path_is_one_line_and_not_fatal(tmp_path, caplog):
    # The warning logic matters more than the log: the run starts, the loss is counted.
    blocker = tmp_path / "file"
    blocker.write_text("")
    with caplog.at_level(logging.ERROR, logger="fcw.sinks.events"):
        log = EventLog(blocker / "e.jsonl", {})
        log.write(result(1, [Event("fcw", 0.1, 1, {"level": "warning"})]))
    (error,) = caplog.records
    assert str(blocker) in error.getMessage() and "\n" not in error.getMessage()
    assert log.lost_records == 2


def test_mot_writer_writes_confirmed_tracks_one_based(tmp_path):
    tracks = Tracks(np.array([7, 8]), np.array([[10, 20, 30, 60], [0, 0, 5, 5]], np.float32),
                    np.array([0.9, 0.5], np.float32), np.array([2, 2], np.int32),
                    np.array([True, False]), np.zeros(2), np.zeros(2), np.zeros(2))
    path = tmp_path / "t.txt"
    with MotTrackWriter(path) as w:
        w.write(result(0, tracks=tracks))
    assert path.read_text() == "1,7,10.0,20.0,20.0,40.0,0.900,-1,-1,-1\n"


class ExplodingDetector:
    def __init__(self, at):
        self.at = at

    def update(self, frame):
        if frame.index == self.at:
            raise RuntimeError("detector fault")
        return Detections.empty()


def test_a_stage_fault_still_leaves_the_log_and_its_end_record(tmp_path):
    import cv2

    paths = []
    for i in range(5):
        paths.append(tmp_path / f"{i}.png")
        cv2.imwrite(str(paths[-1]), IMG)
    events = tmp_path / "e.jsonl"
    pipeline = Pipeline(ImageSequenceSource(paths, 10.0, "imgs"), ExplodingDetector(at=3),
                        sinks=[EventLog(events, {"source": "imgs"})])
    with pytest.raises(RuntimeError):
        pipeline.run()
    end = list(read_events(events))[-1]
    assert end["type"] == "end" and end["frames"] == 3 and end["stop_reason"] == "error"
    assert "detector fault" in end["error"]


# --- the annotated video ---------------------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent
CLIP = REPO / "sample_videos" / "lead_stopped.mp4"


def _overlapping(labels):
    return [(a.text, b.text) for i, a in enumerate(labels) for b in labels[i + 1:]
            if _overlaps(a.rect, b.rect)]


def _tracks(boxes, ids=None, confirmed=True):
    n = len(boxes)
    z = np.zeros(n)
    return Tracks(np.asarray(ids if ids is not None else range(1, n + 1), np.int64),
                  np.float32(boxes), np.full(n, 0.9, np.float32), np.full(n, 2, np.int32),
                  np.full(n, confirmed), z, z.copy(), z.copy())


@pytest.fixture(scope="module")
def road_frame():
    """A real 1280x720 frame of the sample clip."""
    with VideoFileSource(CLIP) as source:
        return next(iter(source))


def test_labels_of_neighbouring_tracks_do_not_overlap(road_frame):
    # Six cars side by side and touching, as on a busy multi-lane road, two stacked.
    boxes = [[100 + 90 * i, 380, 195 + 90 * i, 450] for i in range(6)]
    boxes += [[400, 370, 470, 430], [405, 360, 480, 425]]
    labels = []
    img = annotate(FrameResult(road_frame, Detections.empty(), _tracks(boxes),
                               Risk(lead_id=3, ttc_s=4.2, ttc_sigma_s=0.3)), ("car",), labels)
    texts = [lab.text for lab in labels]
    assert "LEAD #3 TTC 4.2s +/-0.3" in texts and _overlapping(labels) == []
    h, w = img.shape[:2]
    assert all(0 <= x1 < x2 < w and 0 <= y1 < y2 < h for x1, y1, x2, y2 in
               (lab.rect for lab in labels))
    # Each label drawn is what the list says: its background is the box colour's fill.
    lead = next(lab for lab in labels if lab.text.startswith("LEAD"))
    x1, y1, x2, y2 = lead.rect
    assert tuple(img[y1 + 1, x1 + 1]) == LEVEL_COLOR[WarningLevel.NONE]
    # The naive layout (every label above its box's corner) overlapped here.
    assert len(texts) >= 6


def test_a_ttc_less_sure_than_itself_is_not_a_number():
    assert ttc_text(Risk(lead_id=1, ttc_s=1.5, ttc_sigma_s=2.0)) == "TTC ?"
    assert ttc_text(Risk(lead_id=1, ttc_s=1.5, ttc_sigma_s=0.2)) == "TTC 1.5s +/-0.2"
    assert ttc_text(Risk(lead_id=1, ttc_s=None)) == ""


@pytest.fixture(scope="module")
def warning_results():
    """The pipeline's results on the sample clip from before its caution to after its warning;
    the clip's labelled boxes, with noise, stand in for the detector (the drawing is tested,
    and this is quick)."""
    from fcw.app import GroundTruthOptions, RunOptions, build_pipeline
    from fcw.config import load_config
    from fcw.labels import labels_path_for

    class Keep(Sink):
        def __init__(self):
            self.results = []

        def write(self, result):
            if result.frame.index >= 40:
                self.results.append(result)

    keep = Keep()
    gt = GroundTruthOptions(labels_path_for(CLIP), noise_px=2.0, seed=0)
    pipeline = build_pipeline(load_config(None, {"lights.enabled": False}),
                              RunOptions(source=str(CLIP), max_frames=110, status=False,
                                         ground_truth=gt))
    pipeline.sinks = [*pipeline.sinks, keep]
    pipeline.run()
    return keep.results


def test_the_lead_is_drawn_in_its_level_colour_never_green(warning_results):
    levels = set()
    for result in warning_results:
        risk = result.risk
        if risk.lead_id is None:
            continue
        labels = []
        img = annotate(result, ("car",) * 80, labels)
        assert _overlapping(labels) == []
        lead = next(lab for lab in labels if lab.text.startswith("LEAD"))
        x1, y1, _, _ = lead.rect
        fill = tuple(int(v) for v in img[y1 + 1, x1 + 1])
        assert fill == LEVEL_COLOR[risk.level], (result.frame.index, risk.level, fill)
        b, g, r = fill
        assert not (g > 150 and r < 100 and b < 100), "a green lead"
        if risk.ttc_s is not None and risk.ttc_sigma_s is not None:
            assert ("TTC ?" in lead.text) == (risk.ttc_sigma_s > risk.ttc_s)
        levels.add(risk.level)
    # The clip's approach goes through caution to the warning within these frames.
    assert {WarningLevel.CAUTION, WarningLevel.WARNING} <= levels


def test_recorder_writes_a_browser_codec_when_it_can_and_says_which(tmp_path, road_frame,
                                                                    caplog):
    result = FrameResult(road_frame, Detections.empty())
    written = {}
    for name in ("a.webm", "a.mp4", "a.avi"):
        rec = VideoRecorder(tmp_path / name, 30.0, ("car",))
        with caplog.at_level(logging.WARNING, logger="fcw.sinks.video"):
            for _ in range(3):
                rec.write(result)
        rec.close()
        cap = cv2.VideoCapture(str(tmp_path / name))
        ok, frame = cap.read()
        cap.release()
        assert ok and frame.shape == road_frame.image.shape, name
        written[name] = rec.codec
    assert written["a.webm"] in BROWSER_CODECS  # pip's OpenCV writes VP8/VP9 in WebM
    assert written["a.avi"] == "MJPG"
    warned = [r.getMessage() for r in caplog.records if "a.mp4" in r.getMessage()]
    if written["a.mp4"] == "mp4v":  # no H.264 encoder here: said, in one line naming the file
        assert importlib.util.find_spec("av") is None
        assert len(warned) == 1 and "browsers do not play" in warned[0]
        assert "pip install av" in warned[0]
    else:
        assert CODEC_NAMES[written["a.mp4"]] == "H.264" and warned == []


def test_recorder_h264_through_pyav_is_read_back_frame_for_frame(tmp_path, road_frame):
    pytest.importorskip("av", reason="PyAV (pip install av) writes the H.264 MP4")
    rec = VideoRecorder(tmp_path / "a.mp4", 30.0, ("car",))
    images = []
    for i in range(12):
        frame = Frame(i, i / 30, road_frame.image)
        rec.write(FrameResult(frame, Detections.empty()))
        images.append(annotate(FrameResult(frame, Detections.empty()), ("car",)))
    rec.close()
    assert rec.codec == "x264"
    cap = cv2.VideoCapture(str(tmp_path / "a.mp4"))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode().lower()
    assert fourcc in ("h264", "avc1"), fourcc  # OpenCV names the codec, not the MP4 tag
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0)
    back = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        back.append(img)
    cap.release()
    assert len(back) == 12
    # Lossy, but the same picture: the mean error of a good encoder is a few grey levels.
    err = np.abs(back[5].astype(np.int16) - images[5].astype(np.int16)).mean()
    assert err < 4.0, err
    # The moov atom before the media data: a browser plays it while it downloads.
    head = (tmp_path / "a.mp4").read_bytes()[:4096]
    assert 0 <= head.find(b"moov") < max(head.find(b"mdat"), 4096)


def test_recorder_with_no_writer_is_one_line(tmp_path, road_frame):
    blocker = tmp_path / "file"
    blocker.write_text("")
    rec = VideoRecorder(tmp_path / "out.webm", 30.0, ("car",))
    rec.path = blocker / "x.webm"  # a folder that is a file: nothing can write there
    with pytest.raises(FcwError, match=r"x\.webm: cannot open a video writer") as err:
        rec.write(FrameResult(road_frame, Detections.empty()))
    assert "\n" not in str(err.value)
