"""The scene around the vehicles: sky, tree line, a three-lane road on flat ground, sensor noise.

The ego car drives along the centre of the middle lane, so everything that depends only on the
lateral position (the road, the verge, the solid edge lines, tyre tracks) is drawn once per clip;
per frame only the asphalt texture and the dashed lane lines move, by the ego's travelled
distance. The asphalt texture is a periodic tile mapped onto the road plane through the camera,
faded with distance (a stand-in for the blur of a real lens) so that it does not shimmer.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fcw.scenarios.camera import PinholeCamera
from fcw.scenarios.kinematics import LANE_WIDTH_M
from fcw.scenarios.road import frame_to_road, road_to_frame


@dataclass(frozen=True)
class RoadLayout:
    lane_width_m: float = LANE_WIDTH_M
    shoulder_m: float = 0.8
    marking_width_m: float = 0.15
    dash_length_m: float = 3.0
    dash_period_m: float = 12.0
    draw_distance_m: float = 300.0
    # False: a road without painted lines (a rural road, snow), for what must work without them.
    markings: bool = True

    @property
    def edge_m(self) -> float:
        """Lateral position of the solid edge lines (three lanes, ego in the middle)."""
        return 1.5 * self.lane_width_m


_TEXEL_M = 0.05
_TILE_LEN_M = 24.0
_TILE_WIDTH_M = 16.0
_NEAR_M = 1.5
_WOODS_CENTRE_PX = 110
_WOODS_BGR = (40, 65, 50)
_WOODS_HAZE = 0.35


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    n = rng.standard_normal(shape).astype(np.float32)
    blurred = cv2.GaussianBlur(n, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return blurred / (blurred.std() + 1e-6)


def _fill(img: np.ndarray, uv: np.ndarray, colour: tuple[float, ...]) -> None:
    pts = np.round(uv * 16).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(img, [pts], colour, cv2.LINE_AA, shift=4)


# On a curve, stripes are polygons through points this far apart in heading (rad), at most.
_CURVE_STEP_RAD = 0.01
# ... and drawn no further round the bend than this heading (rad): beyond it they leave the view.
_CURVE_MAX_RAD = 1.2


def _strip(cam: PinholeCamera, x_m: float, width_m: float, s0_m: float, s1_m: float,
           curvature_per_m: float = 0.0) -> np.ndarray | None:
    """Image polygon of a road-surface stripe from s0 to s1 along the road, centred at x_m."""
    k = abs(curvature_per_m)
    if k > 0:
        s1_m = min(s1_m, _CURVE_MAX_RAD / k)
        if s1_m <= s0_m:
            return None
        s = np.linspace(s0_m, s1_m, max(2, int(np.ceil((s1_m - s0_m) * k / _CURVE_STEP_RAD)) + 1))
    else:
        s = np.array([s0_m, s1_m])
    w = width_m / 2
    # Near left corner, then up the right edge and back down the left one.
    xs = np.concatenate([[x_m - w], np.full(len(s), x_m + w), np.full(len(s) - 1, x_m - w)])
    ss = np.concatenate([s[:1], s, s[:0:-1]])
    gx, gz = road_to_frame(xs, ss, curvature_per_m)
    return cam.project(np.stack([gx, np.full(len(gx), cam.height_m), gz], axis=1))


def _ground_road_xs(cam: PinholeCamera, v_px: np.ndarray, u_px: np.ndarray,
                    curvature_per_m: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward distance Z, road x and road s of the ground seen at each pixel (level camera)."""
    z = np.broadcast_to(cam.ground_range_m(v_px),
                        np.broadcast_shapes(np.shape(v_px), np.shape(u_px)))
    x, s = frame_to_road(cam.ground_x_m(u_px, z), z, curvature_per_m)
    return z, x, s


class World:
    """Per-clip background renderer; deterministic for its seed."""

    def __init__(self, cam: PinholeCamera, seed: int = 0, layout: RoadLayout = RoadLayout(),
                 curvature_per_m: float = 0.0) -> None:
        self.cam, self.layout, self.curvature_per_m = cam, layout, curvature_per_m
        rng = np.random.default_rng([seed, 7919])
        self._horizon = int(np.ceil(cam.cy + 0.5))
        self._static = self._static_background(rng)
        v = np.arange(self._horizon, cam.height, dtype=np.float64)[:, None] + 0.5
        u = np.arange(cam.width, dtype=np.float64)[None, :] + 0.5
        z, x, s = _ground_road_xs(cam, v, u, curvature_per_m)
        self._ground_s = np.where(np.isfinite(s), s, 0.0).astype(np.float32)
        self._map_x = ((x + _TILE_WIDTH_M / 2) / _TEXEL_M).astype(np.float32)
        road = np.abs(x) < layout.edge_m + layout.shoulder_m
        # Texture contrast fades with distance; the verge keeps a little more (grass is rougher).
        self._tex_amp = (np.clip(14.0 / z, 0, 1) * np.where(road, 7.0, 10.0)).astype(np.float32)
        tile = _smooth_noise(rng, (int(_TILE_LEN_M / _TEXEL_M), int(_TILE_WIDTH_M / _TEXEL_M)), 0.8)
        tile += 0.6 * _smooth_noise(rng, tile.shape, 4.0)
        self._tile = tile
        self._sensor_noise = [rng.normal(0, 2.2, (cam.height, cam.width, 3)).astype(np.int16)
                              for _ in range(3)]

    def _static_background(self, rng: np.random.Generator) -> np.ndarray:
        cam, lay = self.cam, self.layout
        H, W, hz = cam.height, cam.width, self._horizon
        img = np.zeros((H, W, 3), np.float32)
        # Sky: pale near the horizon, deeper blue above.
        t = (np.arange(hz, dtype=np.float32) / max(hz - 1, 1))[:, None]
        top, low = np.array([205, 160, 110], np.float32), np.array([235, 222, 210], np.float32)
        img[:hz] = (top * (1 - t) + low * t)[:, None, :]
        # Ground: asphalt within the road, grass beyond, both hazing into the horizon colour.
        v = np.arange(hz, H, dtype=np.float64)[:, None] + 0.5
        u = np.arange(W, dtype=np.float64)[None, :] + 0.5
        z, x, _ = _ground_road_xs(cam, v, u, self.curvature_per_m)
        asphalt = np.array([92, 94, 98], np.float32)
        grass = np.array([62, 112, 92], np.float32)
        road = (np.abs(x) < lay.edge_m + lay.shoulder_m)[..., None]
        ground = np.where(road, asphalt, grass).astype(np.float32)
        # Tyre tracks: slightly darker bands in each lane.
        lane_pos = np.mod(x + lay.lane_width_m / 2, lay.lane_width_m) - lay.lane_width_m / 2
        tracks = np.exp(-((np.abs(lane_pos) - 0.8) / 0.3) ** 2) * (np.abs(x) < lay.edge_m)
        ground *= (1 - 0.07 * tracks)[..., None].astype(np.float32)
        haze = (1 - np.exp(-z / 350.0)).astype(np.float32)[..., None]
        img[hz:] = ground * (1 - haze) + low * 0.92 * haze
        out = np.clip(img, 0, 255).astype(np.uint8)
        # Woods and hills behind the verge: a real roadside is busy, and detectors trained on
        # real photographs read a car against an empty horizon as something else.
        self._draw_woods(out, rng)
        for s, colour in ((-1, (70, 190, 215)), (1, (228, 228, 228))) if lay.markings else ():
            uv = _strip(cam, s * lay.edge_m, lay.marking_width_m, _NEAR_M, lay.draw_distance_m,
                        self.curvature_per_m)
            if uv is not None:
                _fill(out, uv, colour)
        return out

    def _draw_woods(self, img: np.ndarray, rng: np.random.Generator) -> None:
        cam, hz = self.cam, self._horizon
        W = cam.width
        u = np.arange(W, dtype=np.float64)
        edge = np.abs(u - cam.cx) / cam.cx
        scale = cam.height / 720.0
        height = scale * (_WOODS_CENTRE_PX + 130 * edge ** 1.5
                          + 22 * _smooth_noise(rng, (1, W), 25.0)[0]
                          + 10 * _smooth_noise(rng, (1, W), 4.0)[0])
        top = int(max(hz - height.max() - 40 * scale, 0))
        rows = np.arange(top, hz, dtype=np.float64)[:, None]
        mask = (hz - rows) < height[None, :]
        # Crowns: round bumps along the canopy line.
        canopy = np.zeros((hz - top, W), np.uint8)
        for _ in range(int(W / 12)):
            x = int(rng.integers(W))
            r = int(scale * (8 + 18 * edge[x] + rng.integers(6)))
            cv2.circle(canopy, (x, int(hz - height[x] - top)), r, 255, -1, cv2.LINE_AA)
        mask = np.maximum(mask * 255.0, canopy.astype(np.float64)) / 255.0
        leaf = (0.6 * _smooth_noise(rng, mask.shape, 1.2) + _smooth_noise(rng, mask.shape, 5.0))
        shade = np.clip(0.75 + 0.18 * leaf, 0.35, 1.3)
        green = np.array(_WOODS_BGR, np.float64)
        wood = green[None, None, :] * shade[..., None]
        # Distant trees fade into the sky colour.
        haze = np.clip(1 - edge, 0, 1)[None, :, None] * _WOODS_HAZE
        wood = wood * (1 - haze) + np.array([200, 200, 195]) * haze
        roi = img[top:hz].astype(np.float64)
        m = mask[..., None]
        img[top:hz] = np.clip(roi * (1 - m) + wood * m, 0, 255).astype(np.uint8)

    def render(self, ego_travel_m: float) -> np.ndarray:
        """A fresh background image for the ego having travelled ego_travel_m since t = 0."""
        cam, lay, hz = self.cam, self.layout, self._horizon
        img = self._static.copy()
        map_y = np.mod(self._ground_s + np.float32(ego_travel_m % _TILE_LEN_M),
                       _TILE_LEN_M) / _TEXEL_M
        tex = cv2.remap(self._tile, self._map_x, map_y.astype(np.float32), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_WRAP)
        ground = img[hz:].astype(np.float32) + (tex * self._tex_amp)[..., None]
        img[hz:] = np.clip(ground, 0, 255).astype(np.uint8)
        first = np.floor((ego_travel_m + _NEAR_M) / lay.dash_period_m) * lay.dash_period_m
        for k in range(int(lay.draw_distance_m / lay.dash_period_m) + 2 if lay.markings else 0):
            start = first + k * lay.dash_period_m - ego_travel_m
            z0, z1 = max(start, _NEAR_M), start + lay.dash_length_m
            if z1 <= z0:
                continue
            for s in (-1, 1):
                uv = _strip(cam, s * lay.lane_width_m / 2, lay.marking_width_m, z0, z1,
                            self.curvature_per_m)
                if uv is not None:
                    _fill(img, uv, (222, 222, 222))
        return img

    def finish(self, img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Lens softness and sensor noise over the composed frame."""
        img = cv2.GaussianBlur(img, (3, 3), 0.6)
        noise = self._sensor_noise[int(rng.integers(len(self._sensor_noise)))]
        dy, dx = int(rng.integers(img.shape[0])), int(rng.integers(img.shape[1]))
        # The noise is drawn for this world's canvas, which a mounted camera's image fits inside.
        noise = np.roll(noise, (dy, dx), axis=(0, 1))[:img.shape[0], :img.shape[1]]
        return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
