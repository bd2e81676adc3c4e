"""sensor_msgs/Image <-> numpy BGR, for machines without ROS 2's cv_bridge.

Where cv_bridge is installed (a real ROS install) the node uses it; PyPI has no ROS 2 cv_bridge,
so this module implements the conversions the tracker needs. Every malformed message raises
``ImageConversionError`` naming the problem; a bgr8 image with unpadded rows is returned as a
zero-copy view of the message buffer.
"""

from __future__ import annotations

import cv2
import numpy as np

# encoding -> (channels, dtype, conversion to BGR or None)
_ENCODINGS = {
    "bgr8": (3, np.uint8, None),
    "rgb8": (3, np.uint8, cv2.COLOR_RGB2BGR),
    "bgra8": (4, np.uint8, cv2.COLOR_BGRA2BGR),
    "rgba8": (4, np.uint8, cv2.COLOR_RGBA2BGR),
    "mono8": (1, np.uint8, cv2.COLOR_GRAY2BGR),
    "8UC1": (1, np.uint8, cv2.COLOR_GRAY2BGR),
    "8UC3": (3, np.uint8, None),
    "mono16": (1, np.uint16, cv2.COLOR_GRAY2BGR),
    "16UC1": (1, np.uint16, cv2.COLOR_GRAY2BGR),
}
SUPPORTED_ENCODINGS = tuple(_ENCODINGS)
MAX_SIDE = 16384  # larger claims are treated as corrupt headers, not allocated


class ImageConversionError(ValueError):
    """The message cannot be read as an image; the text says why."""


def _view(msg) -> tuple[np.ndarray, str]:
    """The message's pixels as an H x W x C array (a view when possible), and its encoding."""
    encoding = msg.encoding
    if encoding not in _ENCODINGS:
        raise ImageConversionError(f"unsupported encoding {encoding!r} (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    channels, dtype, _ = _ENCODINGS[encoding]
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"empty image: {width}x{height}")
    if height > MAX_SIDE or width > MAX_SIDE:
        raise ImageConversionError(f"image size {width}x{height} exceeds {MAX_SIDE} px per side")
    itemsize = np.dtype(dtype).itemsize
    row_bytes = width * channels * itemsize
    if step < row_bytes:
        raise ImageConversionError(f"step {step} is smaller than a row of {width} {encoding} pixels ({row_bytes} bytes)")
    needed = step * (height - 1) + row_bytes
    try:
        flat = np.frombuffer(msg.data, dtype=np.uint8)
    except (TypeError, ValueError) as exc:
        raise ImageConversionError(f"image data is not a byte buffer: {exc}") from exc
    if flat.size < needed:
        raise ImageConversionError(f"truncated data: {flat.size} bytes for a {width}x{height} {encoding} "
                                   f"image with step {step} (needs {needed})")
    stored = np.dtype(dtype).newbyteorder(">" if msg.is_bigendian else "<")
    pixels = np.ndarray((height, width, channels), dtype=stored, buffer=flat,
                        strides=(step, channels * itemsize, itemsize))  # a view, padding skipped
    if not stored.isnative:
        pixels = pixels.astype(stored.newbyteorder("="))
    return pixels, encoding


def image_to_bgr(msg) -> np.ndarray:
    """H x W x 3 uint8 BGR; mono16 is scaled to 8 bits (>> 8). Zero-copy for unpadded bgr8."""
    pixels, encoding = _view(msg)
    _, dtype, code = _ENCODINGS[encoding]
    if dtype == np.uint16:
        pixels = (pixels >> 8).astype(np.uint8)
    if code is None:
        return pixels
    return cv2.cvtColor(np.ascontiguousarray(pixels), code)


def image_to_array(msg) -> np.ndarray:
    """The pixels as stored (H x W x C, native byte order), padding removed; for tests and tools."""
    pixels, _ = _view(msg)
    return np.ascontiguousarray(pixels)


def bgr_to_image(array: np.ndarray, header=None, encoding: str = "bgr8"):
    """A sensor_msgs/Image from an H x W x 3 uint8 BGR array (bgr8 or rgb8)."""
    from sensor_msgs.msg import Image

    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ImageConversionError(f"expected H x W x 3 uint8, got {array.shape} {array.dtype}")
    if encoding == "rgb8":
        array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    elif encoding != "bgr8":
        raise ImageConversionError(f"bgr_to_image writes bgr8 or rgb8, not {encoding!r}")
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = array.shape[:2]
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = array.shape[1] * 3
    msg.data = np.ascontiguousarray(array).tobytes()
    return msg


def compressed_to_bgr(msg) -> np.ndarray:
    """Decode a sensor_msgs/CompressedImage (JPEG, PNG) to BGR."""
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if data.size == 0:
        raise ImageConversionError("empty compressed image")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageConversionError(f"cannot decode compressed image (format {msg.format!r}, {data.size} bytes)")
    return image
