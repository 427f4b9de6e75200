"""A passenger car seen from behind, modelled in 3D and drawn with anti-aliased OpenCV polygons.

Vehicle coordinates (m): x across from the car's centre line (+ right), h up from the road, d
forward from the rear face. The car is 1.8 m wide (``WIDTH_M``), 1.5 m tall and 4.5 m long: a
lower body with a chamfered rear edge, a tapering cabin with a slanted rear window, tail lights,
a number plate, a dark bumper, tyres and a contact shadow. Faces are drawn back to front for a
camera behind the car, and a face is skipped when it faces away from the camera, so a car in the
next lane shows its side.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fcw.scenarios.camera import NEAR_M, PinholeCamera
from fcw.scenarios.road import heading_rad, place

WIDTH_M = 1.8
HEIGHT_M = 1.5
LENGTH_M = 4.5

_HW = WIDTH_M / 2
_BODY_BOTTOM = 0.32
_BODY_TOP = 0.98
_CABIN_D0, _CABIN_D1, _CABIN_D2, _CABIN_D3 = 0.45, 1.05, 2.6, 3.3
_CABIN_HW0, _CABIN_HW1 = 0.81, 0.63    # cabin half-width at its base and at the roof
_TYRE_X0, _TYRE_X1 = 0.62, 0.86
_MIRROR_M, _MIRROR_D = 0.16, 3.0    # door mirrors: reach beyond the body, distance from the rear
_TYRE_R = 0.33
_REAR_AXLE_D, _FRONT_AXLE_D = 0.85, 3.65

# Body colours, BGR: white, silver, red, dark grey, blue, black, beige.
BODY_COLOURS: tuple[tuple[int, int, int], ...] = (
    (228, 228, 226), (178, 178, 172), (38, 36, 170), (72, 72, 74), (135, 72, 28), (34, 34, 36),
    (150, 178, 196),
)
# Contact shadow as blended layers: (strength, half-width m, margin behind the rear face m).
_SHADOW_LAYERS = ((0.3, 1.0, 0.12), (0.5, 0.95, 0.0), (0.75, 0.85, -0.1))
_GLASS = np.array([34, 32, 30], np.float64)
_SKY_TINT = np.array([210, 190, 170], np.float64)


@dataclass(frozen=True)
class _Face:
    points: np.ndarray          # (N, 3) vehicle coordinates x, h, d
    colour: np.ndarray          # BGR float
    normal: np.ndarray | None   # outward (x, h, d); None: always drawn
    curved: bool = False        # shade as a gently curved panel (darker edges and bottom)


def _q(*pts: tuple[float, float, float]) -> np.ndarray:
    return np.array(pts, dtype=np.float64)


def _rounded_rect(r_top: tuple[float, float], r_bottom: tuple[float, float],
                  n: int = 6) -> np.ndarray:
    """Outline of the square [-1, 1] x [0, 1] (s across, u up) with elliptic corner arcs.

    r_top / r_bottom: (radius in s, radius in u) of the upper / lower corners.
    """
    pts = []
    corners = (((1, 0), r_bottom, -np.pi / 2), ((1, 1), r_top, 0.0), ((-1, 1), r_top, np.pi / 2),
               ((-1, 0), r_bottom, np.pi))
    for (cs, cu), (rs, ru), a0 in corners:
        centre = (cs - np.sign(cs) * rs, cu + (ru if cu == 0 else -ru))
        for a in np.linspace(a0, a0 + np.pi / 2, n):
            pts.append((centre[0] + rs * np.cos(a), centre[1] + ru * np.sin(a)))
    return np.array(pts)


def hull_points() -> np.ndarray:
    """(N, 3) vehicle-coordinate points whose image bounds are the car's labelled box."""
    pts = []
    for x in (-_HW, _HW):
        for h in (_BODY_BOTTOM, _BODY_TOP):
            for d in (0.0, LENGTH_M):
                pts.append((x, h, d))
        for d in (_CABIN_D1, _CABIN_D2):
            pts.append((np.sign(x) * _CABIN_HW1, HEIGHT_M, d))
        for d in (_REAR_AXLE_D - 0.3, _FRONT_AXLE_D - 0.3, _FRONT_AXLE_D + 0.3):
            pts.append((np.sign(x) * _TYRE_X1, 0.0, d))
    return np.array(pts, dtype=np.float64)


def to_camera(points_vhd: np.ndarray, offset_m: float, range_m: float,
              camera_height_m: float, curvature_per_m: float = 0.0) -> np.ndarray:
    """Vehicle coordinates -> road-frame points (``camera.py``) for a car whose rear face is
    range_m ahead along the road and offset_m across, aligned with the road there."""
    return place(points_vhd, offset_m, range_m, curvature_per_m, camera_height_m)


def clip_near(pc: np.ndarray) -> np.ndarray:
    """A camera-frame polygon (N, 3) cut to the part in front of the near plane (may be empty)."""
    out = []
    for a, b in zip(pc, np.roll(pc, -1, axis=0)):
        if a[2] >= NEAR_M:
            out.append(a)
        if (a[2] >= NEAR_M) != (b[2] >= NEAR_M):
            out.append(a + (b - a) * (NEAR_M - a[2]) / (b[2] - a[2]))
    return np.array(out).reshape(-1, 3)


def _clip_hull(pc: np.ndarray) -> np.ndarray:
    """The points whose convex hull is the convex hull of ``pc`` cut by the near plane."""
    front = pc[:, 2] >= NEAR_M
    a, b = pc[front], pc[~front]
    if not len(a) or not len(b):
        return a
    # Every edge of the cut hull's new face lies on a segment from a point in front to one behind.
    t = ((NEAR_M - a[:, None, 2]) / (b[None, :, 2] - a[:, None, 2]))[..., None]
    cut = a[:, None, :] + (b[None, :, :] - a[:, None, :]) * t
    return np.concatenate([a, cut.reshape(-1, 3)])


def vehicle_box(cam: PinholeCamera, offset_m: float, range_m: float,
                curvature_per_m: float = 0.0) -> np.ndarray | None:
    """The car's image box (x1, y1, x2, y2) clipped to the frame, or None when not visible.

    A car partly behind the lens (overtaking from behind) is cut at the near plane, so its box
    is what the image shows of it: cut by the frame's edge.
    """
    pc = _clip_hull(cam.to_camera_frame(to_camera(hull_points(), offset_m, range_m, cam.height_m,
                                                  curvature_per_m)))
    if not len(pc):
        return None
    uv = cam.project_camera_frame(pc)
    frame = np.array([[0, 0], [cam.width, 0], [cam.width, cam.height], [0, cam.height]], np.float64)
    lo, hi = uv.min(axis=0), uv.max(axis=0)
    if np.any(lo < 0) or np.any(hi > frame[2]):
        # Cut by the frame: the box bounds the part of the silhouette inside it, which for a car
        # half behind the lens is not the silhouette's bounds clipped to the frame.
        hull = cv2.convexHull(uv.astype(np.float32))
        area, inside = cv2.intersectConvexConvex(hull, frame.astype(np.float32))
        if area <= 0 or inside is None:
            return None
        lo, hi = inside.reshape(-1, 2).min(axis=0), inside.reshape(-1, 2).max(axis=0)
    x1, y1 = np.clip(lo, 0, frame[2])
    x2, y2 = np.clip(hi, 0, frame[2])
    if x2 - x1 < 1.0 or y2 - y1 < 1.0:
        return None
    return np.array([x1, y1, x2, y2], np.float64)


def _shade(base: np.ndarray, k: float, toward: np.ndarray | None = None,
           mix: float = 0.0) -> np.ndarray:
    c = base * k
    if toward is not None:
        c = c * (1 - mix) + toward * mix
    return np.clip(c, 0, 255)


def _rear_panel(s: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Rear body panel: param (s across in [-1, 1], u up in [0, 1]) -> (x, h, d)."""
    h = _BODY_BOTTOM + (_BODY_TOP - _BODY_BOTTOM) * u
    return np.stack([s * _HW, h, np.zeros_like(s)], axis=1)


def _cabin_panel(s: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The cabin's slanted rear: param (s, u) -> (x, h, d), narrowing towards the roof."""
    hw = _CABIN_HW0 + (_CABIN_HW1 - _CABIN_HW0) * u
    return np.stack([s * hw, _BODY_TOP + (HEIGHT_M - _BODY_TOP) * u,
                     _CABIN_D0 + (_CABIN_D1 - _CABIN_D0) * u], axis=1)


def _faces(body: np.ndarray) -> list[_Face]:
    """The car's faces in drawing order (far and low first)."""
    f: list[_Face] = []
    dark = np.array([22, 22, 24], np.float64)
    tyre = np.array([28, 28, 30], np.float64)
    tyre_top = 2 * _TYRE_R
    for s in (-1, 1):
        # Front tyres first: only a laterally offset car shows them.
        for axle in (_FRONT_AXLE_D, _REAR_AXLE_D):
            d0, d1 = axle - 0.3, axle + 0.3
            xo, xi = s * _TYRE_X1, s * _TYRE_X0
            f.append(_Face(_q((xo, 0, d0), (xo, 0, d1), (xo, tyre_top, d1), (xo, tyre_top, d0)),
                           tyre * 1.3, np.array([s, 0, 0.0])))
            f.append(_Face(_q((xi, 0, d0), (xo, 0, d0), (xo, tyre_top, d0), (xi, tyre_top, d0)),
                           tyre, np.array([0, 0, -1.0])))
    for s in (-1, 1):
        x = s * _HW
        f.append(_Face(_q((x, _BODY_BOTTOM + 0.04, 0.1), (x, _BODY_BOTTOM + 0.04, LENGTH_M - 0.1),
                          (x, _BODY_TOP - 0.06, LENGTH_M - 0.2), (x, _BODY_TOP - 0.06, 0.1)),
                       _shade(body, 0.68), np.array([s, 0, 0.0])))
        # Side windows: the cabin flank, leaning inwards.
        f.append(_Face(_q((s * _CABIN_HW0, _BODY_TOP, _CABIN_D0),
                          (s * _CABIN_HW1, HEIGHT_M, _CABIN_D1),
                          (s * _CABIN_HW1, HEIGHT_M, _CABIN_D2),
                          (s * _CABIN_HW0, _BODY_TOP, _CABIN_D3)),
                       _shade(_GLASS, 1.2, _SKY_TINT, 0.12), np.array([s, 0.35, 0])))
    # Door mirrors stick out beyond the body: they widen the silhouette as on real cars.
    for s in (-1, 1):
        xi, xo = s * (_HW - 0.02), s * (_HW + _MIRROR_M)
        f.append(_Face(_q((xi, 0.98, _MIRROR_D), (xo, 1.0, _MIRROR_D), (xo, 1.13, _MIRROR_D),
                          (xi, 1.12, _MIRROR_D)), _shade(body, 0.8), None, curved=True))
    # Trunk lid and shoulders, lit by the sky.
    f.append(_Face(_q((-_HW + 0.08, _BODY_TOP, 0.05), (_HW - 0.08, _BODY_TOP, 0.05),
                      (_HW - 0.08, _BODY_TOP, LENGTH_M - 0.2),
                      (-_HW + 0.08, _BODY_TOP, LENGTH_M - 0.2)),
                   _shade(body, 0.97, _SKY_TINT, 0.25), np.array([0, 1.0, 0])))
    # Cabin rear: rounded, body-coloured pillars around a slanted dark rear window.
    sv, uv = _rounded_rect((0.22, 0.35), (0.02, 0.02)).T
    f.append(_Face(_cabin_panel(sv, uv), _shade(body, 0.95, _SKY_TINT, 0.1),
                   np.array([0, 0.6, -0.5]), curved=True))
    sv, uv = _rounded_rect((0.2, 0.3), (0.12, 0.2)).T
    f.append(_Face(_cabin_panel(sv * 0.86, 0.1 + uv * 0.8), _GLASS, np.array([0, 0.6, -0.5]),
                   curved=True))
    # Rear body panel with rounded upper corners.
    sv, uv = _rounded_rect((0.1, 0.22), (0.04, 0.08)).T
    f.append(_Face(_rear_panel(sv, uv), _shade(body, 0.9), np.array([0, 0, -1.0]), curved=True))
    # A bright crease along the top edge, where the panel turns into the trunk lid.
    f.append(_Face(_q((-_HW + 0.16, 0.93, -0.005), (_HW - 0.16, 0.93, -0.005),
                      (_HW - 0.18, 0.955, -0.005), (-_HW + 0.18, 0.955, -0.005)),
                   _shade(body, 1.1, _SKY_TINT, 0.45), None))
    # Black lower valance with a crease above it.
    f.append(_Face(_q((-_HW + 0.05, _BODY_BOTTOM, -0.01), (_HW - 0.05, _BODY_BOTTOM, -0.01),
                      (_HW - 0.03, 0.36, -0.01), (-_HW + 0.03, 0.36, -0.01)), dark * 1.5, None))
    f.append(_Face(_q((-_HW + 0.05, 0.47, -0.01), (_HW - 0.05, 0.47, -0.01),
                      (_HW - 0.05, 0.485, -0.01), (-_HW + 0.05, 0.485, -0.01)),
                   _shade(body, 0.6), None))
    red, red_core = np.array([34, 30, 185], np.float64), np.array([90, 100, 250], np.float64)
    for s in (-1, 1):
        xo, xi = s * (_HW - 0.015), s * (_HW - 0.42)
        f.append(_Face(_q((xo, 0.64, -0.01), (xi, 0.69, -0.01), (xi, 0.84, -0.01),
                          (xo, 0.86, -0.01)), red, None))
        f.append(_Face(_q((s * (_HW - 0.06), 0.75, -0.012), (s * (_HW - 0.34), 0.77, -0.012),
                          (s * (_HW - 0.34), 0.81, -0.012), (s * (_HW - 0.06), 0.81, -0.012)),
                       red_core, None))
        # Tail lights wrap round the corner onto the side.
        f.append(_Face(_q((xo, 0.66, 0.05), (xo, 0.68, 0.3), (xo, 0.84, 0.28), (xo, 0.86, 0.05)),
                       red * 0.8, np.array([s, 0, 0.0])))
    # Number plate with a dark rim and a few characters.
    f.append(_Face(_q((-0.27, 0.51, -0.012), (0.27, 0.51, -0.012), (0.27, 0.64, -0.012),
                      (-0.27, 0.64, -0.012)), dark * 2, None))
    f.append(_Face(_q((-0.25, 0.52, -0.014), (0.25, 0.52, -0.014), (0.25, 0.63, -0.014),
                      (-0.25, 0.63, -0.014)), np.array([215, 220, 222.0]), None))
    for i in range(6):
        x0 = -0.21 + i * 0.072
        f.append(_Face(_q((x0, 0.54, -0.016), (x0 + 0.045, 0.54, -0.016),
                          (x0 + 0.045, 0.61, -0.016), (x0, 0.61, -0.016)), dark * 2, None))
    # High-mounted brake light at the top of the rear window.
    u = 0.93
    (x, h, d), = _cabin_panel(np.array([0.0]), np.array([u]))
    f.append(_Face(_q((-0.16, h - 0.015, d - 0.02), (0.16, h - 0.015, d - 0.02),
                      (0.16, h + 0.01, d), (-0.16, h + 0.01, d)), red * 0.9, None))
    return f


def _fill(img: np.ndarray, uv: np.ndarray, colour: np.ndarray) -> None:
    pts = np.round(uv * 16).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(img, [pts], tuple(float(c) for c in colour), cv2.LINE_AA, shift=4)


def _fill_curved(img: np.ndarray, uv: np.ndarray, colour: np.ndarray) -> None:
    """Fill a panel with shading that suggests curvature: darker towards the sides and bottom,
    with a soft sheen in the upper middle. The panels are near-planar, so normalised image
    coordinates within the panel's box stand in for panel coordinates."""
    lo = np.floor(uv.min(axis=0)).astype(int)
    hi = np.ceil(uv.max(axis=0)).astype(int) + 1
    x0, y0 = max(lo[0], 0), max(lo[1], 0)
    x1, y1 = min(hi[0], img.shape[1]), min(hi[1], img.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    _fill(mask, uv - [x0, y0], np.array([255.0]))
    xn = ((np.arange(x0, x1) + 0.5 - uv[:, 0].min()) / max(np.ptp(uv[:, 0]), 1e-6))[None, :] * 2 - 1
    yn = ((np.arange(y0, y1) + 0.5 - uv[:, 1].min()) / max(np.ptp(uv[:, 1]), 1e-6))[:, None]
    k = 1.0 - 0.22 * np.abs(xn) ** 3 - 0.14 * yn + 0.1 * np.exp(-((yn - 0.25) / 0.12) ** 2)
    shaded = np.clip(colour[None, None, :] * k[..., None], 0, 255)
    m = (mask.astype(np.float32) / 255.0)[..., None]
    roi = img[y0:y1, x0:x1]
    roi[:] = (roi * (1 - m) + shaded * m).astype(np.uint8)


def _project_clipped(cam: PinholeCamera, points_road: np.ndarray) -> np.ndarray | None:
    pc = clip_near(cam.to_camera_frame(points_road))
    return cam.project_camera_frame(pc) if len(pc) >= 3 else None


def _draw_shadow(img: np.ndarray, cam: PinholeCamera, offset_m: float, range_m: float,
                 curvature_per_m: float) -> None:
    """Soft contact shadow on the road: blended layers that darken towards the car's centre."""
    uv_all = []
    for strength, hw, margin in _SHADOW_LAYERS:
        pts = _q((-hw, 0, -margin), (hw, 0, -margin), (hw, 0, LENGTH_M + margin),
                 (-hw, 0, LENGTH_M + margin))
        uv = _project_clipped(cam, to_camera(pts, offset_m, range_m, cam.height_m, curvature_per_m))
        if uv is not None:
            uv_all.append((strength, uv))
    if not uv_all:
        return
    lo = np.floor(np.min([uv.min(axis=0) for _, uv in uv_all], axis=0)).astype(int) - 1
    hi = np.ceil(np.max([uv.max(axis=0) for _, uv in uv_all], axis=0)).astype(int) + 2
    x0, y0 = max(lo[0], 0), max(lo[1], 0)
    x1, y1 = min(hi[0], img.shape[1]), min(hi[1], img.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.float32)
    for strength, uv in uv_all:
        # Anti-aliased filling needs 8-bit images, so each layer is drawn as a 0..255 coverage.
        layer = np.zeros(mask.shape, np.uint8)
        _fill(layer, uv - [x0, y0], np.array([255.0 * strength]))
        mask = 1 - (1 - mask) * (1 - layer.astype(np.float32) / 255.0)
    roi = img[y0:y1, x0:x1]
    roi[:] = (roi * (1 - mask[..., None] * 0.85)).astype(np.uint8)


def draw_vehicle(img: np.ndarray, cam: PinholeCamera, offset_m: float, range_m: float,
                 style: int = 0, curvature_per_m: float = 0.0) -> None:
    """Draw a car whose rear face is range_m ahead and offset_m to the right, in place."""
    if vehicle_box(cam, offset_m, range_m, curvature_per_m) is None:
        return
    _draw_shadow(img, cam, offset_m, range_m, curvature_per_m)
    body = np.array(BODY_COLOURS[style % len(BODY_COLOURS)], np.float64)
    a = float(heading_rad(range_m, curvature_per_m))
    c, sn = np.cos(a), np.sin(a)
    lens = np.array([cam.offset_m, 0.0, 0.0])
    for face in _faces(body):
        p = to_camera(face.points, offset_m, range_m, cam.height_m, curvature_per_m)
        if face.normal is not None:
            nx, nh, nd = face.normal
            n = np.array([nx * c + nd * sn, -nh, -nx * sn + nd * c])
            if float(n @ (p.mean(axis=0) - lens)) >= 0:
                continue
        uv = _project_clipped(cam, p)
        if uv is not None:
            (_fill_curved if face.curved else _fill)(img, uv, face.colour)
