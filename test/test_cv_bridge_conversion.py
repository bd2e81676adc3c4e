"""ROS 2's cv_bridge against the package's own image conversion, on every encoding.

``image_to_bgr`` (what the node's frame intake calls) goes through cv_bridge where cv_bridge is
installed and works for the kind of image (encoding and byte order; probed once per process),
else through the own conversion (see image_conversion.py). Here, for every supported encoding in
both byte orders:

- where cv_bridge is used, its result is compared with the own conversion (equal for 8-bit
  encodings; within one grey level for 16-bit ones, which cv_bridge scales by 255/65535 with
  rounding where the own conversion keeps the high byte), and ``image_to_bgr`` is shown to return
  cv_bridge's result;
- where it is not, the reason is checked against what cv_bridge really does with such a message
  (it fails, or it disagrees), the own conversion is what ``image_to_bgr`` returns, and the
  refusal is logged with its reason.

Nothing is skipped: without cv_bridge (no ROS 2 extras on this machine) every kind takes the own
conversion and the reason says cv_bridge is not installed. Where set-up should have built
cv_bridge (../shared/third_party/ros2 exists) it must be there.
"""

from __future__ import annotations

import array
import logging

import cv2
import numpy as np
import pytest

from ros_cli import extras_archive
from ros_harness import wait_until

pytestmark = pytest.mark.ros

from mixformerv2_ros.ros import image_conversion as ic  # noqa: E402

HEIGHT, WIDTH = 9, 11
CLIP_FOR_NODE = "boat1"


def _installed_cv_bridge():
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        get_package_prefix("cv_bridge")
    except PackageNotFoundError:
        return None
    from cv_bridge import CvBridge

    return CvBridge()


@pytest.fixture(scope="module")
def bridge():
    """The installed cv_bridge, or None where this machine has none (and may have none)."""
    installed = _installed_cv_bridge()
    if installed is None and extras_archive().is_file():
        pytest.fail(f"{extras_archive()} exists, so set-up must have built cv_bridge "
                    "(scripts/build_ros_extras.sh), but it is not installed here", pytrace=False)
    return installed


def _message(encoding, big_endian, padding_pixels=1, seed=0):
    """A random image of ``encoding`` with ``padding_pixels`` whole pixels of junk after each row."""
    from sensor_msgs.msg import Image

    channels, depth, _ = ic._ENCODINGS[encoding]
    rng = np.random.default_rng(seed)
    dtype = np.uint8 if depth == 1 else np.uint16
    values = rng.integers(0, np.iinfo(dtype).max + 1, size=(HEIGHT, WIDTH * channels), dtype=dtype)
    rows = values.astype(values.dtype.newbyteorder(">" if big_endian else "<")).view(np.uint8)
    junk = np.full((HEIGHT, padding_pixels * channels * depth), 0xCD, np.uint8)
    msg = Image(height=HEIGHT, width=WIDTH, encoding=encoding, is_bigendian=int(big_endian))
    msg.step = rows.shape[1] + junk.shape[1]
    msg.data = array.array("B", np.hstack([rows, junk]).tobytes())
    return msg


#: Every encoding in both byte orders (is_bigendian means nothing to 8-bit data, but a camera may set it).
KINDS = [(encoding, big) for encoding in ic.SUPPORTED_ENCODINGS for big in (False, True)]


def _max_difference(a, b) -> int:
    return int(np.abs(a.astype(np.int32) - b.astype(np.int32)).max())


@pytest.mark.parametrize("encoding, big_endian", KINDS,
                         ids=[f"{e}-{'be' if b else 'le'}" for e, b in KINDS])
def test_cv_bridge_and_own_conversion_agree_or_the_fallback_says_why(bridge, encoding, big_endian, capsys):
    msg = _message(encoding, big_endian)
    own = ic.own_image_to_bgr(msg)
    assert own.shape == (HEIGHT, WIDTH, 3) and own.dtype == np.uint8
    path, reason = ic.conversion_path(encoding, big_endian)
    converted = ic.image_to_bgr(msg)
    sixteen_bit = ic._ENCODINGS[encoding][1] == 2
    with capsys.disabled():  # the verdict per kind, in the test log
        print(f"\n  {encoding} {'big' if big_endian else 'little'}-endian: {path}"
              f"{' (' + reason + ')' if reason else ''}")

    if bridge is None:
        assert path == ic.OWN and "not installed" in reason
        np.testing.assert_array_equal(converted, own)
        return
    if path == ic.CV_BRIDGE:
        assert reason == ""
        from_bridge = bridge.imgmsg_to_cv2(msg, desired_encoding="bgr8")
        assert from_bridge.shape == own.shape and from_bridge.dtype == np.uint8
        assert _max_difference(from_bridge, own) <= (1 if sixteen_bit else 0)
        np.testing.assert_array_equal(converted, from_bridge)  # image_to_bgr really took cv_bridge
        return
    # The own conversion, for a reason that must be true of this cv_bridge.
    assert reason, f"{encoding}: own conversion without a reason"
    np.testing.assert_array_equal(converted, own)
    if encoding in ("bgr8", "8UC3"):
        assert "already BGR" in reason
        assert np.shares_memory(converted, np.frombuffer(msg.data, dtype=np.uint8)), "bgr8 is a view"
        return
    try:
        from_bridge = bridge.imgmsg_to_cv2(msg, desired_encoding="bgr8")
    except Exception as error:
        assert type(error).__name__ in reason, f"cv_bridge raised {error!r}; the recorded reason: {reason}"
    else:
        assert "differs" in reason or "returned" in reason, reason
        assert from_bridge.shape != own.shape or _max_difference(from_bridge, own) > (1 if sixteen_bit else 0)


def test_a_refused_probe_is_logged_once_with_its_reason(bridge, caplog):
    routing = ic._CvBridgeRouting()  # a fresh one: the module's own has probed already
    with caplog.at_level(logging.INFO, logger=ic.__name__):
        verdicts = {kind: routing.path(*kind) for kind in KINDS}
        again = {kind: routing.path(*kind) for kind in KINDS}
    assert verdicts == again
    logged = [r.getMessage() for r in caplog.records]
    if bridge is None:
        assert len(logged) == 1 and "not installed" in logged[0], logged
        return
    refused = [kind for kind, (path, reason) in verdicts.items()
               if path == ic.OWN and "already BGR" not in reason]
    assert len(logged) == len(refused), logged  # once per kind, not per call
    for (encoding, big_endian), message in zip(refused, logged):
        assert encoding in message and verdicts[(encoding, big_endian)][1] in message


def test_rows_that_are_not_whole_pixels_take_the_own_conversion(bridge):
    """cv_bridge's Python part takes the row length as step / pixel size: with a padding that is
    not a whole pixel it would read shifted rows. image_to_bgr reads them right either way."""
    from sensor_msgs.msg import Image

    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
    rows = np.hstack([rgb.reshape(HEIGHT, -1), np.full((HEIGHT, 2), 0xEE, np.uint8)])  # 2 bytes: not a pixel
    msg = Image(height=HEIGHT, width=WIDTH, encoding="rgb8", step=rows.shape[1],
                data=array.array("B", rows.tobytes()))
    np.testing.assert_array_equal(ic.image_to_bgr(msg), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if bridge is not None and ic.conversion_path("rgb8")[0] == ic.CV_BRIDGE:
        shifted = bridge.imgmsg_to_cv2(msg, desired_encoding="bgr8")
        assert not np.array_equal(shifted, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)), \
            "cv_bridge read a non-whole-pixel step right: the layout rule could be relaxed"


def test_compressed_and_outgoing_images_match_cv_bridge_where_it_works(bridge, capsys):
    """The own code serves compressed input and outgoing messages (see image_conversion.py); where
    cv_bridge can do the same, the results are the same."""
    from sensor_msgs.msg import CompressedImage

    bgr = np.random.default_rng(3).integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
    ok, png = cv2.imencode(".png", bgr)
    compressed = CompressedImage(format="png", data=array.array("B", png.tobytes()))
    np.testing.assert_array_equal(ic.compressed_to_bgr(compressed), bgr)
    outgoing = ic.bgr_to_image(bgr)
    if bridge is None:
        return
    np.testing.assert_array_equal(bridge.compressed_imgmsg_to_cv2(compressed, desired_encoding="bgr8"), bgr)
    try:
        from_bridge = bridge.cv2_to_imgmsg(bgr, encoding="bgr8")
    except Exception as error:  # cv_bridge's type table from cv2 (OpenCV 5 renumbered the types)
        with capsys.disabled():
            print(f"\n  cv_bridge.cv2_to_imgmsg(bgr8) fails here: {type(error).__name__}: {error} "
                  f"(cv2 {cv2.__version__}); bgr_to_image does not depend on it")
        assert cv2.__version__.split(".")[0] != "4", f"cv_bridge fails with OpenCV {cv2.__version__}: {error!r}"
        return
    assert (from_bridge.encoding, from_bridge.height, from_bridge.width, from_bridge.step) == \
        (outgoing.encoding, outgoing.height, outgoing.width, outgoing.step)
    assert bytes(from_bridge.data) == bytes(outgoing.data)


def test_the_node_converts_through_cv_bridge_where_it_works(bridge, start_ros_executable, ros_node, uav_dev_dir):
    """The node itself (its frame intake calls image_to_bgr): a bgr8 stream never loads cv_bridge
    (zero-copy own conversion); an rgb8 frame loads it into the node's process where cv_bridge
    works for rgb8 here, and the node tracks on the converted frame all the same. Read from the
    node's memory map, not from our copy of the module."""
    from pathlib import Path

    from node_test_utils import Camera, NodeOutputs, clip_frames

    from mixformerv2_ros.ros.image_conversion import bgr_to_image

    node = start_ros_executable("tracker_node", params={"reliability": "reliable", "precision": "fp32"})
    outputs = NodeOutputs(ros_node)
    camera = Camera(ros_node)
    camera.wait_for_node()
    frames, _ = clip_frames(uav_dev_dir, CLIP_FOR_NODE, 2)

    def loaded() -> bool:
        return "cv_bridge_boost" in Path(f"/proc/{node.pid}/maps").read_text()

    camera.send_first(outputs, frames[0])  # bgr8
    assert node.alive() and not loaded(), "a bgr8 stream must not load cv_bridge"

    def answered_rgb8():
        header = camera.publish(bgr_to_image(frames[1], encoding="rgb8"))
        try:
            wait_until(lambda: outputs.status_for(header) is not None, 1.0)
        except TimeoutError:
            return False
        return True

    wait_until(answered_rgb8, 30.0, interval=0.0, message="the node answered no rgb8 frame")
    expected = ic.conversion_path("rgb8")[0] == ic.CV_BRIDGE  # same environment as the node
    assert loaded() == expected, (f"rgb8 conversion path here: {ic.conversion_path('rgb8')}; cv_bridge in the "
                                  f"node's process: {loaded()}\n{node.log()}")

