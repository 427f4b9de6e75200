"""A pinhole dashcam over the road, mounted as real ones are, for rendering and ground truth.

Road frame, metres: X to the right of the ego lane's centre line, Y down from the camera's
height (so the road is the plane Y = ``height_m``), Z forward along the road, origin under the
camera's longitudinal position. Every caller (vehicles, road, signals) places points in this
frame; ``project`` applies the mount: the camera sits ``offset_m`` to the right of the lane
centre, turned by ``yaw_deg`` (to the right), then pitched by ``pitch_deg`` (down), then rolled by
``roll_deg`` about its optical axis (positive: the horizon rises to the right in the image).
Pixels: u to the right, v down, (0, 0) the top-left corner of the top-left pixel; the principal
point is the image centre. With a zero pose the horizon is the row ``cy``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TypedDict

import numpy as np

# Points nearer than this in front of the lens are cut off (a real lens sees nothing closer).
NEAR_M = 0.3


class MountRecord(TypedDict):
    """A camera's mount as a label file records it (the fields of fcw.labels.CameraLabel)."""

    name: str
    hfov_deg: float
    height_m: float
    pitch_deg: float
    roll_deg: float
    yaw_deg: float
    offset_m: float


@dataclass(frozen=True)
class PinholeCamera:
    width: int = 1280
    height: int = 720
    hfov_deg: float = 60.0
    height_m: float = 1.3
    pitch_deg: float = 0.0
    roll_deg: float = 0.0
    yaw_deg: float = 0.0
    offset_m: float = 0.0
    name: str = "centred"

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"camera size must be positive, got {self.width}x{self.height}")
        if not 1.0 < self.hfov_deg < 179.0:
            raise ValueError(f"hfov_deg must be in (1, 179), got {self.hfov_deg}")
        if self.height_m <= 0:
            raise ValueError(f"height_m must be > 0, got {self.height_m}")
        for k in ("pitch_deg", "roll_deg", "yaw_deg"):
            if not abs(getattr(self, k)) < 30.0:
                raise ValueError(f"{k} must be within +-30 degrees, got {getattr(self, k)}")

    @property
    def focal_px(self) -> float:
        """Focal length in pixels (square pixels, so the same for both axes)."""
        return (self.width / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)

    @property
    def cx(self) -> float:
        return self.width / 2.0

    @property
    def cy(self) -> float:
        return self.height / 2.0

    @property
    def is_level(self) -> bool:
        return self.pitch_deg == 0.0 and self.roll_deg == 0.0 and self.yaw_deg == 0.0

    @property
    def rotation(self) -> np.ndarray:
        """(3, 3) road-frame direction -> camera-frame direction."""
        return rotation_matrix(self.pitch_deg, self.roll_deg, self.yaw_deg)

    def to_camera_frame(self, points_m: np.ndarray) -> np.ndarray:
        """(N, 3) road-frame points -> (N, 3) camera-frame points (Z along the optical axis)."""
        p = np.asarray(points_m, dtype=np.float64).reshape(-1, 3) - [self.offset_m, 0.0, 0.0]
        return p if self.is_level else p @ self.rotation.T

    def project_camera_frame(self, pc: np.ndarray) -> np.ndarray:
        """(N, 3) camera-frame points (Z > 0) -> (N, 2) pixels."""
        if np.any(pc[:, 2] <= 0):
            raise ValueError("project() needs points in front of the camera (Z > 0)")
        f = self.focal_px
        return np.stack([self.cx + f * pc[:, 0] / pc[:, 2], self.cy + f * pc[:, 1] / pc[:, 2]],
                        axis=1)

    def project(self, points_m: np.ndarray) -> np.ndarray:
        """(N, 3) road-frame points, all in front of the lens -> (N, 2) float64 pixels (u, v)."""
        return self.project_camera_frame(self.to_camera_frame(points_m))

    def horizon_v(self, u_px: np.ndarray | float) -> np.ndarray:
        """Row of the horizon (the image of the level plane through the lens) at column u."""
        n = self.rotation @ np.array([0.0, 1.0, 0.0])  # the road's normal in camera axes
        u = np.asarray(u_px, dtype=np.float64)
        return self.cy - (n[0] * (u - self.cx) + n[2] * self.focal_px) / n[1]

    def ground_range_m(self, v_px: np.ndarray | float) -> np.ndarray:
        """Forward distance Z of the road point seen at image row v (rows below the horizon);
        a level camera only (its rows are lines of constant range)."""
        if not self.is_level:
            raise ValueError("ground_range_m() needs a level camera; render on level_canvas()")
        dv = np.asarray(v_px, dtype=np.float64) - self.cy
        with np.errstate(divide="ignore"):
            return np.where(dv > 0, self.focal_px * self.height_m / np.where(dv > 0, dv, 1.0),
                            np.inf)

    def ground_x_m(self, u_px: np.ndarray, range_m: np.ndarray) -> np.ndarray:
        """Road-frame X of the road point at column u and forward distance range_m (a level
        camera)."""
        du = np.asarray(u_px, dtype=np.float64) - self.cx
        return self.offset_m + du * range_m / self.focal_px

    def level_canvas(self, margin_px: int = 4) -> tuple[PinholeCamera, np.ndarray]:
        """A level camera at the same place and focal length whose image covers this one's, and
        the (3, 3) homography from its pixels to this camera's.

        A rotation about the lens centre maps images by a homography, so a scene drawn once on the
        level canvas and warped is exactly what the mounted camera sees (up to resampling); the
        road, whose rows are lines of constant range only for a level camera, is drawn there.
        """
        if self.is_level:
            return self, np.eye(3)
        f = self.focal_px
        k = np.array([[f, 0, self.cx], [0, f, self.cy], [0, 0, 1.0]])
        corners = np.array([[0, 0, 1], [self.width, 0, 1], [0, self.height, 1],
                            [self.width, self.height, 1]], np.float64)
        rays = (self.rotation.T @ np.linalg.inv(k) @ corners.T).T  # road-frame directions
        if np.any(rays[:, 2] <= 0):
            raise ValueError(f"camera {self.name!r}: too wide for its pose to be rendered")
        half_w = np.abs(f * rays[:, 0] / rays[:, 2]).max() + margin_px
        half_h = np.abs(f * rays[:, 1] / rays[:, 2]).max() + margin_px
        w, h = 2 * int(math.ceil(half_w)), 2 * int(math.ceil(half_h))
        hfov = 2 * math.degrees(math.atan(w / 2 / f))
        canvas = PinholeCamera(w, h, hfov, self.height_m, offset_m=self.offset_m,
                               name=self.name + "-canvas")
        kc = np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1.0]])
        return canvas, k @ self.rotation @ np.linalg.inv(kc)

    def describe(self) -> MountRecord:
        """The mount as the label file records it."""
        return {"name": self.name, "hfov_deg": self.hfov_deg, "height_m": self.height_m,
                "pitch_deg": self.pitch_deg, "roll_deg": self.roll_deg, "yaw_deg": self.yaw_deg,
                "offset_m": self.offset_m}


def rotation_matrix(pitch_deg: float, roll_deg: float, yaw_deg: float) -> np.ndarray:
    """Road-frame direction -> camera-frame direction for a camera yawed right, then pitched
    down, then rolled (all in degrees)."""
    p, r, y = (math.radians(a) for a in (pitch_deg, roll_deg, yaw_deg))
    yaw = np.array([[math.cos(y), 0, -math.sin(y)], [0, 1, 0], [math.sin(y), 0, math.cos(y)]])
    pitch = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    roll = np.array([[math.cos(r), math.sin(r), 0], [-math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return roll @ pitch @ yaw


# Named mounts. ``windscreen``: a typical aftermarket dashcam behind the mirror, pitched down,
# slightly rolled and turned, offset towards the passenger side. ``wide``: a consumer dashcam's
# wide-angle lens (most are 100-150 degrees), centred and level.
CAMERAS: dict[str, PinholeCamera] = {c.name: c for c in (
    PinholeCamera(name="centred"),
    PinholeCamera(height_m=1.45, pitch_deg=2.5, roll_deg=1.0, yaw_deg=1.5, offset_m=0.3,
                  name="windscreen"),
    PinholeCamera(hfov_deg=110.0, name="wide"),
)}


def get_camera(name: str, width: int = 1280, height: int = 720) -> PinholeCamera:
    """The named mount at the given image size (the field of view is kept)."""
    try:
        cam = CAMERAS[name]
    except KeyError:
        raise KeyError(f"unknown camera {name!r}; known: {', '.join(CAMERAS)}") from None
    return replace(cam, width=width, height=height)


def stated_focal_px(name: str, width: int = 1280, height: int = 720) -> float | None:
    """The focal length a user states for the named mount, as copied from a wide-angle dashcam's
    box (``camera.focal_px``: it turns the tight crop on, docs/detector.md); None for a normal
    lens, which runs on the config's defaults. The suite and the scenario matrix run with it."""
    from fcw.config import FarCropConfig

    cam = get_camera(name, width, height)
    return cam.focal_px if cam.hfov_deg >= FarCropConfig().tight_min_hfov_deg else None
