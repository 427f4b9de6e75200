"""Image-alignment scale measurement and its filter (fcw/risk/scale.py)."""
import math

import cv2
import numpy as np
import pytest

from fcw.config import LeadScaleConfig
from fcw.risk.scale import LeadScaleFilter, patch_log_scale

BLACK_CAR = np.array([827.0, 415.0, 937.0, 492.0])  # test1.jpg, by eye


def zoom_about(image, centre, factor):
    cx, cy = centre
    M = np.float32([[factor, 0, cx * (1 - factor)], [0, factor, cy * (1 - factor)]])
    return cv2.warpAffine(image, M, (image.shape[1], image.shape[0]), flags=cv2.INTER_LINEAR)


@pytest.mark.parametrize("factor", [1.03, 1.01, 0.99])
def test_patch_scale_recovers_a_known_zoom(highway_images, factor):
    img = highway_images["test1.jpg"]
    centre = ((BLACK_CAR[0] + BLACK_CAR[2]) / 2 + 4, (BLACK_CAR[1] + BLACK_CAR[3]) / 2 - 3)
    step = patch_log_scale(img, zoom_about(img, centre, factor), BLACK_CAR)
    assert step is not None
    assert step == pytest.approx(math.log(factor), abs=0.002)


def test_patch_scale_refuses_tiny_or_blank_patches(highway_images):
    img = highway_images["test1.jpg"]
    assert patch_log_scale(img, img, np.array([100.0, 100.0, 108.0, 108.0])) is None
    blank = np.full((720, 1280, 3), 128, np.uint8)
    assert patch_log_scale(blank, blank, BLACK_CAR) is None


def test_filter_tracks_an_accelerating_scale_rate():
    """A lead closing at constant speed: d ln w/dt = 1/TTC, which grows as TTC falls."""
    # A smooth motion tolerates a slow filter; the default q is set for detector-driven tracks.
    cfg = LeadScaleConfig(enabled=True, q_jerk_per_s5=0.1)
    rng = np.random.default_rng(0)
    f = LeadScaleFilter(cfg)
    ttc0_s, fps = 6.0, 30.0
    f.reset(rate_per_s=0.1, rate_var=0.05 ** 2)
    errors, raw_errors = [], []
    for k in range(1, int(4.5 * fps)):
        t_prev, t = (k - 1) / fps, k / fps
        step = math.log((ttc0_s - t_prev) / (ttc0_s - t)) + rng.normal(0, cfg.measurement_noise)
        f.update(1 / fps, step)
        if ttc0_s - t < 3.0:  # at longer TTC one step's noise exceeds the step itself
            true_rate = 1 / (ttc0_s - t)
            errors.append(abs(f.rate_per_s - true_rate) / true_rate)
            raw_errors.append(abs(step * fps - true_rate) / true_rate)
    # With one step's noise near the step itself, ~15% is what a filter can do at 30 fps; it
    # must still be several times better than reading the rate off each step.
    assert np.median(errors) < 0.2, np.median(errors)
    assert np.median(raw_errors) > 2.5 * np.median(errors)
    assert f.measurements == int(4.5 * fps) - 1
    assert f.rate_var > 0


def test_filter_predicts_through_a_failed_alignment():
    f = LeadScaleFilter(LeadScaleConfig(enabled=True))
    f.reset(rate_per_s=0.5, rate_var=1e-4)
    f.update(1 / 30, None)
    assert f.measurements == 0 and f.rate_per_s == pytest.approx(0.5, abs=0.05)
