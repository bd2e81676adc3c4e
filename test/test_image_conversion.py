"""Image messages of every supported encoding, padded rows and big-endian data included."""

import numpy as np
import pytest

pytestmark = pytest.mark.ros

from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from mixformerv2_ros.ros.image_conversion import (  # noqa: E402
    ImageConversionError, bgr_to_image, compressed_to_bgr, image_to_array, image_to_bgr)

CHANNELS = {"bgr8": 3, "rgb8": 3, "bgra8": 4, "rgba8": 4, "mono8": 1, "mono16": 1}


def _message(pixels: np.ndarray, encoding: str, padding: int = 0, big_endian: bool = False) -> Image:
    """Pack pixels (H x W x C) into a message with `padding` spare bytes at the end of each row."""
    h, w, c = pixels.shape
    stored = pixels.astype(pixels.dtype.newbyteorder(">" if big_endian else "<"))
    rows = stored.reshape(h, -1).view(np.uint8)
    padded = np.zeros((h, rows.shape[1] + padding), np.uint8)
    padded[:, : rows.shape[1]] = rows
    msg = Image(height=h, width=w, encoding=encoding, is_bigendian=int(big_endian), step=padded.shape[1])
    msg.data = padded.tobytes()
    return msg


def _pixels(encoding, rng, h=7, w=5):
    dtype = np.uint16 if encoding == "mono16" else np.uint8
    return rng.integers(0, np.iinfo(dtype).max, size=(h, w, CHANNELS[encoding]), dtype=dtype)


@pytest.mark.parametrize("padding", [0, 3, 8])
@pytest.mark.parametrize("encoding", sorted(CHANNELS))
def test_round_trip_every_encoding(encoding, padding):
    rng = np.random.default_rng(hash((encoding, padding)) % 2**32)
    pixels = _pixels(encoding, rng)
    msg = _message(pixels, encoding, padding)
    np.testing.assert_array_equal(image_to_array(msg), pixels)
    bgr = image_to_bgr(msg)
    assert bgr.shape == (7, 5, 3) and bgr.dtype == np.uint8
    expected = {
        "bgr8": pixels, "rgb8": pixels[..., ::-1], "bgra8": pixels[..., :3],
        "rgba8": pixels[..., 2::-1], "mono8": np.repeat(pixels, 3, axis=2),
        "mono16": np.repeat((pixels >> 8).astype(np.uint8), 3, axis=2)}[encoding]
    np.testing.assert_array_equal(bgr, expected)


@pytest.mark.parametrize("padding", [0, 6])
def test_big_endian_mono16(padding):
    pixels = np.array([[[0x0102], [0xA0B0]], [[0xFFFF], [0x0001]]], dtype=np.uint16)
    little, big = _message(pixels, "mono16", padding), _message(pixels, "mono16", padding, big_endian=True)
    assert bytes(little.data) != bytes(big.data)
    np.testing.assert_array_equal(image_to_array(big), pixels)
    np.testing.assert_array_equal(image_to_array(little), pixels)


def test_bgr8_is_zero_copy_padded_or_not():
    rng = np.random.default_rng(1)
    for padding in (0, 4):
        msg = _message(_pixels("bgr8", rng), "bgr8", padding)
        buffer = np.frombuffer(msg.data, np.uint8)
        assert np.shares_memory(image_to_bgr(msg), buffer)


def test_bgr_to_image_round_trip():
    rng = np.random.default_rng(2)
    bgr = _pixels("bgr8", rng)
    for encoding in ("bgr8", "rgb8"):
        np.testing.assert_array_equal(image_to_bgr(bgr_to_image(bgr, encoding=encoding)), bgr)


def _bad(**fields):
    msg = _message(np.zeros((4, 4, 3), np.uint8), "bgr8")
    for key, value in fields.items():
        setattr(msg, key, value)
    return msg


@pytest.mark.parametrize("msg, reason", [
    (_bad(encoding="yuv422"), "unsupported encoding"),
    (_bad(encoding=""), "unsupported encoding"),
    (_bad(step=5), "smaller than a row"),
    (_bad(data=bytes(20)), "truncated"),
    (_bad(height=0), "empty image"),
    (_bad(width=0, step=0), "empty image"),
    (_bad(height=100000, width=100000, step=300000), "exceeds"),
    (_bad(encoding="mono16", step=7), "smaller than a row"),
])
def test_malformed_messages_raise_clear_errors(msg, reason):
    with pytest.raises(ImageConversionError, match=reason):
        image_to_bgr(msg)


def test_compressed():
    import cv2

    bgr = np.full((8, 8, 3), (10, 200, 30), np.uint8)
    ok, jpeg = cv2.imencode(".png", bgr)
    np.testing.assert_array_equal(compressed_to_bgr(CompressedImage(format="png", data=jpeg.tobytes())), bgr)
    with pytest.raises(ImageConversionError, match="cannot decode"):
        compressed_to_bgr(CompressedImage(format="jpeg", data=b"\xff\xd8 not a jpeg"))
    with pytest.raises(ImageConversionError, match="empty"):
        compressed_to_bgr(CompressedImage(format="jpeg", data=b""))
