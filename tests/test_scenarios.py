import subprocess

import numpy as np
import pytest
from clitools import fcw

from fcw.eval.warnings import judge_events
from fcw.labels import (
    CameraLabel,
    ClipLabels,
    Expectation,
    labels_from_dict,
    labels_to_dict,
    load_labels,
)
from fcw.scenarios.camera import PinholeCamera, get_camera
from fcw.scenarios.gt_detector import GroundTruthDetector
from fcw.scenarios.kinematics import (
    SCENARIOS,
    SpeedProfile,
    frame_times_s,
    lead_state,
    ttc_second_order_s,
    vehicle_states,
)
from fcw.scenarios.render import frame_labels, render_scenario
from fcw.scenarios.road import frame_to_road, road_to_frame
from fcw.scenarios.vehicle import WIDTH_M, vehicle_box
from fcw.types import Event, Frame

FPS = 30.0


def test_speed_profile_stops_and_never_reverses():
    p = SpeedProfile(10.0, ((1.0, -5.0),))
    assert p.state(2.0) == pytest.approx((17.5, 5.0, -5.0))
    pos, v, a = p.state(10.0)
    assert (pos, v, a) == pytest.approx((20.0, 0.0, 0.0))


def test_ttc2_limits():
    assert ttc_second_order_s(30.0, 10.0, 0.0) == pytest.approx(3.0)
    assert ttc_second_order_s(30.0, 0.0, 2.0) == pytest.approx(np.sqrt(30.0))
    assert ttc_second_order_s(30.0, 5.0, -1.0) is None  # stops closing before contact
    assert ttc_second_order_s(30.0, -1.0, 0.0) is None


def test_lead_stopped_ttc_falls_by_dt():
    scn = SCENARIOS["lead_stopped"]
    times = frame_times_s(scn, FPS)
    ttc = np.array([lead_state(scn, t).ttc_s for t in times])
    assert np.allclose(np.diff(ttc), -1 / FPS)
    assert ttc[0] == pytest.approx(5.5) and 1.0 < ttc[-1] < 1.2


@pytest.mark.parametrize("name", ["lead_stopped", "lead_decelerating", "lead_slower"])
def test_nhtsa_clips_end_before_the_crash(name):
    scn = SCENARIOS[name]
    last = lead_state(scn, frame_times_s(scn, FPS)[-1])
    assert scn.expect.warning == "required" and 1.0 < last.ttc_s < 1.2 and last.range_m > 5


@pytest.mark.parametrize("name", [n for n, s in SCENARIOS.items()
                                  if s.expect.warning == "forbidden" and not s.comes_close])
def test_benign_scenarios_never_get_close(name):
    scn = SCENARIOS[name]
    for t in frame_times_s(scn, 10.0):
        lead = lead_state(scn, t)
        # Stopping behind a car queued at a light closes to a short first-order TTC by design;
        # the braking under way stops short of it (no second-order TTC; read just after t, as
        # the kinematics give a phase's acceleration only once it has begun).
        after = lead_state(scn, t + 1e-6)
        stops_short = scn.light is not None and after is not None and after.ttc2_s is None
        assert lead is None or lead.ttc_s is None or lead.ttc_s > 6.0 or stops_short, (name, t)


def test_lead_decelerating_second_order():
    scn = SCENARIOS["lead_decelerating"]
    lead = lead_state(scn, 3.0)
    assert lead.closing_accel_mps2 == pytest.approx(0.3 * 9.80665)
    assert lead.ttc2_s < lead.ttc_s


@pytest.mark.parametrize("range_m", [5.0, 20.0, 60.0])
def test_box_width_is_f_w_over_z(range_m):
    cam = PinholeCamera()
    box = vehicle_box(cam, 0.0, range_m)
    assert box[2] - box[0] == pytest.approx(cam.focal_px * WIDTH_M / range_m)
    assert box[3] > cam.cy > box[1]


def test_lead_changes_with_cut_out_and_occlusion():
    scn, cam = SCENARIOS["cut_out"], PinholeCamera()
    first, last = frame_labels(scn, cam, 0, 0.0), frame_labels(scn, cam, 1, 6.0)
    assert first.lead.track_id == 1 and last.lead.track_id == 2
    assert {b.track_id: b.occlusion for b in first.boxes}[2] > 0.9


def test_render_deterministic_and_labels_round_trip(tmp_path, monkeypatch):
    import fcw.scenarios.kinematics as k
    short = k.Scenario("short", "test", SpeedProfile(20.0), SCENARIOS["lead_slower"].vehicles, 0.1,
                       SCENARIOS["lead_slower"].expect)
    monkeypatch.setitem(k.SCENARIOS, "short", short)
    a = render_scenario("short", tmp_path / "a.mp4", fps=FPS, width=320, height=180)
    b = render_scenario("short", tmp_path / "b.mp4", fps=FPS, width=320, height=180)
    assert len(a.frames) == 4 and a.frames == b.frames
    loaded = load_labels(tmp_path / "a.labels.json")
    assert loaded == labels_from_dict(labels_to_dict(a))
    assert loaded.frames[-1].lead.ttc_s == pytest.approx(a.frames[-1].lead.ttc_s, abs=1e-5)
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


def test_gt_detector_stats():
    scn, cam = SCENARIOS["steady_follow"], PinholeCamera()
    from fcw.labels import ClipLabels
    frames = tuple(frame_labels(scn, cam, i, i / FPS) for i in range(400))
    clip = ClipLabels("x.mp4", FPS, 1280, 720, "steady_follow", scn.expect, frames)
    img = np.zeros((720, 1280, 3), np.uint8)
    det = GroundTruthDetector(clip, {"car": 2}, noise_px=2.0, miss_rate=0.2, false_rate=0.5, seed=3)
    errs, hits, extra = [], 0, 0
    for f in frames:
        d = det.update(Frame(f.frame, f.t_s, img))
        truth = np.array(f.boxes[0].xyxy)
        near = np.abs(d.xyxy - truth).max(axis=1) < 10 if len(d) else np.zeros(0, bool)
        hits += int(near.any())
        extra += int((~near).sum())
        errs.extend((d.xyxy[near] - truth).ravel())
    assert 0.72 < hits / 400 < 0.88
    assert 0.35 < extra / 400 < 0.65
    assert np.std(errs) == pytest.approx(2.0, rel=0.15)
    again = GroundTruthDetector(clip, {"car": 2}, 2.0, 0.2, 0.5, seed=3).update(Frame(7, 0.0, img))
    assert np.array_equal(again.xyxy, det.update(Frame(7, 0.0, img)).xyxy)


def test_cli_list():
    out = subprocess.run(["python", "-c", "import argparse; from fcw.cli import render as r;"
                          "p=argparse.ArgumentParser(); s=p.add_subparsers(); r.add_parser(s);"
                          "a=p.parse_args(['render','--list']); raise SystemExit(a.func(a))"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "lead_stopped" in out.stdout


# --- NHTSA's scoring, benign scenes that come close, the curved road -----------------------------
CLOSE = [n for n, s in SCENARIOS.items() if s.comes_close]
CAUTION_TTC_S = 4.0  # fcw's caution threshold (warning.caution_ttc_s), which these scenes approach


def clip_labels(name: str, cam: PinholeCamera | None = None, fps: float = FPS) -> ClipLabels:
    """The exact labels of a scenario's clip, without rendering its images."""
    scn, cam = SCENARIOS[name], cam or PinholeCamera()
    frames = tuple(frame_labels(scn, cam, i, t) for i, t in enumerate(frame_times_s(scn, fps)))
    return ClipLabels(f"{name}.mp4", fps, cam.width, cam.height, name, scn.expect, frames)


def test_nhtsa_expectations():
    for name in ("lead_stopped", "lead_decelerating", "lead_slower"):
        e = SCENARIOS[name].expect
        assert e.warning == "required" and e.earliest_ttc_s == 5.0
        assert e.ttc == ("ttc2_s" if name == "lead_decelerating" else "ttc_s")


def test_lvd_ttc_counts_the_leads_deceleration():
    """NHTSA's 2.4 s in the lead-decelerating test is about 3.8 s at constant closing speed."""
    labels = clip_labels("lead_decelerating")
    first = next(f for f in labels.frames if f.lead.ttc2_s is not None and f.lead.ttc2_s < 2.4)
    assert 3.6 < first.lead.ttc_s < 3.95
    # The smaller positive root of r - v t - a t^2 / 2 = 0, with a the lead's deceleration.
    r, v, t = first.lead.range_m, first.lead.closing_speed_mps, first.lead.ttc2_s
    assert r - v * t - 0.3 * 9.80665 * t * t / 2 == pytest.approx(0.0, abs=1e-3)


def _onset(frame: int, level: str, labels: ClipLabels) -> Event:
    return Event("fcw", labels.frames[frame].t_s, frame, {"level": level})


def _frame_where(labels: ClipLabels, pred) -> int:
    return next(f.frame for f in labels.frames if f.lead is not None and pred(f.lead))


def test_judge_scores_lvd_on_the_second_order_ttc():
    labels = clip_labels("lead_decelerating")
    # A warning at first-order TTC 2.6 s passes a range / closing-speed judge, not NHTSA's.
    late = _frame_where(labels, lambda ld: ld.ttc_s is not None and ld.ttc_s < 2.6)
    v = judge_events(labels, [_onset(late, "warning", labels)])
    assert v["passed"] is False
    assert v["first_warning_true_ttc_s"] < 2.4 < v["first_warning_true_ttc1_s"]
    ok = _frame_where(labels, lambda ld: ld.ttc2_s is not None and ld.ttc2_s < 2.6)
    assert judge_events(labels, [_onset(ok, "warning", labels)])["passed"] is True


def test_judge_counts_warnings_before_ttc_5s_as_nuisance():
    labels = clip_labels("lead_stopped")
    early = _frame_where(labels, lambda ld: ld.ttc_s < 5.3)
    ok = _frame_where(labels, lambda ld: ld.ttc_s < 3.0)
    v = judge_events(labels, [_onset(early, "warning", labels), _onset(ok, "warning", labels)])
    assert v["passed"] is False and v["nuisance_warnings"] == 1 and v["warnings"] == 2
    v = judge_events(labels, [_onset(ok, "warning", labels)])
    assert v["passed"] is True and v["nuisance_warnings"] == 0
    # Before the lead brakes there is no threat at all: a warning then is a nuisance too.
    lvd = clip_labels("lead_decelerating")
    v = judge_events(lvd, [_onset(3, "warning", lvd)])
    assert v["passed"] is False and v["nuisance_warnings"] == 1


def test_judge_reports_cautions_and_warnings_on_benign_scenes():
    labels = clip_labels("approach_settle_close")
    events = [_onset(60, "caution", labels), _onset(70, "warning", labels),
              _onset(150, "caution", labels)]
    v = judge_events(labels, events)
    assert v["passed"] is False
    assert (v["warnings"], v["cautions"], v["nuisance_warnings"]) == (1, 2, 1)
    assert v["first_caution_true_ttc_s"] == pytest.approx(labels.frames[60].lead.ttc_s, abs=1e-4)
    assert judge_events(labels, events[::2])["passed"] is True  # cautions alone are allowed


@pytest.mark.parametrize("name", [n for n in CLOSE if n != "parked_on_curve"])
def test_close_scenes_pass_within_half_to_one_and_a_half_s_of_the_caution(name):
    scn = SCENARIOS[name]
    closest = min(min(v for v in (ld.ttc_s, ld.ttc2_s) if v is not None)
                  for ld in (lead_state(scn, t) for t in frame_times_s(scn, FPS))
                  if ld is not None and (ld.ttc_s is not None or ld.ttc2_s is not None))
    assert CAUTION_TTC_S + 0.5 <= closest <= CAUTION_TTC_S + 1.5, closest


def test_parked_car_on_the_curve_is_straight_ahead_near_the_caution_ttc():
    """Never in the ego lane, but seen straight ahead (where a straight corridor looks) when its
    range over closing speed is within 0.5-1.5 s of the caution threshold."""
    scn, cam = SCENARIOS["parked_on_curve"], PinholeCamera()
    assert scn.curvature_per_m < 0  # bends left; the car is at the right kerb
    labels = clip_labels("parked_on_curve", cam)
    assert all(f.lead is None for f in labels.frames)
    ahead = min((f for f in labels.frames if f.boxes),
                key=lambda f: abs((f.boxes[0].xyxy[0] + f.boxes[0].xyxy[2]) / 2 - cam.cx))
    range_m = vehicle_states(scn, ahead.t_s)[0].range_m
    assert CAUTION_TTC_S + 0.5 <= range_m / scn.ego.v0_mps <= CAUTION_TTC_S + 1.5


def test_overtaker_enters_from_the_frame_edge_and_is_never_the_lead():
    labels = clip_labels("overtake_close", get_camera("wide"))
    boxed = [f for f in labels.frames if f.boxes]
    first = boxed[0].boxes[0]
    assert first.xyxy[0] == 0.0 and first.xyxy[3] > 0.8 * labels.height  # cut by the left edge
    assert boxed[-1].boxes[0].xyxy[0] > 0.3 * labels.width
    assert all(f.lead is None for f in labels.frames)


@pytest.mark.parametrize("k", [0.0, 1 / 150, -1 / 400])
def test_curved_road_round_trip_and_centre_line(k):
    x, s = np.array([-5.0, 0.0, 3.5, 4.9]), np.array([2.0, 30.0, 60.0, 120.0])
    gx, gz = road_to_frame(x, s, k)
    assert np.allclose(frame_to_road(gx, gz, k), (x, s))
    cx, cz = road_to_frame(np.zeros(3), np.array([10.0, 50.0, 100.0]), k)
    if k:
        r = 1 / k
        assert np.allclose(cx, r * (1 - np.cos(np.array([10.0, 50.0, 100.0]) / r)))
        assert np.allclose(np.hypot(r - cx, cz), abs(r))  # on the circle
    else:
        assert np.allclose(cx, 0.0) and np.allclose(cz, [10.0, 50.0, 100.0])


def test_car_on_the_curve_is_boxed_where_the_road_puts_it():
    scn, cam = SCENARIOS["parked_on_curve"], PinholeCamera()
    t = 1.0
    st = vehicle_states(scn, t)[0]
    # The rear face's bottom corners, placed on the road by the road's own geometry.
    gx, gz = road_to_frame(np.array([st.offset_m - WIDTH_M / 2, st.offset_m + WIDTH_M / 2]),
                           np.full(2, st.range_m), scn.curvature_per_m)
    u = cam.project(np.stack([gx, np.full(2, cam.height_m), gz], axis=1))[:, 0]
    box = frame_labels(scn, cam, 0, t).boxes[0].xyxy
    assert box[0] - 0.5 < u.min() and u.max() < box[2] + 0.5
    # Seen at an angle round the bend, its side widens the box by less than its rear face.
    assert (u.max() - u.min()) < box[2] - box[0] < 2 * (u.max() - u.min())


def test_labels_record_camera_and_expectation(tmp_path):
    d = labels_to_dict(ClipLabels("x.mp4", FPS, 64, 36, "x",
                                  Expectation("required", 2.4, "ttc2_s", 5.0), (),
                                  camera=CameraLabel(**get_camera("windscreen").describe())))
    assert d["expect"] == {"warning": "required", "required_ttc_s": 2.4, "ttc": "ttc2_s",
                           "earliest_ttc_s": 5.0}
    back = labels_from_dict(d)
    assert back.camera.pitch_deg == 2.5 and back.expect.ttc == "ttc2_s"
    d["expect"]["ttc"] = "ttc3_s"
    with pytest.raises(Exception, match=r"expect\.ttc"):
        labels_from_dict(d, "x.labels.json")


def test_cli_renders_with_a_camera(tmp_path):
    out = fcw("render", "lead_stopped", "--camera", "windscreen", "--size", "160x90", "--fps", "5",
              "--out", tmp_path)
    assert out.returncode == 0, out.stderr
    labels = load_labels(tmp_path / "lead_stopped.labels.json")
    assert labels.camera.name == "windscreen" and labels.camera.roll_deg == 1.0
    assert (labels.width, labels.height) == (160, 90)
    bad = fcw("render", "lead_stopped", "--camera", "fisheye", "--out", tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "fisheye" in bad.stderr


def _render_in_child(cache_dir, log_path):
    """A process asking for a clip; it logs each render it does itself (a slow one, so that the
    two processes of the test overlap)."""
    import os
    import time

    from fcw.scenarios import render

    real = render.render_scenario

    def logged(*args, **kwargs):
        with open(log_path, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(1.0)
        return real(*args, **kwargs)

    render.render_scenario = logged
    render.render_cached("lead_stopped", cache_dir, fps=5.0, width=160, height=90)


def test_a_clip_asked_for_by_two_processes_at_once_is_rendered_once(tmp_path):
    import multiprocessing

    from fcw.scenarios.render import render_cached

    log = tmp_path / "renders.log"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_render_in_child, args=(tmp_path / "cache", log)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert len(log.read_text().split()) == 1
    video = render_cached("lead_stopped", tmp_path / "cache", fps=5.0, width=160, height=90)
    assert video.is_file() and len(log.read_text().split()) == 1  # the cached clip, no render
    assert not list(video.parent.glob(".tmp-*"))
