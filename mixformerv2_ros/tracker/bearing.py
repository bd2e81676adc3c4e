"""Direction to the target in the camera's optical frame, from a pixel and the camera calibration.

A controller that points a gimbal or a drone at the target needs an angle, not a pixel: the same
pixel offset means a different angle at every zoom level and, with lens distortion, at every place
in the image. ``CameraModel`` turns a pixel into a unit ray using the calibration a ROS camera
driver publishes in ``sensor_msgs/CameraInfo`` (intrinsic matrix K and distortion coefficients D),
so the ray is right also near the image corners where distortion bends it most.

Frames and angles (REP 103 optical frame):

* the ray ``(x, y, z)`` is a unit vector with **x right, y down, z forward** (along the optical
  axis), as the pixel grid is laid out: u grows to the right, v grows downwards;
* ``yaw = atan2(x, z)``: rotation about the camera's vertical axis, **positive when the target is
  to the right** of the optical axis;
* ``pitch = atan2(-y, sqrt(x^2 + z^2))``: elevation above the optical axis, **positive when the
  target is above it (up)**, negative below. (y points down, hence the minus.)

Both are in radians; ``yaw`` lies in (-pi, pi] and ``pitch`` in [-pi/2, pi/2]. Together they give the
ray back: ``x = cos(pitch) sin(yaw)``, ``y = -sin(pitch)``, ``z = cos(pitch) cos(yaw)``.

The pixel must be a pixel of the image that K and D describe: the raw (distorted) image. For an
already rectified image (``image_rect``) the calibration to use is the rectified one: K = the left
3x3 of P, and no distortion.

Only numpy and OpenCV: no ROS here. The node converts a CameraInfo message into a ``CameraModel``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Distortion models of sensor_msgs/distortion_models.hpp that this module undistorts, with the
#: numbers of coefficients each accepts (OpenCV's pinhole model takes 4, 5, 8, 12 or 14).
DISTORTION_MODELS = {
    "plumb_bob": (4, 5),  # k1 k2 p1 p2 [k3]
    "rational_polynomial": (8, 12, 14),  # k1 k2 p1 p2 k3 k4 k5 k6 [s1..s4 [tx ty]]
    "equidistant": (4,),  # fisheye k1..k4 (cv2.fisheye)
}
# The iterative undistortion stops at this change in normalised coordinates or iteration count.
# OpenCV's default (5 iterations) leaves errors of several mrad at the corners of a strongly
# distorted lens; this converges to well below 1e-6 rad everywhere a real lens maps one-to-one.
_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-12)


@dataclass(frozen=True)
class Bearing:
    """A unit ray in the camera optical frame (x right, y down, z forward) and its angles (rad):
    ``yaw`` positive to the right, ``pitch`` positive upwards (see the module docstring)."""

    ray: tuple[float, float, float]
    yaw: float
    pitch: float


def angles_of(ray) -> tuple[float, float]:
    """(yaw, pitch) in radians of a ray (x right, y down, z forward; any length > 0)."""
    x, y, z = (float(v) for v in ray)
    return math.atan2(x, z), math.atan2(-y, math.hypot(x, z))


class CameraModel:
    """Pixel -> ray for one calibrated camera.

    ``k``: the 3x3 intrinsic matrix (9 numbers, row-major as in CameraInfo.k, or a 3x3 array);
    ``d``: distortion coefficients (empty: none); ``distortion_model``: one of
    ``DISTORTION_MODELS`` ("" is taken as plumb_bob when ``d`` is empty, as uncalibrated drivers
    leave it). A skew term K[0][1] is ignored, as OpenCV's and image_geometry's camera models do
    (calibrators write 0 there). ``width``/``height``: the image size the calibration is for (0: unknown). Invalid
    calibrations raise ValueError naming the problem, so a bad CameraInfo is refused instead of
    producing wrong angles.
    """

    def __init__(self, k, d=(), distortion_model: str = "plumb_bob", width: int = 0, height: int = 0):
        try:
            matrix = np.asarray(k, dtype=np.float64).reshape(3, 3)
        except (TypeError, ValueError) as error:
            raise ValueError(f"K must be 9 numbers (a 3x3 matrix), got {k!r}") from error
        if not np.all(np.isfinite(matrix)):
            raise ValueError(f"K has non-finite values: {matrix.tolist()}")
        fx, fy = matrix[0, 0], matrix[1, 1]
        if fx <= 0 or fy <= 0:
            raise ValueError(f"K has no positive focal lengths (fx={fx}, fy={fy}): the camera is not calibrated")
        if not np.allclose(matrix[2], (0.0, 0.0, 1.0)) or matrix[1, 0] != 0.0:
            raise ValueError(f"K is not an intrinsic matrix (its last row must be 0 0 1): {matrix.tolist()}")
        coefficients = np.asarray(d, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(coefficients)):
            raise ValueError(f"D has non-finite values: {coefficients.tolist()}")
        model = distortion_model or "plumb_bob"
        if model not in DISTORTION_MODELS:
            raise ValueError(f"unsupported distortion model {distortion_model!r} "
                             f"(supported: {', '.join(DISTORTION_MODELS)})")
        if coefficients.size and coefficients.size not in DISTORTION_MODELS[model]:
            raise ValueError(f"{model} takes {' or '.join(map(str, DISTORTION_MODELS[model]))} coefficients, "
                             f"got {coefficients.size}")
        if int(width) < 0 or int(height) < 0:
            raise ValueError(f"image size must not be negative, got {width}x{height}")
        self.k = matrix
        self.d = coefficients
        self.distortion_model = model
        self.width, self.height = int(width), int(height)
        self._distorted = bool(coefficients.size) and bool(np.any(coefficients != 0.0))

    def normalized(self, pixels) -> np.ndarray:
        """Undistorted normalised image coordinates (x/z, y/z) of N pixels (N x 2 array)."""
        points = np.asarray(pixels, dtype=np.float64).reshape(-1, 1, 2)
        if not np.all(np.isfinite(points)):
            raise ValueError(f"pixel coordinates must be finite, got {points.reshape(-1, 2).tolist()}")
        if not self._distorted:  # plain pinhole: exact, no iteration
            fx, fy, cx, cy = self.k[0, 0], self.k[1, 1], self.k[0, 2], self.k[1, 2]
            return np.stack([(points[:, 0, 0] - cx) / fx, (points[:, 0, 1] - cy) / fy], axis=1)
        if self.distortion_model == "equidistant":
            out = cv2.fisheye.undistortPoints(points, self.k, self.d, criteria=_CRITERIA)
        else:
            out = cv2.undistortPoints(points, self.k, self.d, None, None, None, _CRITERIA)
        return out.reshape(-1, 2)

    def rays(self, pixels) -> np.ndarray:
        """Unit rays (N x 3; x right, y down, z forward) through N pixels (N x 2, (u, v))."""
        xy = self.normalized(pixels)
        rays = np.concatenate([xy, np.ones((xy.shape[0], 1))], axis=1)
        return rays / np.linalg.norm(rays, axis=1, keepdims=True)

    def bearing(self, u: float, v: float) -> Bearing:
        """The ray through pixel (u, v) and its yaw and pitch (see the module docstring)."""
        ray = self.rays([[u, v]])[0]
        yaw, pitch = angles_of(ray)
        return Bearing((float(ray[0]), float(ray[1]), float(ray[2])), yaw, pitch)

    def matches_image(self, width: int, height: int) -> bool:
        """Whether the calibration is for images of this size (True when its size is unknown)."""
        if not self.width or not self.height:
            return True
        return (self.width, self.height) == (int(width), int(height))
