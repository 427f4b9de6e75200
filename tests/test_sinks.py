"""Sinks and the pipeline's promise: what was written before a fault stays on disk."""
import logging

import numpy as np
import pytest

from fcw.pipeline import Pipeline
from fcw.sinks.events import EventLog, read_events
from fcw.sinks.tracks import MotTrackWriter
from fcw.sources import ImageSequenceSource
from fcw.types import Detections, Event, Frame, FrameResult, Tracks

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
