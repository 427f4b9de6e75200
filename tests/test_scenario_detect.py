"""The rendered car must look like a vehicle to the real detector, at the ranges that matter."""
import numpy as np
import pytest

from fcw.boxes import iou_matrix
from fcw.config import CameraConfig, DetectorConfig, FarCropConfig
from fcw.perception.detector import Detector
from fcw.scenarios.camera import CAMERAS, PinholeCamera
from fcw.scenarios.render import render_still
from fcw.types import Frame

STYLES = range(7)  # body colours


def found_styles(detector: Detector, range_m: float, cam: PinholeCamera | None = None) -> int:
    vehicles = np.asarray(detector.backend.spec.vehicle_class_ids)
    found = 0
    for style in STYLES:
        img, box = render_still(range_m, 0.0, style, seed=style, cam=cam or PinholeCamera())
        dets = detector.update(Frame(0, 0.0, img))
        dets = dets[np.isin(dets.class_id, vehicles)]
        found += bool(len(dets) and (iou_matrix(box[None], dets.xyxy) > 0.5).any())
    return found


@pytest.mark.parametrize("range_m", [8.0, 12.0, 20.0, 30.0, 40.0, 50.0])
def test_rendered_car_is_detected(fastestdet_backend, range_m):
    detector = Detector(fastestdet_backend, DetectorConfig(), CameraConfig())
    found = found_styles(detector, range_m)
    print(f"{range_m} m: {found}/{len(STYLES)} body colours detected")
    assert found >= 5, f"{found}/{len(STYLES)} body colours detected at {range_m} m"


def test_far_crop_is_what_finds_distant_rendered_cars(fastestdet_backend):
    full_only = Detector(fastestdet_backend, DetectorConfig(far_crop=FarCropConfig(enabled=False)),
                         CameraConfig())
    assert found_styles(full_only, 50.0) <= 1


@pytest.mark.parametrize("range_m", [12.0, 30.0])
def test_rendered_car_is_detected_through_the_windscreen_mount(fastestdet_backend, range_m):
    """Drawn through the tilted mount (a warped canvas), the car still looks like one, where its
    label box says (the far crop stays at the config's vanishing point: only near cars here)."""
    detector = Detector(fastestdet_backend, DetectorConfig(), CameraConfig())
    found = found_styles(detector, range_m, CAMERAS["windscreen"])
    assert found >= 5, f"{found}/{len(STYLES)} body colours detected at {range_m} m"
