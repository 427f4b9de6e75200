"""Key-image alignment of the lead and its scale filter (fcw/scale/)."""
import math

import cv2
import numpy as np
import pytest

from fcw.config import LeadScaleConfig
from fcw.scale.alignment import KeyframeAligner, to_gray
from fcw.scale.estimator import LeadScaleFilter

BLACK_CAR = np.array([827.0, 415.0, 937.0, 492.0])  # test1.jpg, by eye


def zoom_about(image, centre, factor):
    cx, cy = centre
    M = np.float32([[factor, 0, cx * (1 - factor)], [0, factor, cy * (1 - factor)]])
    return cv2.warpAffine(image, M, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR)


def zoomed_box(box, centre, factor):
    cx, cy = centre
    return np.array([cx + (box[0] - cx) * factor, cy + (box[1] - cy) * factor,
                     cx + (box[2] - cx) * factor, cy + (box[3] - cy) * factor])


@pytest.mark.parametrize("factor", [1.03, 1.10, 1.22, 0.95])
def test_alignment_recovers_a_known_zoom_against_the_key(highway_images, factor):
    img = highway_images["test1.jpg"]
    centre = ((BLACK_CAR[0] + BLACK_CAR[2]) / 2 + 4, (BLACK_CAR[1] + BLACK_CAR[3]) / 2 - 3)
    aligner = KeyframeAligner()
    assert aligner.start(to_gray(img), BLACK_CAR, s_key=0.4)
    # The zoom arrives in steps, as a closing car grows over frames; each is aligned with the key.
    s = None
    for f in np.linspace(1.0, factor, 6)[1:]:
        s = aligner.measure(to_gray(zoom_about(img, centre, f)), zoomed_box(BLACK_CAR, centre, f))
        assert s is not None
    assert s == pytest.approx(0.4 + math.log(factor), abs=0.003)
    assert aligner.aligned_box() == pytest.approx(zoomed_box(BLACK_CAR, centre, factor), abs=1.5)


def test_alignment_takes_a_new_key_after_a_large_growth(highway_images):
    img = highway_images["test1.jpg"]
    centre = ((BLACK_CAR[0] + BLACK_CAR[2]) / 2, (BLACK_CAR[1] + BLACK_CAR[3]) / 2)
    aligner = KeyframeAligner(rekey_log_scale=0.05)
    aligner.start(to_gray(img), BLACK_CAR, 0.0)
    s = aligner.measure(to_gray(zoom_about(img, centre, 1.08)), zoomed_box(BLACK_CAR, centre, 1.08))
    assert s == pytest.approx(math.log(1.08), abs=0.003)
    assert aligner.s_key == pytest.approx(s)  # the new key carries the scale it was taken at
    s2 = aligner.measure(to_gray(zoom_about(img, centre, 1.10)),
                         zoomed_box(BLACK_CAR, centre, 1.10))
    assert s2 == pytest.approx(math.log(1.10), abs=0.004)


def test_alignment_ignores_an_occluder_that_moves_over_the_key(highway_images):
    """A nearer car sliding across the lead must not pass its motion off as the lead's growth."""
    img = highway_images["test1.jpg"].copy()
    x1, y1, x2, y2 = BLACK_CAR.astype(int)
    occluder = np.array([x1 - 40, y1 + 20, x1 + 30, y2 + 30], float)

    def with_occluder(dx):
        out = img.copy()
        o = (occluder + [dx, 0, dx, 0]).astype(int)
        cv2.rectangle(out, (o[0], o[1]), (o[2], o[3]), (30, 200, 240), -1)
        return out, occluder + [dx, 0, dx, 0]

    aligner = KeyframeAligner()
    frame, occ = with_occluder(0)
    aligner.start(to_gray(frame), BLACK_CAR, 0.0, occ[None])
    for dx in (6, 12, 18):
        frame, occ = with_occluder(dx)
        s = aligner.measure(to_gray(frame), BLACK_CAR, occ[None])
        assert s == pytest.approx(0.0, abs=0.004)


def test_alignment_refuses_tiny_or_blank_patches(highway_images):
    img = to_gray(highway_images["test1.jpg"])
    assert not KeyframeAligner().start(img, np.array([100.0, 100.0, 108.0, 108.0]), 0.0)
    blank = np.full((720, 1280), 128, np.float32)
    aligner = KeyframeAligner()
    aligner.start(blank, BLACK_CAR, 0.0)
    assert aligner.measure(blank, BLACK_CAR) is None
    assert not aligner.active


def test_filter_tracks_the_accelerating_rate_of_a_closing_lead():
    """Constant closing speed: s = -ln(TTC) + c, so d s/dt = 1/TTC grows as TTC falls."""
    cfg = LeadScaleConfig()
    rng = np.random.default_rng(0)
    f = LeadScaleFilter(cfg)
    ttc0_s, fps = 6.0, 30.0
    f.reset(rate_per_s=0.1, rate_var=0.05 ** 2)
    errors = []
    for k in range(1, int(5 * fps)):
        t = k / fps
        f.predict(1 / fps)
        measured = math.log(ttc0_s / (ttc0_s - t)) + rng.normal(0, f.measurement_noise(40.0))
        assert f.update(measured, 40.0)
        if 1.0 <= ttc0_s - t < 4.0:
            true_rate = 1 / (ttc0_s - t)
            errors.append(abs(f.rate_per_s - true_rate) / true_rate)
    assert np.median(errors) < 0.08, np.median(errors)
    assert f.measurements == int(5 * fps) - 1
    assert f.rate_var > 0


def test_filter_refuses_a_slipped_alignment_and_predicts_through_it():
    f = LeadScaleFilter(LeadScaleConfig())
    f.reset(rate_per_s=0.5, rate_var=1e-4)
    for _ in range(10):
        f.predict(1 / 30)
        assert f.update(f.log_scale, 40.0)
    f.predict(1 / 30)
    assert not f.update(f.log_scale + 0.08, 40.0)  # a jump of 8% in one frame: a slip, not growth
    assert f.measurements == 10 and f.rate_per_s == pytest.approx(0.5, abs=0.05)
