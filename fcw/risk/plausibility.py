"""Is the lead a vehicle standing on the road? The checks its TTC must pass before it may warn.

On real roads (issue 16) the false warnings came from leads that were no vehicle: a box on the
road's texture, still "growing" under the key-image alignment after the detector had lost it; a
car in the next lane cut by the frame's edge, growing as it entered the picture; a 15 px box at
the vanishing point. Each fails one of these checks:

- **supported**: the detector matched the track within ``max_unmatched_s``;
- **mature**: the track is older than the time its filter needs to measure a rate;
- **inside the frame**: the box is not cut by an edge of the frame;
- **on the road** (flat ground, Dagan, Mano, Stein, Shashua 2004): a box whose bottom row y_b is
  below the horizon row y_h is at range Z = f h / (y_b - y_h) for a camera h above the road, so
  its physical width is W = h w / (y_b - y_h), which must be a vehicle's; the horizon's
  uncertainty widens the range of W the box allows;
- **upright**: its physical height h (y_b - y_t) / (y_b - y_h) must be a vehicle's too (a box
  on the lit road at night or on a far speck of the road's texture is as wide as a car, but
  flat);
- **rates agree**: the scale rate d ln w/dt is read independently from the box's width, its
  bottom edge (d ln(y_b - y_h)/dt, which on flat ground is also -Zdot/Z) and the image
  alignment; a reading they do not agree on is not a vehicle closing in (a lorry alongside grows
  in width as its side comes into view while its bottom edge hardly moves), and a reading the
  box alone gives is unconfirmed: the box width's and the bottom edge's rates both follow the
  detector's box, which grows as much when it jumps between two outlines of a near car, or
  slides onto the side of a lorry being passed; the image alignment reads the pixels. Nor is a
  reading confirmed by estimates that are merely there: those besides the surest, pooled, must
  themselves read closing (on a 17 px far car the alignment drifted to a TTC of 2.6 s while the
  box kept its width to a tenth of a pixel).

All functions are pure.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fcw.config import PlausibilityConfig


@dataclass(frozen=True)
class RateEstimate:
    """One reading of d ln(scale)/dt: ``rate_per_s`` (1/s) and its variance ``var`` (1/s^2)."""

    source: str
    rate_per_s: float
    var: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate_per_s) and math.isfinite(self.var) and self.var > 0.0):
            raise ValueError(f"RateEstimate {self.source}: rate and a positive variance must be "
                             f"finite, got {self.rate_per_s}, {self.var}")


@dataclass(frozen=True)
class CombinedRate:
    """The estimates taken together. ``rate_per_s``: the first estimate's, the caller's surest
    single estimator (the image alignment when it runs, else the tracker's box width): the
    estimates share the detector's boxes, so a mean of them would not be as sure as an
    inverse-variance mean says. ``var``: its variance inflated by the reduced chi-square
    ``chi2_per_dof`` of all the estimates about their inverse-variance mean when above 1 (they
    disagree more than their own variances allow: none is as sure as it says). ``sources``: the
    estimates' names, in order."""

    rate_per_s: float
    var: float
    chi2_per_dof: float
    sources: tuple[str, ...]

    def agree(self, max_sigma: float) -> bool:
        return self.chi2_per_dof <= max_sigma * max_sigma


def combine_rates(estimates: list[RateEstimate]) -> CombinedRate:
    if not estimates:
        raise ValueError("combine_rates needs at least one estimate")
    rates = np.array([e.rate_per_s for e in estimates])
    weights = 1.0 / np.array([e.var for e in estimates])
    mean = float(np.sum(weights * rates) / np.sum(weights))
    dof = len(estimates) - 1
    chi2_per_dof = float(np.sum(weights * (rates - mean) ** 2) / dof) if dof else 0.0
    primary = estimates[0]
    return CombinedRate(primary.rate_per_s, primary.var * max(1.0, chi2_per_dof), chi2_per_dof,
                        tuple(e.source for e in estimates))


def log_rate_now(source: str, t_s: np.ndarray, values_px: np.ndarray, offset_px: float = 0.0,
                 offset_sigma_px: float = 0.0, min_noise_px: float = 1.0, k_sigma: float = 2.0,
                 min_samples: int = 5) -> RateEstimate | None:
    """d ln(v - offset)/dt (1/s) at the newest sample of a window, with its variance.

    For a box's width (offset 0) this is the scale rate; for its bottom row with the horizon
    row as offset it is d ln(y_b - y_h)/dt, which on flat ground is also -Zdot/Z (Dagan et al.
    2004). A parabola through ln(v - offset) against time, its slope taken at the newest sample:
    a straight line would give the mean rate over the window, which lags a braking lead by half
    the window. The slope's variance comes from the residuals (a jittery box or a bumpy road
    shows there), never below ``min_noise_px`` of noise per sample, plus the offset's
    uncertainty: an error e in it scales the slope by D / (D - e) with D = v - offset, so one
    sigma changes it by r sigma / (D - sigma). None with fewer than ``min_samples`` samples, or
    a value within ``k_sigma`` offset sigmas of the offset (a bottom row near the horizon says
    nothing sure about range).
    """
    t = np.asarray(t_s, float)
    span_px = np.asarray(values_px, float) - float(offset_px)
    floor_px = max(1.0, k_sigma * float(offset_sigma_px))
    if len(t) < max(min_samples, 4):
        return None
    if not (np.isfinite(span_px).all() and span_px.min() > floor_px):
        return None
    dt = t - t[-1]
    if np.ptp(dt) <= 0.0:
        return None
    X = np.column_stack([np.ones_like(dt), dt, dt * dt])
    ln_span = np.log(span_px)
    coef, *_ = np.linalg.lstsq(X, ln_span, rcond=None)
    # Residuals in pixels (d ln v = dv / v), so the floor is a pixel count at any size.
    resid_px = (ln_span - X @ coef) * span_px
    noise_px = max(float(np.sqrt(resid_px @ resid_px / (len(t) - 3))), min_noise_px)
    rate = float(coef[1])
    XtX_inv = np.linalg.pinv(X.T @ X)
    var = float(XtX_inv[1, 1]) * (noise_px / float(span_px[-1])) ** 2
    if offset_sigma_px > 0.0:
        var += (rate * offset_sigma_px / (float(span_px[-1]) - offset_sigma_px)) ** 2
    return RateEstimate(source, rate, max(var, 1e-12))


def others_read_closing(estimates: list[RateEstimate], k_sigma: float) -> bool:
    """Whether the estimates after the first (the surest, which the TTC reports), pooled by
    inverse variance, read a closing rate ``k_sigma`` of their pooled sigma above zero: the
    reading is confirmed by what they say, not by their being there. False with none."""
    others = estimates[1:]
    if not others:
        return False
    weights = np.array([1.0 / e.var for e in others])
    mean = float(np.sum(weights * np.array([e.rate_per_s for e in others])) / np.sum(weights))
    return mean > k_sigma / math.sqrt(float(np.sum(weights)))


def ground_width_range_m(width_px: float, y_bottom_px: float, horizon_y_px: float,
                         horizon_sigma_px: float, camera_height_m: float,
                         k_sigma: float) -> tuple[float, float] | None:
    """(least, most) physical width W = h w / (y_b - y_h) (m) of a box standing on a flat road,
    with the horizon anywhere within ``k_sigma`` sigma; None when the box's bottom is above the
    horizon even then (it cannot touch the road). The most is infinite when the horizon may be
    at or below the bottom row. A box's height in pixels gives its physical height the same
    way: any length in the plane of its rear scales as h / (y_b - y_h)."""
    drop_px = float(y_bottom_px) - float(horizon_y_px)
    slack_px = k_sigma * float(horizon_sigma_px)
    if drop_px + slack_px <= 0.0:
        return None
    lo = camera_height_m * width_px / (drop_px + slack_px)
    hi = camera_height_m * width_px / (drop_px - slack_px) if drop_px > slack_px else math.inf
    return lo, hi


def cut_by_edge(xyxy: np.ndarray, width_px: int, height_px: int, margin_frac: float) -> bool:
    """Whether the box reaches within ``margin_frac`` of the frame's size of any of its edges."""
    return cut_by_side(xyxy, width_px, height_px, margin_frac) or cut_by_bottom(
        xyxy, height_px, margin_frac)


def cut_by_side(xyxy: np.ndarray, width_px: int, height_px: int, margin_frac: float) -> bool:
    """Whether the box reaches the left, right or top edge: then its width is not the vehicle's
    (a car entering the picture from the side grows as it comes into view)."""
    x1, y1, x2, _ = (float(v) for v in xyxy)
    mx, my = margin_frac * width_px, margin_frac * height_px
    return x1 <= mx or y1 <= my or x2 >= width_px - mx


def cut_by_bottom(xyxy: np.ndarray, height_px: int, margin_frac: float) -> bool:
    """Whether the box reaches the bottom edge: a close lead in a queue whose wheels the bonnet
    or the frame hides. Its width is still its rear's, but its bottom row is not where it
    stands, so the ground-plane checks can only bound it."""
    return float(xyxy[3]) >= height_px - margin_frac * height_px


@dataclass(frozen=True)
class Plausibility:
    """Which checks the lead passed (see the module's docstring). ``width_range_m``: the physical
    widths its box allows (m), None when it cannot stand on the road. ``rate``: the pooled scale
    rate, None when no estimate was finite."""

    supported: bool
    mature: bool
    inside_frame: bool
    on_road: bool
    upright: bool
    rates_agree: bool
    rates_confirmed: bool
    width_range_m: tuple[float, float] | None
    rate: CombinedRate | None

    @property
    def ok(self) -> bool:
        return self.reason is None

    @property
    def reason(self) -> str | None:
        """The first check failed, in the order a user would look for it; None when all passed."""
        for passed, why in ((self.supported, "coasting"), (self.mature, "young_track"),
                            (self.inside_frame, "cut_by_edge"), (self.on_road, "not_vehicle_width"),
                            (self.upright, "not_vehicle_height"),
                            (self.rates_agree, "rates_disagree"),
                            (self.rate is not None, "no_rate"),
                            (self.rates_confirmed, "unconfirmed_rate")):
            if not passed:
                return why
        return None


def check_lead(xyxy: np.ndarray, frame_size_px: tuple[int, int], since_match_s: float | None,
               age_s: float | None, horizon_y_px: float, horizon_sigma_px: float,
               camera_height_m: float, estimates: list[RateEstimate], min_track_age_s: float,
               cfg: PlausibilityConfig, confirm_with: str | None = None) -> Plausibility:
    """Judge the lead's box ``xyxy`` (x1, y1, x2, y2 px) in a frame of ``frame_size_px`` (width,
    height). ``since_match_s`` / ``age_s``: None when the tracks do not say (hand-built tracks),
    which passes those checks. ``horizon_y_px``: the horizon's row at the box's column.
    ``confirm_with``: the estimate a reading needs besides at least one other to be confirmed
    (the image alignment when it runs: the box width's and bottom edge's rates come from the
    same detector boxes, so a box that jumps moves both); None: any two."""
    xyxy = np.asarray(xyxy, float)
    finite = bool(np.isfinite(xyxy).all())
    width_px = float(xyxy[2] - xyxy[0]) if finite else math.nan
    widths = (ground_width_range_m(width_px, float(xyxy[3]), horizon_y_px, horizon_sigma_px,
                                   camera_height_m, cfg.horizon_k_sigma) if finite else None)
    tol = cfg.box_width_tolerance_frac
    # A box cut by the bottom edge stands lower than its bottom row, so the widths above are
    # upper bounds of its physical width: only "wide enough" can be checked.
    bottom_cut = finite and cut_by_bottom(xyxy, frame_size_px[1], cfg.edge_margin_frac)
    on_road = (widths is not None and (bottom_cut or widths[0] <= cfg.max_width_m * (1.0 + tol))
               and widths[1] >= cfg.min_width_m * (1.0 - tol))
    # A box cut by the bottom edge has lost part of its height and its footing: not judged.
    heights = (ground_width_range_m(float(xyxy[3] - xyxy[1]), float(xyxy[3]), horizon_y_px,
                                    horizon_sigma_px, camera_height_m, cfg.horizon_k_sigma)
               if finite and not bottom_cut else None)
    upright = bottom_cut or (heights is not None
                             and heights[0] <= cfg.max_height_m * (1.0 + tol)
                             and heights[1] >= cfg.min_height_m * (1.0 - tol))
    rate = combine_rates(estimates) if estimates else None
    return Plausibility(
        supported=since_match_s is None or since_match_s <= cfg.max_unmatched_s,
        mature=age_s is None or age_s >= min_track_age_s,
        inside_frame=finite and not cut_by_side(xyxy, *frame_size_px, cfg.edge_margin_frac),
        on_road=on_road,
        upright=upright,
        rates_agree=rate is None or rate.agree(cfg.max_rate_disagreement_sigma),
        rates_confirmed=(rate is not None and len(rate.sources) >= 2
                         and (confirm_with is None or confirm_with in rate.sources)
                         and others_read_closing(estimates, cfg.confirm_k_sigma)),
        width_range_m=widths,
        rate=rate,
    )
