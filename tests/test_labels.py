import json
import math
from dataclasses import replace

import pytest

from fcw.labels import (
    BoxLabel,
    CameraLabel,
    ClipLabels,
    Expectation,
    FrameLabels,
    LabelError,
    LeadTruth,
    labels_from_dict,
    labels_path_for,
    labels_to_dict,
    load_labels,
    save_labels,
)
from fcw.types import LightState


def _clip() -> ClipLabels:
    f0 = FrameLabels(0, 0.0, (BoxLabel(1, "car", (10.0, 20.0, 50.0, 60.0)),),
                     LeadTruth(1, 40.0, 5.0, 8.0, 7.5))
    f1 = FrameLabels(1, 0.5, (BoxLabel(1, "car", (11.0, 20.0, 52.0, 61.0), 0.25),),
                     LeadTruth(1, 39.8, 5.0, 7.96, None))
    return ClipLabels("clip.mp4", 30.0, 1280, 720, "demo", Expectation("required", 2.1), (f0, f1))


def test_round_trip(tmp_path):
    path = tmp_path / "clip.labels.json"
    save_labels(_clip(), path)
    assert load_labels(path) == _clip()
    assert labels_path_for(tmp_path / "clip.mp4") == path


def _broken(tmp_path, mutate):
    d = labels_to_dict(_clip())
    mutate(d)
    path = tmp_path / "bad.labels.json"
    path.write_text(json.dumps(d))
    with pytest.raises(LabelError) as e:
        load_labels(path)
    msg = str(e.value)
    assert "\n" not in msg and "bad.labels.json" in msg
    return msg


def _frame(d, i=0):
    return d["frames"][i]


def _box(d, i=0):
    return d["frames"][i]["boxes"][0]


# One case per kind of check: the line must name the field's path and say what is wrong.
@pytest.mark.parametrize("mutate, field, says", [
    # the top level
    (lambda d: d.update(version=2), "version", "unsupported version, expected 1 (got 2)"),
    (lambda d: d.pop("fps"), "fps", "required"),
    (lambda d: d.update(fps=0), "fps", "greater than 0"),
    (lambda d: d.update(width=0), "width", "greater than or equal to 1"),
    (lambda d: d.update(height=720.0), "height", "valid integer"),
    (lambda d: d.update(video=""), "video", "at least 1 character"),
    (lambda d: d.update(scenario=3), "scenario", "valid string"),
    (lambda d: d.update(boxes="some"), "boxes", "expected one of 'all' or 'lead_only'"),
    (lambda d: d.update(notes="x"), "notes", "unknown key"),
    (lambda d: d.update(frames={}), "frames", "valid list"),
    # expect
    (lambda d: d["expect"].update(warning="maybe"), "expect.warning", "expected one of"),
    (lambda d: d["expect"].update(warning="forbidden"), "expect.required_ttc_s",
     "only allowed with warning 'required'"),
    (lambda d: d["expect"].update(required_ttc_s=-1), "expect.required_ttc_s", "greater than 0"),
    (lambda d: d["expect"].update(ttc="ttc3_s"), "expect.ttc", "'ttc_s' or 'ttc2_s'"),
    (lambda d: d["expect"].update(earliest_ttc_s=0), "expect.earliest_ttc_s", "greater than 0"),
    # camera
    (lambda d: d.update(camera={"hfov_deg": 60, "height_m": 1.2}), "camera.name", "required"),
    (lambda d: d.update(camera={"name": "c", "hfov_deg": 0, "height_m": 1.2}), "camera.hfov_deg",
     "greater than 0"),
    (lambda d: d.update(camera={"name": "c", "hfov_deg": 60, "height_m": 1.2, "pitch_deg": None}),
     "camera.pitch_deg", "valid number"),
    # frames
    (lambda d: d["frames"].__setitem__(0, []), "frames[0]", "expected an object"),
    (lambda d: _frame(d).update(extra=1), "frames[0].extra", "unknown key"),
    (lambda d: _frame(d, 1).update(frame=0), "frames[1].frame", "frame indices must increase"),
    (lambda d: _frame(d, 1).update(frame=1.0), "frames[1].frame", "valid integer"),
    (lambda d: _frame(d).update(frame=-1), "frames[0].frame", "greater than or equal to 0"),
    (lambda d: _frame(d).update(t=-0.1), "frames[0].t", "greater than or equal to 0"),
    (lambda d: _frame(d).pop("boxes"), "frames[0].boxes", "required"),
    (lambda d: _frame(d).update(light="blue"), "frames[0].light", "expected one of"),
    (lambda d: _frame(d, 1).update(split="test"), "frames[1].split",
     "expected one of 'tune' or 'heldout'"),
    # boxes
    (lambda d: _box(d, 1).update(xyxy=[5, 5, 1, 9]), "frames[1].boxes[0].xyxy",
     "expected x1 < x2 and y1 < y2"),
    (lambda d: _box(d).update(xyxy=[5, 5, 9]), "frames[0].boxes[0].xyxy", "at least 4 items"),
    (lambda d: _box(d).update(xyxy=[5, 5, math.nan, 9]), "frames[0].boxes[0].xyxy[2]",
     "finite number"),
    (lambda d: _box(d).update(xyxy=[5, 5, 1281, 9]), "frames[0].boxes[0].xyxy",
     "outside the 1280x720 frame"),
    (lambda d: _box(d).update(xyxy=[5, -1, 9, 9]), "frames[0].boxes[0].xyxy",
     "outside the 1280x720 frame"),
    (lambda d: _frame(d)["boxes"].append(dict(_box(d))), "frames[0].boxes",
     "a track_id appears twice"),
    (lambda d: _box(d).update(track_id=-1), "frames[0].boxes[0].track_id",
     "greater than or equal to 0"),
    (lambda d: _box(d).update({"class": ""}), "frames[0].boxes[0].class", "at least 1 character"),
    (lambda d: _box(d, 1).update(occlusion=1.5), "frames[1].boxes[0].occlusion",
     "less than or equal to 1"),
    (lambda d: _box(d).update(ignore="yes"), "frames[0].boxes[0].ignore", "valid boolean"),
    # the lead
    (lambda d: _frame(d)["lead"].update(track_id=9), "frames[0].lead.track_id",
     "track 9 has no box in this frame"),
    (lambda d: _frame(d)["lead"].update(range_m=0), "frames[0].lead.range_m", "greater than 0"),
    (lambda d: _frame(d)["lead"].update(closing_speed_mps=True), "frames[0].lead.closing_speed_mps",
     "valid number"),
    (lambda d: _frame(d)["lead"].update(ttc_s=math.inf), "frames[0].lead.ttc_s", "finite number"),
    (lambda d: _frame(d)["lead"].update(ttc2_s=-1), "frames[0].lead.ttc2_s",
     "greater than or equal to 0"),
])
def test_errors_name_the_field(tmp_path, mutate, field, says):
    msg = _broken(tmp_path, mutate)
    assert f"bad.labels.json: {field}: " in msg and says in msg


def test_top_level_must_be_an_object():
    with pytest.raises(LabelError, match=r"^x\.labels\.json: \(top level\): expected an object"):
        labels_from_dict([], "x.labels.json")


def test_null_is_absent():
    # Optional fields written as null read as if left out, as hand-written files have them.
    d = labels_to_dict(_clip())
    d.update(boxes=None, camera=None)
    d["expect"].update(ttc=None, earliest_ttc_s=None)
    _frame(d, 1).update(lead=None, split=None)
    _box(d).update(occlusion=None, ignore=None)
    f0, f1 = _clip().frames
    assert labels_from_dict(d) == replace(_clip(), frames=(f0, replace(f1, lead=None)))


def test_camera_angles_default_to_zero():
    d = labels_to_dict(_clip())
    d["camera"] = {"name": "c", "hfov_deg": 60, "height_m": 1.25, "yaw_deg": 1}
    assert labels_from_dict(d).camera == CameraLabel("c", 60.0, 1.25, yaw_deg=1.0)


def test_every_light_state_is_a_label():
    d = labels_to_dict(_clip())
    for state in LightState:
        _frame(d).update(light=state.value)
        assert labels_from_dict(d).frames[0].light == state.value


def test_not_json(tmp_path):
    p = tmp_path / "x.labels.json"
    p.write_text("{")
    with pytest.raises(LabelError, match="x.labels.json: line 1"):
        load_labels(p)


def test_frame_at():
    c = _clip()
    assert c.frame_at(1).frame == 1 and c.frame_at(5) is None


def test_ignore_split_and_box_coverage_round_trip(tmp_path):
    f0 = FrameLabels(0, 0.0, (BoxLabel(1, "car", (10.0, 20.0, 50.0, 60.0)),
                              BoxLabel(2, "truck", (60.0, 20.0, 90.0, 60.0), ignore=True)),
                     split="heldout")
    c = ClipLabels("clip", 10.0, 1280, 720, "real", Expectation("forbidden"), (f0,),
                   boxes="lead_only")
    path = tmp_path / "clip.labels.json"
    save_labels(c, path)
    assert load_labels(path) == c
    d = json.loads(path.read_text())
    assert d["boxes"] == "lead_only" and d["frames"][0]["split"] == "heldout"
    assert "ignore" not in d["frames"][0]["boxes"][0] and d["frames"][0]["boxes"][1]["ignore"]
    # The optional fields are left out when unset: older files read and write the same.
    save_labels(_clip(), path)
    text = path.read_text()
    assert '"ignore"' not in text and '"split"' not in text and '"boxes": "' not in text
