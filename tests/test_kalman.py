"""The Kalman model on its own: F, Q, H, R and a filter fed exact kinematics."""
import numpy as np
import pytest

from fcw.config import TrackerConfig
from fcw.tracking.kalman import (
    AS,
    CX,
    DIM_X,
    R_ASPECT,
    VCX,
    VS,
    BoxKalman,
    S,
    box_to_z,
    measurement_matrix,
    measurement_noise,
    process_noise,
    state_to_box,
    transition_matrix,
)

F_PX, CAR_W_M, CAR_H_M = 1000.0, 1.8, 1.5


def car_box(Z_m: float) -> np.ndarray:
    w, h = F_PX * CAR_W_M / Z_m, F_PX * CAR_H_M / Z_m
    return np.array([640 - w / 2, 500 - h, 640 + w / 2, 500])


def test_transition_propagates_kinematics():
    x = np.zeros(DIM_X)
    x[[CX, S, VCX, VS, AS]] = [100.0, 4.0, 30.0, 0.5, 0.2]
    out = transition_matrix(0.1) @ x
    assert out[CX] == pytest.approx(103.0)
    assert out[S] == pytest.approx(4.0 + 0.05 + 0.5 * 0.2 * 0.01)
    assert out[VS] == pytest.approx(0.52)


def test_transition_composes_over_time():
    # A dropped frame must be the same as two steps: F(a) F(b) == F(a + b).
    np.testing.assert_allclose(transition_matrix(0.04) @ transition_matrix(0.03),
                               transition_matrix(0.07), atol=1e-12)


@pytest.mark.parametrize("dt_s", [1 / 30, 0.1, 0.5])
def test_process_noise_is_a_covariance_growing_with_dt(dt_s):
    Q = process_noise(dt_s, 100.0, 0.02, 0.01)
    np.testing.assert_allclose(Q, Q.T)
    assert np.linalg.eigvalsh(Q).min() >= -1e-15
    assert np.all(np.diag(process_noise(2 * dt_s, 100.0, 0.02, 0.01)) > np.diag(Q))
    assert Q[VS, VS] == pytest.approx(0.02 * dt_s**3 / 3)


def test_measurement_round_trip():
    box = np.array([600.0, 380.0, 680.0, 440.0])
    z = box_to_z(box)
    np.testing.assert_allclose(z, [640, 410, np.log(80), np.log(60 / 80)])
    x = np.zeros(DIM_X)
    x[:4] = z
    np.testing.assert_allclose(state_to_box(x), box)
    np.testing.assert_allclose(measurement_matrix() @ x, z)


def test_measurement_noise_in_log_units():
    box = np.array([600.0, 380.0, 680.0, 440.0])
    R = measurement_noise(box, 2.0)
    assert R[2, 2] == pytest.approx(2 * 4.0 / 80**2)            # var(ln w) = 2 sigma^2 / w^2
    assert R[0, 0] == pytest.approx(4.0 / 2)                    # var of a mean of two corners
    assert R[2, 3] < 0                                          # ln w and ln(h/w) share w
    assert np.linalg.eigvalsh(R).min() > 0
    # The same pixel noise on a box half as wide is twice as large in log units.
    assert measurement_noise(box / 2, 2.0)[2, 2] == pytest.approx(4 * R[2, 2])


def test_scale_rate_converges_on_exact_approach():
    # Constant closing speed: d ln w / dt = v / Z exactly, and d^2 ln w / dt^2 = (v / Z)^2.
    Z0_m, v_mps, fps = 30.0, 10.0, 30.0
    kf = BoxKalman(car_box(Z0_m), TrackerConfig())
    for k in range(1, 46):
        kf.predict(1 / fps)
        kf.update(car_box(Z0_m - v_mps * k / fps))
    Z_m = Z0_m - v_mps * 45 / fps
    assert kf.x[VS] == pytest.approx(v_mps / Z_m, rel=0.03)
    assert kf.x[AS] == pytest.approx((v_mps / Z_m) ** 2, rel=0.3)
    assert kf.x[R_ASPECT] == pytest.approx(np.log(CAR_H_M / CAR_W_M), abs=1e-3)


def test_scale_rate_settles_within_half_a_second():
    rng = np.random.default_rng(3)
    Z0_m, v_mps, fps = 25.0, 10.0, 30.0
    kf = BoxKalman(car_box(Z0_m), TrackerConfig())
    var0 = kf.P[VS, VS]
    for k in range(1, 16):                                      # 0.5 s
        kf.predict(1 / fps)
        kf.update(car_box(Z0_m - v_mps * k / fps) + rng.normal(0, 1.0, 4))
    rate = v_mps / (Z0_m - v_mps * 15 / fps)
    assert kf.P[VS, VS] < var0 / 25                             # sigma shrunk at least 5x
    assert abs(kf.x[VS] - rate) < 3 * np.sqrt(kf.P[VS, VS])
    assert abs(kf.x[VS] - rate) < 0.25 * rate
