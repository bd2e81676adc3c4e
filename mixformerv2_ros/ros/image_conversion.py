"""sensor_msgs/Image and CompressedImage <-> numpy BGR: ROS 2's cv_bridge where it works, else ours.

``image_to_bgr`` (what the node's frame intake calls) converts through ROS 2's cv_bridge where it
is installed and works, and through this module's own conversion (``own_image_to_bgr``) where it
is absent or cannot do the job:

- cv_bridge is used for an encoding and byte order only after a probe, once per process, showed
  that it converts a small image of that kind and agrees with the own conversion (exactly for
  8-bit encodings; within one grey level for 16-bit ones, which cv_bridge scales by 255/65535 with
  rounding where the own conversion keeps the high byte). The probe exists because cv_bridge can
  be installed and still be broken for some inputs: its Python part reads OpenCV type numbers from
  the Python ``cv2`` module, which may be another OpenCV than the C++ library it was built
  against (OpenCV 5 renumbered the multi-channel types), and it byte-swaps big-endian data with
  ``ndarray.newbyteorder``, which numpy 2 removed. ``conversion_path`` says which path an encoding
  takes and why; a refused probe is logged once, with the reason.
- bgr8/8UC3 stay with the own conversion: the pixels are already BGR, and it returns a view of the
  message buffer (no copy), where cv_bridge copies the frame (its C++ conversion always does).
- Rows whose step is not a whole number of pixels, or a last row without its padding, stay with
  the own conversion: cv_bridge's Python part reads such buffers with the wrong row layout or
  refuses them.
- Compressed images and writing messages (``bgr_to_image``) use the own code: cv_bridge's
  compressed path runs the same ``cv2.imdecode`` plus a copy, and its ``cv2_to_imgmsg`` copies the
  pixels twice (``tobytes``, then into the message) where ``bgr_to_image`` copies once.

cv_bridge is loaded, and an encoding probed, when the first message that may need it comes (bgr8
never does); ``prepare()`` does it ahead (loading takes ~0.2 s).

Every message is checked before any pixel is touched (``check_image`` costs O(1)), on either path,
so a hostile header (a step smaller than a row, a claimed 100000 x 100000 image, truncated data)
is refused with a reason instead of crashing or allocating. ``MIXFORMERV2_ROS_CV_BRIDGE=0`` in the
environment turns cv_bridge off.
"""

from __future__ import annotations

import array
import logging
import os
import threading

import cv2
import numpy as np

_log = logging.getLogger(__name__)

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


def own_image_to_bgr(msg) -> np.ndarray:
    """H x W x 3 uint8 BGR by this module's own conversion (never cv_bridge).

    16-bit images keep their high byte (65535 -> 255). bgr8 comes back as a view of the message
    buffer (no copy)."""
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


OWN = "mixformerv2_ros.ros.image_conversion"
CV_BRIDGE = "cv_bridge"
#: Encodings whose pixels are already BGR: the own conversion returns a view, cv_bridge a copy.
_ALREADY_BGR = ("bgr8", "8UC3")


def ros2_cv_bridge():
    """ROS 2's CvBridge where a ROS install provides it (an ament package), else None.

    The ament check keeps PyPI's unrelated ``cv-bridge`` (a ROS 1 port) from being picked up.
    """
    return _load_cv_bridge()[0]


def _load_cv_bridge():
    """(CvBridge or None, why not)."""
    if os.environ.get("MIXFORMERV2_ROS_CV_BRIDGE", "1").strip().lower() in ("0", "false", "no", "off"):
        return None, "turned off by MIXFORMERV2_ROS_CV_BRIDGE"
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    except ImportError:
        return None, "no ament_index_python (not a ROS 2 environment)"
    try:
        get_package_prefix("cv_bridge")
    except PackageNotFoundError:
        return None, "cv_bridge is not installed (no ament package 'cv_bridge')"
    try:
        from cv_bridge import CvBridge

        return CvBridge(), ""
    except Exception as error:  # an import or set-up failure of the installed package
        return None, f"cv_bridge is installed but does not load: {type(error).__name__}: {error}"


def _probe_message(encoding: str, big_endian: bool):
    """A small image of ``encoding`` with varied values and padded rows cv_bridge can read."""
    from sensor_msgs.msg import Image

    channels, depth, _ = _ENCODINGS[encoding]
    height, width = 5, 7
    count = height * width * channels
    if depth == 1:
        values = (np.arange(count, dtype=np.uint32) * 37 % 256).astype(np.uint8)
    else:  # spread over the whole 16-bit range, low bytes included
        values = (np.arange(count, dtype=np.uint32) * 2741 % 65536).astype(np.uint16)
    rows = values.reshape(height, width * channels)
    rows = rows.astype(rows.dtype.newbyteorder(">" if big_endian else "<")).view(np.uint8)
    pad = channels * depth  # one whole pixel of padding per row
    data = np.hstack([rows, np.full((height, pad), 0xAB, np.uint8)])
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=int(big_endian))
    msg.step = data.shape[1]
    msg.data = array.array("B", data.tobytes())
    return msg


def _agrees(bridge_bgr, own_bgr, sixteen_bit: bool) -> str:
    """'' where cv_bridge's result agrees with the own conversion, else how it differs."""
    if not isinstance(bridge_bgr, np.ndarray) or bridge_bgr.shape != own_bgr.shape or bridge_bgr.dtype != np.uint8:
        shape = getattr(bridge_bgr, "shape", None)
        return f"returned {type(bridge_bgr).__name__} {shape} {getattr(bridge_bgr, 'dtype', '')}, " \
               f"expected {own_bgr.shape} uint8"
    diff = int(np.abs(bridge_bgr.astype(np.int16) - own_bgr.astype(np.int16)).max())
    tolerance = 1 if sixteen_bit else 0
    if diff > tolerance:
        return f"differs from the own conversion by up to {diff} (allowed {tolerance})"
    return ""


class _CvBridgeRouting:
    """Which encodings go through cv_bridge in this process: probed once each, thread-safely."""

    def __init__(self):
        self._lock = threading.Lock()
        self._loaded = False
        self._bridge = None
        self._unavailable = ""
        self._verdicts: dict[tuple[str, bool], str] = {}  # (encoding, big endian) -> '' or why not

    def bridge(self):
        with self._lock:
            if not self._loaded:
                self._bridge, self._unavailable = _load_cv_bridge()
                self._loaded = True
                if self._bridge is None:
                    _log.info("image conversion: %s; using the own conversion", self._unavailable)
            return self._bridge

    def path(self, encoding: str, big_endian: bool) -> tuple[str, str]:
        """(CV_BRIDGE or OWN, why the own conversion) for a well-formed message's kind."""
        bridge = self.bridge()
        if bridge is None:
            return OWN, self._unavailable
        if encoding in _ALREADY_BGR:
            return OWN, f"{encoding} is already BGR: the own conversion returns a view, cv_bridge copies"
        key = (encoding, bool(big_endian))
        with self._lock:
            if key not in self._verdicts:
                self._verdicts[key] = self._probe(bridge, encoding, bool(big_endian))
                if self._verdicts[key]:
                    _log.warning("image conversion: cv_bridge not used for %s: %s; using the own conversion",
                                 _kind(encoding, big_endian), self._verdicts[key])
            reason = self._verdicts[key]
        return (OWN, reason) if reason else (CV_BRIDGE, "")

    @staticmethod
    def _probe(bridge, encoding: str, big_endian: bool) -> str:
        msg = _probe_message(encoding, big_endian)
        try:
            converted = bridge.imgmsg_to_cv2(msg, desired_encoding="bgr8")
        except Exception as error:  # cv_bridge raises its own errors, KeyError, AttributeError, ...
            return f"cv_bridge fails on it ({type(error).__name__}: {error})"
        problem = _agrees(converted, own_image_to_bgr(msg), _ENCODINGS[encoding][1] == 2)
        return f"cv_bridge {problem}" if problem else ""


def _kind(encoding: str, big_endian: bool) -> str:
    return f"{encoding} with is_bigendian set" if big_endian else encoding


_routing = _CvBridgeRouting()


def _cv_bridge_reads_layout(msg) -> bool:
    """Whether cv_bridge's Python part reads this buffer layout right: it takes the row length as
    step / pixel size and needs height * step bytes."""
    channels, depth, _ = _ENCODINGS[msg.encoding]
    return msg.step % (channels * depth) == 0 and \
        _byte_length(_buffer(msg.data)) >= int(msg.step) * int(msg.height)


def conversion_path(encoding: str, big_endian: bool = False) -> tuple[str, str]:
    """Which conversion ``image_to_bgr`` uses for well-formed, whole-pixel-padded messages of this
    kind: (``"cv_bridge"`` or ``"mixformerv2_ros.ros.image_conversion"``, why not cv_bridge)."""
    if encoding not in _ENCODINGS:
        raise ImageConversionError(f"unsupported encoding {encoding!r} (supported: {', '.join(SUPPORTED_ENCODINGS)})")
    return _routing.path(encoding, big_endian)


def image_to_bgr(msg) -> np.ndarray:
    """H x W x 3 uint8 BGR, through cv_bridge where it works for this kind of image (see the
    module's docstring), else the own conversion. Malformed messages raise ImageConversionError."""
    check_image(msg)
    # bgr8 never loads cv_bridge: loading it (a C++ library with OpenCV and rclcpp) holds the
    # interpreter for ~0.2 s, during which a node's image callback cannot take frames.
    if msg.encoding not in _ALREADY_BGR and _cv_bridge_reads_layout(msg):
        path, _ = _routing.path(msg.encoding, bool(msg.is_bigendian))
        if path == CV_BRIDGE:
            try:
                return _routing.bridge().imgmsg_to_cv2(msg, desired_encoding="bgr8")
            except Exception as error:  # it passed the probe for this kind: a genuine failure
                raise ImageConversionError(f"cv_bridge cannot convert {msg.encoding!r}: {error}") from error
    return own_image_to_bgr(msg)


def prepare(encodings=SUPPORTED_ENCODINGS) -> dict[str, tuple[str, str]]:
    """Load cv_bridge and probe ``encodings`` now (little-endian), e.g. in a node's configure
    step: otherwise the first frame of a kind that may take cv_bridge pays for it (loading cv_bridge
    takes ~0.2 s, the probe a few ms). Returns each encoding's ``conversion_path``."""
    return {encoding: conversion_path(encoding) for encoding in encodings}


class ImageDecoder:
    """Image messages to BGR arrays: ``image_to_bgr`` (cv_bridge where it works), or with
    ``use_cv_bridge=False`` always the own conversion.

    Our checks run first either way, so both paths refuse the same malformed messages with the
    same reasons.
    """

    def __init__(self, use_cv_bridge: bool = True):
        self._use_cv_bridge = use_cv_bridge and _routing.bridge() is not None

    @property
    def backend(self) -> str:
        """cv_bridge where it is loaded and allowed (per encoding it may still fall back), else own."""
        return CV_BRIDGE if self._use_cv_bridge else OWN

    def image(self, msg) -> np.ndarray:
        return image_to_bgr(msg) if self._use_cv_bridge else own_image_to_bgr(msg)

    @staticmethod
    def compressed(msg) -> np.ndarray:
        return compressed_to_bgr(msg)
