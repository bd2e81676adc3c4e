"""sensor_msgs/Image and CompressedImage <-> numpy BGR, with or without ROS 2's cv_bridge.

PyPI has no ROS 2 cv_bridge, so this module implements the conversions the tracker needs and
``ImageDecoder`` uses cv_bridge only where a ROS install provides it. Every message is checked
before any pixel is touched (``check_image`` costs O(1)), so a hostile header (a step smaller
than a row, a claimed 100000 x 100000 image, truncated data) is refused with a reason instead
of crashing or allocating. An 8-bit message is returned as a view of the message buffer when
no channel conversion is needed (bgr8: zero-copy, padded rows included).
"""

from __future__ import annotations

import array

import cv2
import numpy as np

# encoding -> (channels, bytes per channel, OpenCV conversion to BGR or None)
_ENCODINGS = {
    "bgr8": (3, 1, None),
    "8UC3": (3, 1, None),
    "rgb8": (3, 1, cv2.COLOR_RGB2BGR),
    "bgra8": (4, 1, cv2.COLOR_BGRA2BGR),
    "rgba8": (4, 1, cv2.COLOR_RGBA2BGR),
    "mono8": (1, 1, cv2.COLOR_GRAY2BGR),
    "8UC1": (1, 1, cv2.COLOR_GRAY2BGR),
    "mono16": (1, 2, cv2.COLOR_GRAY2BGR),
    "16UC1": (1, 2, cv2.COLOR_GRAY2BGR),
}
SUPPORTED_ENCODINGS = tuple(_ENCODINGS)
#: Larger sides are treated as a corrupt header (no camera sends them), never allocated.
MAX_SIDE = 16384


class ImageConversionError(ValueError):
    """The message cannot be read as an image; the text says why."""


def _buffer(data):
    """The message's data as an object with the buffer protocol (no copy for bytes/array.array)."""
    if isinstance(data, (bytes, bytearray, array.array, memoryview, np.ndarray)):
        return data
    return np.asarray(data, dtype=np.uint8)  # a plain list of ints


def _byte_length(data) -> int:
    return memoryview(data).nbytes if not isinstance(data, (bytes, bytearray)) else len(data)


def check_image(msg) -> None:
    """Raise ImageConversionError naming the problem if ``msg`` cannot be a valid image."""
    encoding = msg.encoding
    if encoding not in _ENCODINGS:
        raise ImageConversionError(
            f"unsupported encoding {encoding!r} (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    channels, depth, _ = _ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"empty image: {width}x{height} pixels")
    if height > MAX_SIDE or width > MAX_SIDE:
        raise ImageConversionError(f"image size {width}x{height} exceeds {MAX_SIDE} pixels per side")
    row_bytes = width * channels * depth
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than a row of {width} {encoding} pixels ({row_bytes} bytes)")
    if step % depth:
        raise ImageConversionError(f"step {step} is not a multiple of the {depth}-byte {encoding} sample")
    needed = step * (height - 1) + row_bytes
    size = _byte_length(_buffer(msg.data))
    if size < needed:
        raise ImageConversionError(
            f"truncated data: {size} bytes for a {width}x{height} {encoding} image with step {step} "
            f"(needs {needed})")


def image_to_array(msg) -> np.ndarray:
    """The pixels as stored (H x W x C, native byte order): a view of the buffer where possible."""
    check_image(msg)
    channels, depth, _ = _ENCODINGS[msg.encoding]
    data = _buffer(msg.data)
    dtype = np.dtype(np.uint8) if depth == 1 else np.dtype(">u2" if msg.is_bigendian else "<u2")
    pixels = np.ndarray((msg.height, msg.width, channels), dtype=dtype, buffer=data,
                        strides=(msg.step, channels * depth, depth))
    if not dtype.isnative:
        pixels = pixels.astype(dtype.newbyteorder("="))
    return pixels


def image_to_bgr(msg) -> np.ndarray:
    """H x W x 3 uint8 BGR. 16-bit images keep their high byte (65535 -> 255)."""
    pixels = image_to_array(msg)
    code = _ENCODINGS[msg.encoding][2]
    if pixels.dtype != np.uint8:
        pixels = (pixels >> 8).astype(np.uint8)
    if code is None:
        return pixels
    return cv2.cvtColor(np.ascontiguousarray(pixels), code)


def bgr_to_image(bgr: np.ndarray, header=None, encoding: str = "bgr8"):
    """A sensor_msgs/Image (bgr8 or rgb8, unpadded) from an H x W x 3 uint8 BGR array."""
    from sensor_msgs.msg import Image

    if bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.dtype != np.uint8:
        raise ImageConversionError(f"expected an H x W x 3 uint8 array, got {bgr.shape} {bgr.dtype}")
    if encoding == "rgb8":
        bgr = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    elif encoding != "bgr8":
        raise ImageConversionError(f"bgr_to_image writes bgr8 or rgb8, not {encoding!r}")
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = int(bgr.shape[0]), int(bgr.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = msg.width * 3
    msg.data.frombytes(np.ascontiguousarray(bgr))  # one copy, straight into the message buffer
    return msg


def compressed_to_bgr(msg) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (JPEG, PNG, ...) to BGR."""
    data = np.frombuffer(_buffer(msg.data), dtype=np.uint8)
    if data.size == 0:
        raise ImageConversionError(f"empty compressed image (format {msg.format!r})")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageConversionError(
            f"cannot decode compressed image (format {msg.format!r}, {data.size} bytes): corrupt or unsupported")
    return image


def ros2_cv_bridge():
    """ROS 2's CvBridge where a ROS install provides it (an ament package), else None.

    The ament check keeps PyPI's unrelated ``cv-bridge`` (a ROS 1 port) from being picked up.
    """
    try:
        from ament_index_python.packages import get_package_prefix

        get_package_prefix("cv_bridge")
        from cv_bridge import CvBridge
    except Exception:  # not installed, or not the ROS 2 package
        return None
    return CvBridge()


class ImageDecoder:
    """Image messages to BGR arrays: ROS 2's cv_bridge when installed, else this module.

    Our checks run first either way, so both paths refuse the same malformed messages with the
    same reasons.
    """

    def __init__(self, use_cv_bridge: bool = True):
        self._bridge = ros2_cv_bridge() if use_cv_bridge else None

    @property
    def backend(self) -> str:
        return "cv_bridge" if self._bridge is not None else "mixformerv2_ros.ros.image_conversion"

    def image(self, msg) -> np.ndarray:
        if self._bridge is None:
            return image_to_bgr(msg)
        check_image(msg)
        try:
            return self._bridge.imgmsg_to_cv2(msg, desired_encoding="bgr8")
        except Exception as error:  # cv_bridge raises its own error types
            raise ImageConversionError(f"cv_bridge cannot convert {msg.encoding!r}: {error}") from error

    @staticmethod
    def compressed(msg) -> np.ndarray:
        return compressed_to_bgr(msg)
