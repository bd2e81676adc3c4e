"""Image conversion: every encoding, padding, byte order, zero-copy, and refusals (cv_bridge against
the own conversion: test_cv_bridge_conversion.py).

Uses the real generated sensor_msgs classes, so the buffers are the ones rclpy hands to callbacks
(``array.array``).
"""

import array

import cv2
import numpy as np
import pytest

pytestmark = pytest.mark.ros

from mixformerv2_ros.ros.image_conversion import (  # noqa: E402
    MAX_SIDE, SUPPORTED_ENCODINGS, ImageConversionError, ImageDecoder, bgr_to_image, compressed_to_bgr,
    image_to_array, image_to_bgr, own_image_to_bgr)

HEIGHT, WIDTH, PADDING = 7, 5, 6  # odd sizes and a padding that is not a multiple of the pixel


def _bgr_reference(rng):
    return rng.integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)


def _encode(bgr, encoding):
    """The pixels of ``bgr`` as ``encoding`` stores them (H x W x C, native order)."""
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    return {
        "bgr8": bgr, "8UC3": bgr,
        "rgb8": cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB),
        "bgra8": cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA),
        "rgba8": cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA),
        "mono8": gray[..., None], "8UC1": gray[..., None],
        "mono16": (gray.astype(np.uint16) * 257)[..., None],
        "16UC1": (gray.astype(np.uint16) * 257 + 3)[..., None],
    }[encoding]


def _message(pixels, encoding, padding=PADDING, big_endian=False):
    """A sensor_msgs/Image holding ``pixels`` with ``padding`` junk bytes after every row."""
    from sensor_msgs.msg import Image

    height, width = pixels.shape[:2]
    stored = pixels.astype(pixels.dtype.newbyteorder(">" if big_endian else "<"))
    rows = stored.reshape(height, -1).view(np.uint8)
    junk = np.full((height, padding), 0xAB, dtype=np.uint8)
    msg = Image(height=height, width=width, encoding=encoding, is_bigendian=int(big_endian))
    msg.step = rows.shape[1] + padding
    msg.data = array.array("B", np.hstack([rows, junk]).tobytes())
    return msg


@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
@pytest.mark.parametrize("padding", [0, PADDING])
def test_every_encoding_round_trips_with_padding(encoding, padding):
    rng = np.random.default_rng(abs(hash(encoding)) % 1000)
    bgr = _bgr_reference(rng)
    stored = _encode(bgr, encoding)
    msg = _message(stored, encoding, padding)
    np.testing.assert_array_equal(image_to_array(msg), stored)
    converted = image_to_bgr(msg)
    assert converted.shape == (HEIGHT, WIDTH, 3) and converted.dtype == np.uint8
    if stored.shape[2] >= 3:
        np.testing.assert_array_equal(converted, bgr)
    else:  # grey: every channel carries the (high byte of the) grey value
        grey8 = stored[..., 0] >> 8 if stored.dtype == np.uint16 else stored[..., 0]
        for channel in range(3):
            np.testing.assert_array_equal(converted[..., channel], grey8)


def test_big_endian_mono16_reads_the_same_values():
    values = np.arange(HEIGHT * WIDTH, dtype=np.uint16).reshape(HEIGHT, WIDTH, 1) * 1000 + 7
    little = _message(values, "mono16", big_endian=False)
    big = _message(values, "mono16", big_endian=True)
    assert bytes(little.data) != bytes(big.data)
    np.testing.assert_array_equal(image_to_array(big), values)
    np.testing.assert_array_equal(own_image_to_bgr(big), own_image_to_bgr(little))
    np.testing.assert_array_equal(own_image_to_bgr(big)[..., 0], (values[..., 0] >> 8).astype(np.uint8))
    # image_to_bgr may take cv_bridge for one byte order and not the other (numpy 2 breaks its
    # byte swap); cv_bridge scales 16 -> 8 bits with rounding: the two agree within one level.
    difference = image_to_bgr(big).astype(int) - image_to_bgr(little).astype(int)
    assert np.abs(difference).max() <= 1


def test_bgr8_is_a_zero_copy_view_of_the_message_buffer():
    bgr = _bgr_reference(np.random.default_rng(1))
    msg = bgr_to_image(bgr)
    assert msg.step == WIDTH * 3 and isinstance(msg.data, array.array)
    converted = image_to_bgr(msg)
    assert np.shares_memory(converted, np.frombuffer(msg.data, dtype=np.uint8))
    np.testing.assert_array_equal(converted, bgr)
    padded = _message(bgr, "bgr8", PADDING)  # padded rows: still a (strided) view
    assert np.shares_memory(image_to_bgr(padded), np.frombuffer(padded.data, dtype=np.uint8))


def test_bgr_to_image_writes_bgr8_and_rgb8_with_the_header():
    from std_msgs.msg import Header

    bgr = _bgr_reference(np.random.default_rng(2))
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 12, 34
    for encoding in ("bgr8", "rgb8"):
        msg = bgr_to_image(bgr, header, encoding)
        assert (msg.encoding, msg.height, msg.width, msg.step) == (encoding, HEIGHT, WIDTH, WIDTH * 3)
        assert msg.header == header
        np.testing.assert_array_equal(image_to_bgr(msg), bgr)
    with pytest.raises(ImageConversionError, match="mono8"):
        bgr_to_image(bgr, encoding="mono8")
    with pytest.raises(ImageConversionError, match="H x W x 3"):
        bgr_to_image(bgr[..., 0])


def test_compressed_images_decode_and_corrupt_ones_are_refused():
    from sensor_msgs.msg import CompressedImage

    bgr = _bgr_reference(np.random.default_rng(3))
    ok, png = cv2.imencode(".png", bgr)
    assert ok
    msg = CompressedImage(format="png", data=array.array("B", png.tobytes()))
    np.testing.assert_array_equal(compressed_to_bgr(msg), bgr)
    ok, jpeg = cv2.imencode(".jpg", bgr)
    corrupt = [b"", b"\xff\xd8\xff\xe0garbage", jpeg.tobytes()[:20], bytes(200)]
    for data in corrupt:
        with pytest.raises(ImageConversionError, match="compressed image"):
            compressed_to_bgr(CompressedImage(format="jpeg", data=array.array("B", data)))


def _good(**changes):
    msg = _message(_bgr_reference(np.random.default_rng(4)), "bgr8", padding=0)
    for name, value in changes.items():
        setattr(msg, name, value)
    return msg


@pytest.mark.parametrize("changes, reason", [
    ({"encoding": "yuv422"}, "unsupported encoding 'yuv422'"),
    ({"encoding": ""}, "unsupported encoding ''"),
    ({"encoding": "32FC1"}, "unsupported encoding"),
    ({"width": 0}, "empty image"),
    ({"height": 0}, "empty image"),
    ({"width": MAX_SIDE + 1, "step": (MAX_SIDE + 1) * 3}, "exceeds"),
    ({"height": 4_000_000_000}, "exceeds"),
    ({"step": WIDTH * 3 - 1}, "step 14 is smaller than a row"),
    ({"step": 0}, "smaller than a row"),
    ({"data": array.array("B", bytes(HEIGHT * WIDTH * 3 - 1))}, "truncated data"),
    ({"data": array.array("B")}, "truncated data"),
    ({"height": HEIGHT + 1}, "truncated data"),
])
def test_malformed_images_raise_a_value_error_naming_the_problem(changes, reason):
    msg = _good(**changes)
    for convert in (image_to_bgr, image_to_array, ImageDecoder().image):
        with pytest.raises(ValueError, match=reason):
            convert(msg)


def test_odd_step_for_16_bit_samples_is_refused():
    msg = _message(np.zeros((HEIGHT, WIDTH, 1), np.uint16), "mono16", padding=1)
    with pytest.raises(ImageConversionError, match="not a multiple"):
        image_to_bgr(msg)


def test_decoder_without_cv_bridge_matches_the_module_functions():
    decoder = ImageDecoder(use_cv_bridge=False)
    assert decoder.backend == "mixformerv2_ros.ros.image_conversion"
    msg = _message(_encode(_bgr_reference(np.random.default_rng(5)), "rgba8"), "rgba8")
    np.testing.assert_array_equal(decoder.image(msg), image_to_bgr(msg))
