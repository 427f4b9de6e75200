"""The braking decision's parts (issue #16): the scale acceleration fitted over a window of
aligned scales (fcw/scale/estimator.py ``fitted_braking_per_s2``) and the hold in frame time
before the risk stage decides on the second-order TTC (fcw/risk/stage.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fcw.config import load_config
from fcw.risk.stage import RiskStage
from fcw.scale.estimator import fitted_braking_per_s2

FPS = 30.0
G = 9.80665


def lvd_log_scale(t_s: np.ndarray) -> np.ndarray:
    """ln(image scale) of NHTSA's LVD lead, 30 m ahead at the same speed, braking at 0.3 g from
    t = 0: Z(t) = 30 - 0.3 g t^2 / 2, and the image scale is 1 / Z up to a constant."""
    return -np.log(30.0 - 0.5 * 0.3 * G * t_s ** 2)


def lvd_braking_per_s2(t_s: float) -> float:
    """-Zddot/Z (fcw/risk/ttc.py's derivation: d2 ln(scale)/dt2 - (d ln(scale)/dt)^2)."""
    a = 0.3 * G
    return a / (30.0 - 0.5 * a * t_s ** 2)


def window(end_s: float, length_s: float) -> np.ndarray:
    return np.arange(end_s - length_s, end_s + 1e-9, 1.0 / FPS)


def test_fit_recovers_a_braking_leads_braking():
    # 2.12 s into the brake (NHTSA's TTC 2.4 s), the worked example of the issue: a/Z =
    # 0.126/s^2 now. The fit reads it at the window's centre (0.6 s earlier, 0.111/s^2).
    t = window(2.12, 1.2)
    assert lvd_braking_per_s2(2.12) == pytest.approx(0.126, abs=0.002)
    braking, var = fitted_braking_per_s2(t, lvd_log_scale(t), np.full(len(t), 0.003 ** 2))
    assert braking == pytest.approx(lvd_braking_per_s2(2.12 - 0.6), rel=0.03)
    assert 0.0 < var < 0.02 ** 2
    # Before the brake, at constant range: none.
    t = window(0.0, 1.2)
    braking, var = fitted_braking_per_s2(t, np.zeros(len(t)), np.full(len(t), 0.003 ** 2))
    assert abs(braking) < 1e-9


def test_dash_wobble_is_averaged_out_and_shows_in_the_variance():
    # A car at constant range: the truth is 0. The aligned scale wobbles by 0.8% with a 0.6 s
    # period (lane dashes 12 m apart at 20 m/s), as measured on the rendered LVD clip: its
    # second derivative alone swings by 0.008 (2 pi / 0.6)^2 = 0.88/s^2.
    t = window(3.0, 1.2)
    wobble = 0.008 * np.sin(2 * math.pi * t / 0.6 + 0.4)
    var = np.full(len(t), 0.003 ** 2)
    braking, braking_var = fitted_braking_per_s2(t, wobble, var)
    assert abs(braking) < 0.1
    # The fit's scatter inflates the variance so that the error is within 2 sigma of it...
    assert abs(braking) < 2.0 * math.sqrt(braking_var)
    # ... more than the white-noise variance the measurements claim.
    _, white_var = fitted_braking_per_s2(t, np.zeros(len(t)), var)
    assert braking_var > 2.0 * white_var


def test_too_few_or_bad_samples_give_no_fit():
    t = np.array([0.0, 0.1, 0.2])
    assert fitted_braking_per_s2(t, np.zeros(3), np.ones(3)) is None
    t = window(1.0, 0.5)
    s = lvd_log_scale(t)
    s[3] = np.nan
    assert fitted_braking_per_s2(t, s, np.ones(len(t))) is None
    assert fitted_braking_per_s2(np.zeros(5), np.zeros(5), np.ones(5)) is None


def stage(hold_s: float) -> RiskStage:
    cfg = load_config(None, {"warning.second_order": True,
                             "warning.second_order_hold_s": hold_s})
    return RiskStage(cfg.camera, cfg.corridor, cfg.warning)


def test_braking_must_hold_for_its_time_without_a_break():
    risk = stage(0.3)
    frames = np.arange(12) / FPS
    held = [risk._braking_held(float(t), 7, True) for t in frames]
    # Held from the frame 0.3 s after the first that showed braking, not before.
    assert held.index(True) == 9 and all(held[9:])
    # One frame without braking starts the count again; so does a new lead.
    assert not risk._braking_held(12 / FPS, 7, False)
    assert not risk._braking_held(13 / FPS, 7, True)
    assert not risk._braking_held(14 / FPS, 7, True)
    assert risk._braking_held(23 / FPS, 7, True)
    assert not risk._braking_held(23 / FPS, 8, True)
    assert not risk._braking_held(24 / FPS, None, True)


def test_no_hold_decides_at_once():
    assert stage(0.0)._braking_held(0.0, 1, True)
