"""Time to collision from the growth of the lead's box, and optional flat-ground geometry.

A vehicle of width W at range Z appears w = f W / Z pixels wide, so ln w = ln(f W) - ln Z and
its rate needs neither f nor W nor Z:

    d ln w / dt = -Zdot / Z = 1 / TTC            (Dagan, Mano, Stein, Shashua, IV 2004)

All functions are pure; they return None where no collision is ahead.
"""
from __future__ import annotations

import math


def ttc_first_order(scale_rate_per_s: float,
                    scale_rate_var: float) -> tuple[float | None, float | None]:
    """Constant-velocity TTC = 1 / (d ln w / dt) and its one-sigma uncertainty.

    sigma by first-order propagation: d(1/v)/dv = -1/v^2, so sigma_ttc = sigma_rate / rate^2.
    Returns (None, None) while the box is not growing (rate <= 0: the lead is not closing).
    """
    rate = float(scale_rate_per_s)
    if not math.isfinite(rate) or rate <= 0.0:
        return None, None
    sigma_rate = math.sqrt(max(float(scale_rate_var), 0.0))
    return 1.0 / rate, sigma_rate / (rate * rate)


def ttc_second_order(scale_rate_per_s: float, scale_accel_per_s2: float) -> float | None:
    """TTC under constant relative acceleration, from the scale rate and acceleration.

    Derivation. With s = ln w = ln(f W) - ln Z, write v = ds/dt and a = d^2 s/dt^2:

        v = -Zdot / Z
        a = -Zddot / Z + (Zdot / Z)^2 = -Zddot / Z + v^2
        so  Zdot / Z = -v,   Zddot / Z = v^2 - a.

    Constant relative acceleration gives Z(t) = Z + Zdot t + Zddot t^2 / 2; divided by Z,

        1 - v t + (v^2 - a) t^2 / 2 = 0,

    whose discriminant is D = v^2 - 2 (v^2 - a) = 2 a - v^2. The earliest positive root, written
    in the form that stays finite when v^2 = a (the constant-velocity case), is

        t = 2 / (v + sqrt(D)),

    which is 1 / v for a = v^2, as it must be. D < 0 means the gap stops shrinking before it
    closes, and v + sqrt(D) <= 0 means it is opening: both return None. A lead that starts
    braking while the gap is steady (v = 0, a > 0) does get a TTC, sqrt(2 / a).
    """
    v = float(scale_rate_per_s)
    a = float(scale_accel_per_s2)
    if not (math.isfinite(v) and math.isfinite(a)):
        return None
    disc = 2.0 * a - v * v
    if disc < 0.0:
        return None
    denom = v + math.sqrt(disc)
    if denom <= 0.0:
        return None
    return 2.0 / denom


def range_from_ground_m(y_bottom_px: float, y_horizon_px: float, focal_px: float,
                        camera_height_m: float) -> float | None:
    """Flat-ground range Z = f H / (y_bottom - y_horizon) of a vehicle touching the road at
    image row y_bottom; None when that row is at or above the horizon."""
    drop_px = float(y_bottom_px) - float(y_horizon_px)
    if drop_px <= 0.0:
        return None
    return focal_px * camera_height_m / drop_px


def closing_speed_mps(range_m: float, scale_rate_per_s: float) -> float:
    """-Zdot = Z * d ln w / dt (positive while closing)."""
    return range_m * scale_rate_per_s


def headway_s(range_m: float, ego_speed_mps: float) -> float | None:
    """Time gap to the lead at the ego speed; None when standing still."""
    return range_m / ego_speed_mps if ego_speed_mps > 0.0 else None
