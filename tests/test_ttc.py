"""Pure TTC math against closed-form kinematics."""
import math

import numpy as np
import pytest

from fcw.risk.ttc import (
    closing_speed_mps,
    headway_s,
    range_from_ground_m,
    ttc_first_order,
    ttc_second_order,
)


def scale_derivatives(Z_m: float, Zdot_mps: float, Zddot_mps2: float) -> tuple[float, float]:
    """d ln w/dt and d^2 ln w/dt^2 of a box w = f W / Z, by finite differences of ln w."""
    h = 1e-4

    def ln_w(t: float) -> float:
        return -math.log(Z_m + Zdot_mps * t + 0.5 * Zddot_mps2 * t * t)

    rate = (ln_w(h) - ln_w(-h)) / (2 * h)
    accel = (ln_w(h) - 2 * ln_w(0.0) + ln_w(-h)) / (h * h)
    return rate, accel


@pytest.mark.parametrize("Z_m, closing_mps", [(40.0, 20.0), (30.0, 5.0), (10.0, 10.0)])
def test_first_order_is_range_over_closing_speed(Z_m, closing_mps):
    rate, _ = scale_derivatives(Z_m, -closing_mps, 0.0)
    ttc_s, _ = ttc_first_order(rate, 0.0)
    assert ttc_s == pytest.approx(Z_m / closing_mps, rel=1e-5)


@pytest.mark.parametrize("rate", [0.0, -0.2, float("nan")])
def test_first_order_none_when_not_growing(rate):
    assert ttc_first_order(rate, 0.01) == (None, None)


def test_first_order_sigma_matches_monte_carlo():
    rate, sigma_rate = 0.4, 0.02
    _, sigma_s = ttc_first_order(rate, sigma_rate**2)
    assert sigma_s == pytest.approx(sigma_rate / rate**2)
    samples = 1.0 / np.random.default_rng(0).normal(rate, sigma_rate, 200_000)
    assert sigma_s == pytest.approx(samples.std(), rel=0.03)


def test_second_order_equals_first_order_at_constant_speed():
    rate, accel = scale_derivatives(30.0, -10.0, 0.0)
    assert accel == pytest.approx(rate**2, rel=1e-4)
    assert ttc_second_order(rate, accel) == pytest.approx(3.0, rel=1e-4)


@pytest.mark.parametrize("Z_m, Zdot_mps, Zddot_mps2", [
    (30.0, -5.0, -2.94),    # closing and the lead braking at 0.3 g
    (30.0, 0.0, -2.94),     # same speed, the lead starts braking
    (20.0, -8.0, 1.0),      # closing but the ego brakes, not hard enough
])
def test_second_order_is_root_of_constant_acceleration(Z_m, Zdot_mps, Zddot_mps2):
    rate, accel = scale_derivatives(Z_m, Zdot_mps, Zddot_mps2)
    roots = np.roots([0.5 * Zddot_mps2, Zdot_mps, Z_m])
    truth = min(r.real for r in roots if abs(r.imag) < 1e-9 and r.real > 0)
    assert ttc_second_order(rate, accel) == pytest.approx(truth, rel=1e-3)


@pytest.mark.parametrize("Z_m, Zdot_mps, Zddot_mps2", [
    (20.0, -5.0, 2.0),      # the gap stops shrinking before it closes (5^2 < 2 * 2 * 20)
    (20.0, 3.0, 0.0),       # opening
])
def test_second_order_none_without_collision(Z_m, Zdot_mps, Zddot_mps2):
    rate, accel = scale_derivatives(Z_m, Zdot_mps, Zddot_mps2)
    assert ttc_second_order(rate, accel) is None


def test_flat_ground_geometry():
    range_m = range_from_ground_m(y_bottom_px=496.0, y_horizon_px=396.0, focal_px=1000.0,
                                  camera_height_m=1.3)
    assert range_m == pytest.approx(13.0)
    assert range_from_ground_m(390.0, 396.0, 1000.0, 1.3) is None
    assert closing_speed_mps(13.0, 0.5) == pytest.approx(6.5)
    assert headway_s(13.0, 26.0) == pytest.approx(0.5)
    assert headway_s(13.0, 0.0) is None
