"""The node's frame intake without DDS: newest-frame slot, stamp buffer, gating, accounting.

Real sensor_msgs messages and real threads; no node, no executor, no rclpy.init.
"""

import threading

import cv2
import numpy as np
import pytest

from ros_harness import wait_until

pytestmark = pytest.mark.ros  # the message types come with the ROS environment (no DDS is used)


@pytest.fixture
def intake():
    from mixformerv2_ros.ros.frame_intake import FrameIntake
    from mixformerv2_ros.ros.node_stats import NodeStats

    return FrameIntake(NodeStats(), buffer_length=4)


def _image(stamp_s: int, value: int = 0, width: int = 8, height: int = 6):
    from mixformerv2_ros.ros.image_conversion import bgr_to_image

    msg = bgr_to_image(np.full((height, width, 3), value, np.uint8))
    msg.header.stamp.sec = stamp_s
    msg.header.frame_id = "cam"
    return msg


def _counts(intake):
    return intake._stats.counts()


def _take(intake):
    return intake.take_newest(threading.Event(), poll_s=0.01)


def test_the_worker_gets_only_the_newest_frame(intake):
    for stamp in (1, 2, 3):
        intake.offer(_image(stamp))
    frame = _take(intake)
    assert frame.header.stamp.sec == 3 and frame.stamp_ns == 3_000_000_000
    counts = _counts(intake)
    assert counts["received"] == 3 and counts["skipped"] == 2, "two frames were replaced before being taken"
    stop = threading.Event()
    stop.set()
    assert intake.take_newest(stop, poll_s=0.01) is None, "the slot is empty once taken"


def test_a_waiting_worker_wakes_for_a_frame_and_for_stop(intake):
    stop, taken = threading.Event(), []
    worker = threading.Thread(target=lambda: taken.append(intake.take_newest(stop, poll_s=5.0)))
    worker.start()
    intake.offer(_image(7))
    worker.join(timeout=2.0)
    assert not worker.is_alive() and taken[0].header.stamp.sec == 7, "offer wakes the worker at once"
    worker = threading.Thread(target=lambda: taken.append(intake.take_newest(stop, poll_s=5.0)))
    worker.start()
    stop.set()
    intake.wake()
    worker.join(timeout=2.0)
    assert not worker.is_alive() and taken[1] is None


def test_a_malformed_image_is_refused_and_never_displaces_a_good_one(intake):
    from mixformerv2_ros.ros.image_conversion import ImageConversionError

    intake.offer(_image(1, 50))
    bad = _image(2)
    bad.step = 3  # smaller than a row
    with pytest.raises(ImageConversionError, match="step"):
        intake.offer(bad)
    bad = _image(3)
    bad.encoding = "yuv422"
    with pytest.raises(ImageConversionError, match="unsupported encoding"):
        intake.offer(bad)
    frame = _take(intake)
    assert frame.header.stamp.sec == 1 and int(frame.decode()[0, 0, 0]) == 50
    assert intake.find(0)[0] is frame, "refused frames do not enter the stamp buffer either"
    assert _counts(intake)["received"] == 3  # the caller counts the two refusals as rejected


def test_stamp_buffer_serves_init_requests(intake):
    frames = [intake.offer(_image(stamp)) for stamp in range(1, 7)]  # buffer keeps the last 4
    frame, exact = intake.find(4_000_000_000)
    assert exact and frame is frames[3]
    frame, exact = intake.find(1_000_000_000)  # evicted: the newest instead, and says so
    assert not exact and frame is frames[-1]
    frame, exact = intake.find(0)  # zero stamp: the newest
    assert not exact and frame is frames[-1]
    intake.clear()
    assert intake.find(0) == (None, False)


def test_gate_skips_the_init_frame_and_older_ones_then_opens(intake):
    first = intake.offer(_image(10))
    assert intake.admit(first)
    intake.skip_through(first.stamp_ns)  # a track was started on this frame
    assert not intake.admit(first)
    assert not intake.admit(intake.offer(_image(9)))
    newer = intake.offer(_image(11))
    assert intake.admit(newer)
    # the mark is lifted by the newer frame: a recording that loops (older stamps) goes on
    assert intake.admit(intake.offer(_image(5)))
    assert _counts(intake)["skipped"] >= 2


def test_disabled_frames_stay_unprocessed_after_re_enabling(intake):
    intake.set_enabled(False)
    assert not intake.enabled
    during = intake.offer(_image(20))
    assert not intake.admit(during)
    intake.offer(_image(21))  # pending in the slot when output is enabled again
    before = _counts(intake)["skipped"]
    intake.set_enabled(True)
    assert _counts(intake)["skipped"] == before + 1, "the pending frame is dropped and counted"
    stop = threading.Event()
    stop.set()
    assert intake.take_newest(stop, poll_s=0.01) is None
    assert not intake.admit(during), "a frame that arrived while disabled is never tracked"
    assert intake.admit(intake.offer(_image(22)))


def test_every_received_frame_is_accounted_for_under_a_concurrent_worker(intake):
    """Received = processed + skipped + rejected, with a real worker thread racing the callback."""
    from mixformerv2_ros.ros.image_conversion import ImageConversionError

    stats, stop = intake._stats, threading.Event()

    def worker():
        while not stop.is_set():
            frame = intake.take_newest(stop, poll_s=0.01)
            if frame is not None and intake.admit(frame):
                stats.frame_processed(1.0, 0.5, 2.0, 0.9, "tracking")

    thread = threading.Thread(target=worker)
    thread.start()
    for stamp in range(1, 400):
        msg = _image(stamp)
        if stamp % 7 == 0:
            msg.data = bytes(5)  # truncated
        try:
            intake.offer(msg)
        except ImageConversionError as exc:
            stats.reject(str(exc))
        if stamp == 200:
            intake.set_enabled(False)
        if stamp == 300:
            intake.set_enabled(True)

    def settled():
        c = stats.counts()
        return c["received"] == c["processed"] + c["skipped"] + c["rejected"]

    wait_until(settled, 5.0, message=str(stats.counts()))
    stop.set()
    intake.wake()
    thread.join(timeout=2.0)
    counts = stats.counts()
    assert counts["received"] == 399 and counts["rejected"] == 399 // 7
    assert counts["processed"] > 0 and counts["skipped"] > 0


def test_decoding_raw_and_compressed_frames():
    from sensor_msgs.msg import CompressedImage

    from mixformerv2_ros.ros.frame_intake import Frame
    from mixformerv2_ros.ros.image_conversion import ImageConversionError

    image = np.random.default_rng(0).integers(0, 255, (6, 8, 3), dtype=np.uint8)
    raw = _image(1)
    raw.data = image.tobytes()
    assert np.array_equal(Frame(raw, 1).decode(), image)
    png = CompressedImage(format="png", data=cv2.imencode(".png", image)[1].tobytes())
    assert np.array_equal(Frame(png, 1).decode(), image)
    with pytest.raises(ImageConversionError):
        Frame(CompressedImage(format="jpeg", data=b"\xff\xd8\xff" + bytes(20)), 1).decode()


def test_buffer_length_must_be_positive(intake):
    with pytest.raises(ValueError, match="buffer_length"):
        intake.resize(0)
    intake.resize(1)
    intake.offer(_image(1))
    intake.offer(_image(2))
    assert intake.find(1_000_000_000) == (intake.find(0)[0], False)
