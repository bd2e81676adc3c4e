"""Pixel -> bearing (ray, yaw, pitch) with a synthetic calibrated camera: the rays must match the
3-D points that OpenCV's own projection put at those pixels. No ROS."""

import math

import cv2
import numpy as np
import pytest

from mixformerv2_ros.tracker.bearing import CameraModel, angles_of

K = np.array([[615.0, 0.0, 322.5], [0.0, 608.0, 236.0], [0.0, 0.0, 1.0]])
CAMERAS = {
    # a typical wide drone lens (strong barrel distortion)
    "plumb_bob": [-0.31, 0.11, 0.0012, -0.0007, -0.018],
    "rational_polynomial": [0.42, -0.08, 0.0009, 0.0004, 0.002, 0.71, -0.05, 0.01],
    "equidistant": [-0.02, 0.004, -0.001, 0.0002],
    "pinhole": [],
}


def _points():
    """3-D points (camera optical frame, metres) spread over the view, incl. near the corners."""
    yaws = np.radians(np.linspace(-24.0, 24.0, 9))
    pitches = np.radians(np.linspace(-18.0, 18.0, 7))
    points = []
    for yaw in yaws:
        for pitch in pitches:
            ray = (math.cos(pitch) * math.sin(yaw), -math.sin(pitch), math.cos(pitch) * math.cos(yaw))
            points.append(np.array(ray) * (5.0 + 40.0 * abs(yaw)))  # distances vary; the ray does not
    return np.array(points)


def _project(model: str, points: np.ndarray) -> np.ndarray:
    d = np.array(CAMERAS[model], dtype=np.float64)
    zero = np.zeros(3)
    if model == "equidistant":
        pixels, _ = cv2.fisheye.projectPoints(points.reshape(-1, 1, 3), zero, zero, K, d)
    else:
        pixels, _ = cv2.projectPoints(points, zero, zero, K, d)
    return pixels.reshape(-1, 2)


@pytest.mark.parametrize("model", CAMERAS)
def test_rays_and_angles_match_the_projected_points(model):
    points = _points()
    pixels = _project(model, points)
    assert np.all((pixels > 0) & (pixels < (640, 480))), "the test points must lie inside the image"
    camera = CameraModel(K.reshape(-1), CAMERAS[model], "" if model == "pinhole" else model, 640, 480)
    truth = points / np.linalg.norm(points, axis=1, keepdims=True)
    rays = camera.rays(pixels)
    assert np.allclose(np.linalg.norm(rays, axis=1), 1.0)
    angle_errors = np.arccos(np.clip(np.sum(rays * truth, axis=1), -1.0, 1.0))
    assert angle_errors.max() < 1e-3, f"worst ray error {angle_errors.max():.2e} rad"
    for pixel, point in zip(pixels, points):
        bearing = camera.bearing(*pixel)
        true_yaw, true_pitch = angles_of(point)
        assert abs(bearing.yaw - true_yaw) < 1e-3 and abs(bearing.pitch - true_pitch) < 1e-3
    # The distortion matters: ignoring it would be far off at the edges (except for the pinhole).
    if model != "pinhole":
        naive = CameraModel(K, (), "plumb_bob").rays(pixels)
        assert np.arccos(np.clip(np.sum(naive * truth, axis=1), -1, 1)).max() > 1e-2


def test_sign_conventions():
    camera = CameraModel(K, CAMERAS["plumb_bob"], "plumb_bob")
    centre = camera.bearing(K[0, 2], K[1, 2])
    assert centre.ray == pytest.approx((0.0, 0.0, 1.0), abs=1e-12) and centre.yaw == centre.pitch == 0.0
    right_up = camera.bearing(K[0, 2] + 100.0, K[1, 2] - 50.0)  # right of and above the centre
    assert right_up.ray[0] > 0 and right_up.ray[1] < 0
    assert right_up.yaw > 0 and right_up.pitch > 0
    left_down = camera.bearing(K[0, 2] - 100.0, K[1, 2] + 50.0)
    assert left_down.yaw < 0 and left_down.pitch < 0
    # the angles give the ray back
    yaw, pitch = right_up.yaw, right_up.pitch
    assert right_up.ray == pytest.approx(
        (math.cos(pitch) * math.sin(yaw), -math.sin(pitch), math.cos(pitch) * math.cos(yaw)), abs=1e-12)


@pytest.mark.parametrize("k, d, model, reason", [
    ([0.0] * 9, [], "plumb_bob", "not calibrated"),  # what an uncalibrated driver sends
    ([600, 0, 320, 0, 600, 240, 0, 0, math.nan], [], "plumb_bob", "non-finite"),
    ([600, 0, 320, 0, 600, 240, 0, 0, 1], [0.1, math.inf, 0, 0, 0], "plumb_bob", "non-finite"),
    ([600, 0, 320, 0, 600, 240, 0, 0, 1], [0.1, 0.0, 0.0], "plumb_bob", "coefficients"),
    ([600, 0, 320, 0, 600, 240, 0, 0, 1], [0.1] * 5, "kannala_brandt_mystery", "unsupported distortion"),
    ([600, 0, 320, 0, 600, 240, 1, 0, 1], [], "plumb_bob", "last row"),
    ([600, 0, 320], [], "plumb_bob", "9 numbers"),
])
def test_invalid_calibrations_are_refused_with_the_reason(k, d, model, reason):
    with pytest.raises(ValueError, match=reason):
        CameraModel(k, d, model)


def test_image_size_check_and_bad_pixels():
    camera = CameraModel(K, CAMERAS["plumb_bob"], "plumb_bob", 640, 480)
    assert camera.matches_image(640, 480) and not camera.matches_image(1280, 720)
    assert CameraModel(K).matches_image(1280, 720), "unknown calibration size: any image"
    with pytest.raises(ValueError, match="finite"):
        camera.bearing(math.nan, 10.0)
