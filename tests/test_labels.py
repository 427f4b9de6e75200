import json

import pytest

from fcw.labels import (
    BoxLabel,
    ClipLabels,
    Expectation,
    FrameLabels,
    LabelError,
    LeadTruth,
    labels_path_for,
    labels_to_dict,
    load_labels,
    save_labels,
)


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


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["frames"][1]["boxes"][0].update(xyxy=[5, 5, 1, 9]), "frames[1].boxes[0].xyxy"),
    (lambda d: d["frames"][0]["lead"].update(track_id=9), "frames[0].lead.track_id"),
    (lambda d: d["expect"].update(warning="maybe"), "expect.warning"),
    (lambda d: d.pop("fps"), "fps"),
    (lambda d: d.update(version=2), "version"),
    (lambda d: d["frames"][1].update(frame=0), "frames[1].frame"),
    (lambda d: d["frames"][0].update(extra=1), "frames[0]"),
])
def test_errors_name_the_field(tmp_path, mutate, field):
    assert field in _broken(tmp_path, mutate)


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


@pytest.mark.parametrize("mutate, field, says", [
    (lambda d: d["frames"][0]["boxes"][0].update(ignore="yes"), "frames[0].boxes[0].ignore",
     "expected true or false"),
    (lambda d: d["frames"][1].update(split="test"), "frames[1].split", "'tune', 'heldout'"),
    (lambda d: d.update(boxes="some"), "boxes", "'all' or 'lead_only'"),
])
def test_bad_ignore_split_or_coverage_names_the_field(tmp_path, mutate, field, says):
    msg = _broken(tmp_path, mutate)
    assert f"{field}: " in msg and says in msg
