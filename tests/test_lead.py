"""Corridor geometry and lead selection, on hand-made Tracks."""
import numpy as np
import pytest

from fcw.config import CameraConfig, CorridorConfig
from fcw.risk.lead import Corridor, select_lead
from fcw.types import Tracks

W, H = 1280, 720
# vanishing point (640, 396); half-width 320 px at the bottom row.
CORRIDOR = Corridor.from_config(CameraConfig(vanishing_point_y=0.55), CorridorConfig(), W, H)


def make_tracks(boxes, confirmed=None, class_id=None, ids=None) -> Tracks:
    n = len(boxes)
    z = np.zeros(n)
    return Tracks(
        track_id=np.array(ids if ids is not None else range(1, n + 1), np.int64),
        xyxy=np.array(boxes, np.float32).reshape(n, 4),
        score=np.ones(n, np.float32),
        class_id=np.array(class_id if class_id is not None else [0] * n, np.int32),
        confirmed=np.array(confirmed if confirmed is not None else [True] * n, bool),
        scale_rate_per_s=z, scale_rate_var=z.copy(), scale_accel_per_s2=z.copy())


def box_at(x_bottom: float, y_bottom: float, w: float = 60.0) -> list[float]:
    return [x_bottom - w / 2, y_bottom - 0.8 * w, x_bottom + w / 2, y_bottom]


def test_corridor_widens_linearly_from_vanishing_point():
    assert CORRIDOR.vp_x_px == pytest.approx(640) and CORRIDOR.vp_y_px == pytest.approx(396)
    assert CORRIDOR.half_width_px(720.0) == pytest.approx(320.0)
    assert CORRIDOR.half_width_px(558.0) == pytest.approx(160.0)
    assert CORRIDOR.half_width_px(300.0) == 0.0


@pytest.mark.parametrize("x, y, inside", [
    (640, 700, True), (640 + 150, 558, True), (640 + 170, 558, False), (640 - 170, 558, False),
    (640, 390, False),                       # above the horizon: not on the road ahead
    (640, 800, True),                        # a box cut by the bottom of the frame
])
def test_corridor_contains(x, y, inside):
    assert bool(CORRIDOR.contains(np.array([x]), np.array([y]))[0]) is inside


def test_nearest_in_corridor_is_lead():
    tracks = make_tracks([box_at(640, 450), box_at(650, 520), box_at(300, 700)])
    assert select_lead(tracks, CORRIDOR) == 2          # track 3 is lower but in the next lane


def test_unconfirmed_is_never_lead():
    # (Non-vehicles never reach the risk stage: the tracker keeps vehicles only, test_tracker.)
    tracks = make_tracks([box_at(640, 450), box_at(640, 520), box_at(640, 600)],
                         confirmed=[True, False, False])
    assert select_lead(tracks, CORRIDOR) == 1
    assert select_lead(make_tracks([box_at(640, 600)], confirmed=[False]), CORRIDOR) is None


@pytest.mark.parametrize("bad", [[610, 400, 670, np.inf], [np.nan, 400, 670, 700],
                                 [-np.inf, 400, np.inf, 700]])
def test_a_non_finite_box_is_never_the_lead(bad):
    # A box gone infinite downwards would otherwise be the "nearest" in the corridor.
    tracks = make_tracks([box_at(640, 500), bad])
    assert select_lead(tracks, CORRIDOR) == 1
    assert select_lead(make_tracks([bad]), CORRIDOR) is None


def test_empty_and_nothing_in_corridor():
    assert select_lead(Tracks.empty(), CORRIDOR) is None
    assert select_lead(make_tracks([box_at(100, 700)]), CORRIDOR) is None


def test_cut_in_and_cut_out_switch_lead_immediately():
    far_lead = box_at(640, 450)
    y_cut = 550.0
    # The cut-in's bottom centre moves from the next lane across the corridor edge and out again.
    edge = 640 + CORRIDOR.half_width_px(y_cut)
    leads = []
    for x in (edge + 40, edge + 1, edge - 1, 640, edge - 1, edge + 1):
        tracks = make_tracks([far_lead, box_at(x, y_cut)], ids=[7, 9])
        leads.append(select_lead(tracks, CORRIDOR))
    assert leads == [7, 7, 9, 9, 9, 7]


def test_bent_corridor_follows_the_road_not_the_straight_line():
    """On a left-hand bend the road's far part lies left of the straight line to the
    vanishing point: a car there is in the lane, one straight ahead near the horizon is on the
    other side of the bend (a parked car, the other carriageway)."""
    from fcw.types import CameraGeometry

    bend = CameraGeometry(horizon_y_px=396.0, vp_x_px=640.0, camera_height_m=1.3, bend_px2=-3000.0)
    bent = Corridor.from_geometry(bend, CorridorConfig(), W, H)
    straight = Corridor.from_geometry(CameraGeometry(396.0, 640.0, 1.3), CorridorConfig(), W, H)
    assert straight == Corridor(640.0, 396.0, 720.0, 320.0, 0.0, 0.15 * W)
    # 30 rows under the horizon the bend puts the road's centre 100 px to the left.
    far_ahead = (np.array([640.0]), np.array([426.0]))
    far_left = (np.array([540.0]), np.array([426.0]))
    assert straight.contains(*far_ahead)[0] and not straight.contains(*far_left)[0]
    assert bent.contains(*far_left)[0] and not bent.contains(*far_ahead)[0]
    # Near the car the bend hardly matters: the lead straight ahead stays the lead.
    tracks = make_tracks([box_at(640, 700), box_at(640, 426, 12)])
    assert select_lead(tracks, bent) == 1 and select_lead(tracks, straight) == 1
    assert select_lead(make_tracks([box_at(640, 426, 12)]), bent) is None
