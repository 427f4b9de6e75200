"""The geometry stage's math alone, and the stage on drawn roads and projected cars (no models).

Expected values come from a pinhole projection written out here, not from the code under test.
"""
import cv2
import numpy as np
import pytest

from fcw.config import CameraConfig, GeometryConfig
from fcw.geometry import GeometryStage
from fcw.geometry.ground import (
    bend_offset_px,
    best_crossing_px,
    bottom_hidden,
    fuse,
    heading_and_bend,
    horizon_crossings_px,
    horizon_from_vehicle_px,
    lateral_offset_m,
    median_and_sigma,
    points_in_boxes,
    robust_intersection_px,
    segment_lines,
    step_towards,
    weighted_median,
)
from fcw.geometry.lanes import find_lane_segments
from fcw.types import Frame, Tracks

W, H = 1280, 720
CAR = 2


def project_car(f_px, horizon_px, cx_px, h_m, range_m, x_m, width_m=1.8, overhang_m=0.9):
    """A car's box on a flat road: its rear face (the width) at range_m, its rear wheels (the
    box bottom) overhang_m further; x_m beside the line of sight to (cx_px, horizon_px)."""
    left = cx_px + f_px * (x_m - width_m / 2) / range_m
    right = cx_px + f_px * (x_m + width_m / 2) / range_m
    bottom = horizon_px + f_px * h_m / (range_m + overhang_m)
    return [left, bottom - f_px * 1.5 / range_m, right, bottom]


def tracks_of(boxes, class_id=CAR, confirmed=True):
    n = len(boxes)
    z = np.zeros(n)
    return Tracks(np.arange(1, n + 1, dtype=np.int64), np.array(boxes, np.float32).reshape(n, 4),
                  np.ones(n, np.float32), np.full(n, class_id, np.int32), np.full(n, confirmed),
                  z, z.copy(), z.copy())


def road_image(vp=(700.0, 300.0), bend_px2=0.0, seed=0, width=W, height=H):
    """Grey textured asphalt with a dashed centre line and two solid edge lines converging at
    ``vp``, bent by the road model x = vp_x + k u + c / u."""
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(90, 8, (height, width)), 0, 255).astype(np.uint8)
    img = cv2.GaussianBlur(img, (3, 3), 0)
    img[: int(vp[1])] = 170  # sky
    u = np.arange(6, height - vp[1], 1.0)
    for k, dashed in ((-2.4, False), (0.0, True), (2.4, False)):
        x = vp[0] + k * u + bend_px2 / u
        pts = np.stack([x, vp[1] + u], axis=1)
        for i in range(len(pts) - 1):
            if dashed and int(np.log(u[i]) * 6) % 2:
                continue
            thick = max(1, int(0.012 * u[i]))
            cv2.line(img, tuple(np.int32(pts[i])), tuple(np.int32(pts[i + 1])), 235, thick)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)


# ---- pure math -------------------------------------------------------------------------------

def test_vehicle_horizon_recovers_the_projected_horizon():
    f, y_h, h = 1000.0, 330.0, 1.3
    boxes = np.array([project_car(f, y_h, 640, h, z, 0.0) for z in (12, 20, 35, 60)])
    w = boxes[:, 2] - boxes[:, 0]
    got = horizon_from_vehicle_px(boxes[:, 3], w, h, 1.8, overhang_m=0.9, focal_px=f)
    np.testing.assert_allclose(got, y_h, atol=1e-6)
    # Without the overhang the near car's horizon comes out too high (smaller row).
    naive = horizon_from_vehicle_px(boxes[:, 3], w, h, 1.8)
    assert naive[0] < y_h - 5 and abs(naive[-1] - y_h) < abs(naive[0] - y_h)


def test_lateral_offset_uses_the_car_as_its_own_scale():
    box = project_car(800.0, 360, 640, 1.3, 25.0, 3.5)
    got = lateral_offset_m(0.5 * (box[0] + box[2]), 640.0, box[2] - box[0], 1.8)
    assert got == pytest.approx(3.5)


def test_bottom_hidden_behind_a_nearer_car():
    near = [500, 300, 800, 500]
    behind = [600, 250, 700, 330]   # its bottom corners lie inside the near box
    beside = [850, 250, 950, 330]
    assert bottom_hidden(np.array([near, behind, beside])).tolist() == [False, True, False]


def test_points_in_boxes():
    inside = points_in_boxes(np.array([5.0, 50.0]), np.array([5.0, 5.0]),
                             np.array([[0, 0, 10, 10]]))
    assert inside.tolist() == [True, False]
    assert not points_in_boxes(np.array([5.0]), np.array([5.0]), np.zeros((0, 4))).any()


def test_intersection_of_lines_through_a_point_with_outliers():
    vp = np.array([700.0, 300.0])
    rng = np.random.default_rng(1)
    ends = rng.uniform([0, 400], [1280, 720], (12, 2))
    through = np.concatenate([np.tile(vp, (12, 1)) + 0.3 * (ends - vp), ends], axis=1)
    junk = rng.uniform([0, 320, 0, 320], [1280, 720, 1280, 720], (5, 4))
    seg = np.concatenate([through, junk])
    lines = segment_lines(seg)
    weights = np.ones(len(seg))
    start = best_crossing_px(lines, weights, 20.0, (640.0, 360.0), (300.0, 200.0))
    assert start is not None
    x, y, inl = robust_intersection_px(lines, weights, start, 20.0)
    assert (x, y) == pytest.approx(tuple(vp), abs=1.0)  # junk within 20 px still pulls
    assert inl[:12].all()


def test_parallel_lines_give_no_point():
    seg = np.array([[0, 400, 100, 600], [50, 400, 150, 600], [100, 400, 200, 600]], float)
    assert robust_intersection_px(segment_lines(seg), np.ones(3), (640.0, 360.0), 1e4) is None


@pytest.mark.parametrize("c", [0.0, -2000.0, 1500.0])
def test_heading_and_bend_from_tangents_of_the_road_model(c):
    vp_x, y_h = 650.0, 350.0
    segs = []
    for k in (-2.0, -0.6, 0.7, 2.2):
        for u in (20.0, 45.0, 90.0, 180.0, 300.0):
            # A short piece of x = vp_x + k u + c / u around depth u.
            u0, u1 = u - 3, u + 3
            segs.append([vp_x + k * u0 + c / u0, y_h + u0, vp_x + k * u1 + c / u1, y_h + u1])
    seg = np.array(segs)
    crossing, u = horizon_crossings_px(seg, y_h)
    got = heading_and_bend(crossing, u, np.ones(len(seg)), 80.0, min_u_px=10.0)
    assert got is not None
    assert got[0] == pytest.approx(vp_x, abs=3.0)
    assert got[1] == pytest.approx(c, abs=0.05 * abs(c) + 30)


def test_bend_offset_is_limited_and_zero_above_the_horizon():
    y = np.array([300.0, 361.0, 400.0, 700.0])
    off = bend_offset_px(y, 360.0, -2000.0, max_offset_px=150.0)
    assert off[0] == 0.0 and off[1] == -150.0
    assert off[2] == pytest.approx(-50.0) and off[3] == pytest.approx(-2000 / 340)


def test_small_statistics():
    assert weighted_median(np.array([1.0, 2.0, 100.0]), np.array([1.0, 1.0, 0.5])) == 2.0
    assert np.isnan(weighted_median(np.array([np.nan]), np.array([1.0])))
    med, sigma = median_and_sigma(np.array([10.0, 11.0, 9.0, 10.0, 50.0]), floor=0.1)
    assert med == 10.0 and 0.1 < sigma < 2.0
    assert median_and_sigma(np.array([]), 1.0)[1] == float("inf")
    assert fuse([(0.0, 1.0), (10.0, 1.0), (5.0, float("inf"))]) == pytest.approx((5.0, 0.5 ** 0.5))
    assert step_towards(0.0, 10.0, 3.0) == 3.0 and step_towards(0.0, -1.0, 3.0) == -1.0


# ---- the lane pass on drawn roads -----------------------------------------------------------

def test_lane_segments_lean_towards_the_vanishing_point():
    seg = find_lane_segments(road_image(), 300.0, 700.0, 320, 0.03, 0.08, 8.0, 75.0)
    assert len(seg) >= 3
    xm = 0.5 * (seg.xyxy[:, 0] + seg.xyxy[:, 2])
    assert (xm < 700).any() and (xm > 700).any()
    # An image without markings gives none (its texture is not a line).
    assert len(find_lane_segments(road_image() * 0 + 90, 300.0, 700.0, 320, 0.03, 0.08,
                                  8.0, 75.0)) == 0


# ---- the stage -------------------------------------------------------------------------------

def run_stage(stage, images, fps=10.0, tracks=None, start=0):
    g = None
    for i, img in enumerate(images, start):
        g = stage.update(Frame(i, i / fps, img), tracks if tracks is not None else Tracks.empty())
    return g


def test_lanes_move_the_estimate_to_the_drawn_vanishing_point():
    stage = GeometryStage(CameraConfig(), (CAR,))
    img = road_image(vp=(700.0, 300.0))
    g0 = run_stage(stage, [img])
    assert (g0.horizon_y_px, g0.vp_x_px, g0.source) == (360.0, 640.0, "prior")
    # 60 px away at 5% of the height per second: there within 2 s; checked after 4 s.
    g = run_stage(stage, [img] * 40, start=1)
    assert g.horizon_y_px == pytest.approx(300.0, abs=4.0)
    assert g.vp_x_px == pytest.approx(700.0, abs=6.0)
    assert g.source == "lanes" and g.horizon_sigma_px < 10.0
    events = stage.take_events()
    assert events and all(e.type == "geometry" for e in events)
    assert events[-1].fields["source"] == "lanes"
    assert stage.take_events() == []


def test_a_pitch_under_braking_does_not_move_the_estimate():
    stage = GeometryStage(CameraConfig(), (CAR,))
    steady, pitched = road_image(vp=(640.0, 330.0)), road_image(vp=(640.0, 370.0))
    g = run_stage(stage, [steady] * 80)
    assert g.horizon_y_px == pytest.approx(330.0, abs=4.0)
    # 1 s nose down, 40 px: a quarter of the window's samples at most, the median holds.
    g = run_stage(stage, [pitched] * 10, start=80)
    assert g.horizon_y_px == pytest.approx(330.0, abs=4.0)


def test_the_estimate_never_strays_beyond_its_limit_from_the_prior():
    cfg = CameraConfig(geometry=GeometryConfig(max_offset_frac=0.05))  # 36 px
    g = run_stage(GeometryStage(cfg, (CAR,)), [road_image(vp=(640.0, 335.0))] * 40)
    assert g.horizon_y_px == pytest.approx(335.0, abs=4.0)
    # Markings that meet further away are not this road's: they are not taken at all.
    g = run_stage(GeometryStage(cfg, (CAR,)), [road_image(vp=(640.0, 250.0))] * 40)
    assert g.horizon_y_px == pytest.approx(360.0) and g.source == "prior"


def test_a_bent_road_bends_the_corridor_the_right_way():
    stage = GeometryStage(CameraConfig(), (CAR,))
    g = run_stage(stage, [road_image(vp=(640.0, 360.0), bend_px2=-2500.0, seed=s % 3)
                          for s in range(40)])
    assert g.bend_px2 < -1000.0
    g = run_stage(GeometryStage(CameraConfig(), (CAR,)), [road_image(vp=(640.0, 360.0))] * 40)
    assert g.bend_px2 == 0.0


def test_cars_straight_ahead_give_the_horizon_when_there_are_no_lanes():
    f, y_h, h = 0.8 * W, 330.0, 1.3  # the stage's assumed focal length when focal_px is unset
    blank = np.full((H, W, 3), 90, np.uint8)
    stage = GeometryStage(CameraConfig(height_m=h), (CAR,))
    g = None
    for i in range(50):
        ranges = (18.0 + (i % 7), 30.0 + 2 * (i % 5))
        boxes = [project_car(f, y_h, 640, h, z, x) for z, x in zip(ranges, (0.2, -0.3))]
        # A car in the next lane and a truck: neither is used.
        boxes += [project_car(f, y_h, 640, h, 15.0, 3.5), project_car(f, y_h, 640, h, 25.0, 0.0)]
        tracks = tracks_of(boxes)
        tracks = Tracks(tracks.track_id, tracks.xyxy, tracks.score,
                        np.array([CAR, CAR, CAR, 7], np.int32), tracks.confirmed,
                        tracks.scale_rate_per_s, tracks.scale_rate_var, tracks.scale_accel_per_s2)
        g = stage.update(Frame(i, i / 10, blank), tracks)
    assert g.source == "vehicles"
    assert g.horizon_y_px == pytest.approx(y_h, abs=3.0)


def test_unconfirmed_cut_and_coasting_boxes_are_not_used():
    f, y_h, h = 0.8 * W, 330.0, 1.3
    blank = np.full((H, W, 3), 90, np.uint8)
    box = project_car(f, y_h, 640, h, 20.0, 0.0)
    cases = [tracks_of([box], confirmed=False),
             tracks_of([[0.0, box[1], box[2], box[3]]])]        # touching the left edge
    t = tracks_of([box])
    cases.append(Tracks(t.track_id, t.xyxy, t.score, t.class_id, t.confirmed, t.scale_rate_per_s,
                        t.scale_rate_var, t.scale_accel_per_s2, since_match_s=np.array([0.2])))
    for tracks in cases:
        stage = GeometryStage(CameraConfig(height_m=h), (CAR,))
        g = run_stage(stage, [blank] * 30, tracks=tracks)
        assert g.source == "prior" and g.horizon_y_px == pytest.approx(360.0)


def test_crop_centre_is_told_only_when_it_has_moved_enough():
    stage = GeometryStage(CameraConfig(), (CAR,))
    img = road_image(vp=(700.0, 300.0))
    told = []
    for i in range(40):
        stage.update(Frame(i, i / 10, img), Tracks.empty())
        centre = stage.crop_centre_px()
        if centre is not None:
            told.append(centre)
    step = GeometryConfig().crop_shift_frac
    assert 1 <= len(told) <= 70 / (step * H) + 1
    assert told[-1][0] == pytest.approx(700.0, abs=3 + step * W)


def test_reset_and_a_new_frame_size_start_from_the_prior():
    stage = GeometryStage(CameraConfig(), (CAR,))
    run_stage(stage, [road_image(vp=(700.0, 300.0))] * 30)
    stage.reset()
    g = run_stage(stage, [np.full((H, W, 3), 90, np.uint8)])
    assert (g.horizon_y_px, g.vp_x_px) == (360.0, 640.0)
    g = stage.update(Frame(1, 0.1, np.full((480, 640, 3), 90, np.uint8)), Tracks.empty())
    assert (g.horizon_y_px, g.vp_x_px) == (240.0, 320.0)
