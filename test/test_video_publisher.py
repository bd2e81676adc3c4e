"""video_publisher: the frames of a folder or a video file, in order, unchanged, at the asked rate."""

import threading
import time

import cv2
import numpy as np
import pytest

from ros_harness import wait_until

pytestmark = pytest.mark.ros


class Received:
    """Keeps every Image on /camera/image with the time it arrived."""

    def __init__(self, ros_node, topic="/camera/image"):
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        self.lock = threading.Lock()
        self.messages = []
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        ros_node.node.create_subscription(Image, topic, self._keep, qos)

    def _keep(self, msg):
        with self.lock:
            self.messages.append(msg)

    def count(self):
        with self.lock:
            return len(self.messages)


def _stamps(messages):
    return np.array([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in messages])


def _start(start_ros_executable, **params):
    return start_ros_executable("video_publisher", params=params, ros_args=["-r", "image:=/camera/image"])


def test_image_folder_is_published_in_order_unchanged_at_the_rate(start_ros_executable, ros_node, uav_dev_dir):
    from mixformerv2_ros.ros.image_conversion import image_to_bgr

    folder = uav_dev_dir / "boat1" / "img"
    files = sorted(folder.glob("*.jpg"))[:15]
    received = Received(ros_node)
    started = time.time()
    publisher = _start(start_ros_executable, source=str(folder), rate=30.0, max_frames=len(files),
                       frame_id="drone_cam", depth=len(files))
    wait_until(lambda: received.count() >= len(files), 30.0, message=f"frames missing\n{publisher.log()}")
    wait_until(lambda: not publisher.alive(), 10.0, message="publisher did not stop after max_frames")
    assert publisher.process.returncode == 0, publisher.log()
    messages = received.messages
    assert len(messages) == len(files)
    for msg, path in zip(messages, files):
        assert msg.header.frame_id == "drone_cam" and msg.encoding == "bgr8"
        np.testing.assert_array_equal(image_to_bgr(msg), cv2.imread(str(path)))
    stamps = _stamps(messages)
    assert np.all(np.diff(stamps) > 0), "stamps strictly increase"
    assert started - 1.0 < stamps[0] and stamps[-1] < time.time(), "stamps are the time of publication"
    assert np.median(np.diff(stamps)) == pytest.approx(1 / 30.0, rel=0.3)  # median: a stall is one gap


def test_video_file_uses_its_own_rate_and_loops(start_ros_executable, ros_node, tmp_path):
    from mixformerv2_ros.ros.image_conversion import image_to_bgr

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 20.0, (96, 64))
    for i in range(6):
        frame = np.full((64, 96, 3), 40 * i, np.uint8)
        cv2.putText(frame, str(i), (30, 50), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
        writer.write(frame)
    writer.release()
    capture = cv2.VideoCapture(str(path))
    decoded = [capture.read()[1] for _ in range(6)]

    received = Received(ros_node)
    publisher = _start(start_ros_executable, source=str(path), loop=True, max_frames=15, depth=15)
    wait_until(lambda: received.count() >= 15, 30.0, message=f"frames missing\n{publisher.log()}")
    wait_until(lambda: not publisher.alive(), 10.0, message="publisher did not stop after max_frames")
    for i, msg in enumerate(received.messages):
        np.testing.assert_array_equal(image_to_bgr(msg), decoded[i % 6], err_msg=f"frame {i}")
    assert np.median(np.diff(_stamps(received.messages))) == pytest.approx(1 / 20.0, rel=0.3)


def test_start_frame_skips_the_first_frames_also_when_looping(start_ros_executable, ros_node, uav_dev_dir,
                                                              tmp_path):
    from mixformerv2_ros.ros.image_conversion import image_to_bgr

    folder = tmp_path / "clip"
    folder.mkdir()
    files = sorted((uav_dev_dir / "boat1" / "img").glob("*.jpg"))[:5]
    for path in files:
        (folder / path.name).symlink_to(path)
    received = Received(ros_node)
    publisher = _start(start_ros_executable, source=str(folder), rate=30.0, start_frame=3, loop=True,
                       max_frames=4, depth=4)
    wait_until(lambda: received.count() >= 4, 30.0, message=f"frames missing\n{publisher.log()}")
    wait_until(lambda: not publisher.alive(), 10.0, message="publisher did not stop after max_frames")
    for msg, path in zip(received.messages, [files[3], files[4], files[3], files[4]]):
        np.testing.assert_array_equal(image_to_bgr(msg), cv2.imread(str(path)))
    beyond = _start(start_ros_executable, source=str(folder), start_frame=5)
    wait_until(lambda: not beyond.alive(), 20.0, message="publisher kept running past its source's end")
    assert beyond.process.returncode != 0 and "the source has only 5 frames" in beyond.log(), beyond.log()


def test_missing_source_fails_with_a_message(start_ros_executable, tmp_path):
    publisher = _start(start_ros_executable, source=str(tmp_path / "nothing.mp4"))
    wait_until(lambda: not publisher.alive(), 20.0, message="publisher kept running without a source")
    assert publisher.process.returncode != 0
    assert "no such video file or image folder" in publisher.log()


def test_an_unreadable_image_is_reported_and_skipped(start_ros_executable, ros_node, uav_dev_dir, tmp_path):
    from mixformerv2_ros.ros.image_conversion import image_to_bgr

    folder = tmp_path / "clip"
    folder.mkdir()
    files = sorted((uav_dev_dir / "boat1" / "img").glob("*.jpg"))[:4]
    for path in files:
        (folder / path.name).symlink_to(path)
    (folder / files[2].name).unlink()
    (folder / files[2].name).write_bytes(b"a truncated download")
    received = Received(ros_node)
    publisher = _start(start_ros_executable, source=str(folder), rate=30.0, depth=4)
    wait_until(lambda: received.count() >= 3, 30.0, message=f"frames missing\n{publisher.log()}")
    wait_until(lambda: not publisher.alive(), 10.0, message="publisher did not stop at the end")
    assert publisher.process.returncode == 0, publisher.log()
    for msg, path in zip(received.messages, [files[0], files[1], files[3]]):
        np.testing.assert_array_equal(image_to_bgr(msg), cv2.imread(str(path)))
    assert f"{files[2].name}: cannot be read as an image; skipped" in publisher.log()
    assert "published 3 frames, skipped 1 unreadable" in publisher.log()
