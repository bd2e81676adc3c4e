"""video_publisher: a video file or an image folder published as sensor_msgs/Image (bgr8).

Frames go out at the source's rate (or ``rate``), stamped with the node clock at publication,
with ``frame_id``; ``start_frame`` skips that many frames first (the demo starts where its
target is in view); ``loop`` restarts at ``start_frame`` at the end; ``max_frames`` stops early. Publishing starts
once ``wait_for_subscribers`` subscribers are there; ``reliability`` and ``depth`` (history,
default 1) set the QoS. Before it exits, a reliable publisher waits (up to 5 s) until its
subscribers have acknowledged the frames still in its history. Used by the demo, the tests and
anyone replaying a clip into the tracker.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import rclpy
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from mixformerv2_ros.ros.image_conversion import bgr_to_image

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


class FrameSource:
    """Frames of a video file or of the sorted images of a folder, with the source's frame rate."""

    def __init__(self, source: str, start_frame: int = 0):
        path = Path(source)
        if path.is_dir():
            self.files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self.files:
                raise ValueError(f"{path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
            self.capture, self.fps = None, 30.0
        elif path.is_file():
            self.files, self.capture = None, cv2.VideoCapture(str(path))
            if not self.capture.isOpened():
                raise ValueError(f"{path}: cannot open as a video")
            self.fps = self.capture.get(cv2.CAP_PROP_FPS) or 30.0
        else:
            raise ValueError(f"{source}: no such file or folder")
        if isinstance(start_frame, bool) or not isinstance(start_frame, int) or start_frame < 0:
            raise ValueError(f"start_frame must be an integer >= 0, got {start_frame!r}")
        self.start_frame = start_frame
        self.rewind()

    def read(self):
        """The next BGR frame, or None at the end."""
        if self._first is not None:
            frame, self._first = self._first, None
            return frame
        if self.files is not None:
            if self.index >= len(self.files):
                return None
            frame = cv2.imread(str(self.files[self.index]), cv2.IMREAD_COLOR)
        else:
            ok, frame = self.capture.read()
            frame = frame if ok else None
        self.index += 1
        return frame

    def rewind(self):
        """Back to ``start_frame``. A folder just moves its index there. A video grabs (decodes
        without converting) the frames before it, because seeking in a compressed video lands on a
        key frame, not on the frame asked for; it then reads ``start_frame`` itself to check that
        the video reaches it, and ``read`` returns that frame first."""
        self._first = None
        if self.files is not None:
            if self.start_frame >= len(self.files):
                raise ValueError(f"start_frame {self.start_frame}: the source has only {len(self.files)} frames")
            self.index = self.start_frame
            return
        self.capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
        for skipped in range(self.start_frame):
            if not self.capture.grab():
                raise ValueError(f"start_frame {self.start_frame}: the source has only {skipped} frames")
        ok, frame = self.capture.read()
        if not ok:
            raise ValueError(f"start_frame {self.start_frame}: the source has only {self.start_frame} frames")
        self.index, self._first = self.start_frame + 1, frame


class VideoPublisher(Node):
    def __init__(self):
        super().__init__("video_publisher")
        self.source = FrameSource(self.declare_parameter("source", "").value,
                                  self.declare_parameter("start_frame", 0).value)
        rate = self.declare_parameter("rate", 0.0).value
        self.period = 1.0 / (rate if rate > 0 else self.source.fps)
        self.loop = self.declare_parameter("loop", False).value
        self.frame_id = self.declare_parameter("frame_id", "camera").value
        self.max_frames = self.declare_parameter("max_frames", 0).value
        self.wait_for_subscribers = self.declare_parameter("wait_for_subscribers", 1).value
        reliable = self.declare_parameter("reliability", "reliable").value == "reliable"
        # 1: a late subscriber gets the newest frame only. A reliable subscriber that must see every
        # frame needs more: frames sent before it has matched this publisher (discovery finishes
        # on each side at its own time) are resent only while they are still in this history.
        depth = self.declare_parameter("depth", 1).value
        qos = QoSProfile(depth=depth, history=HistoryPolicy.KEEP_LAST,
                         reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)
        self.publisher = self.create_publisher(Image, "image", qos)
        self.published = 0

    def run(self) -> int:
        deadline = time.monotonic() + 60.0
        while self.publisher.get_subscription_count() < self.wait_for_subscribers:
            if time.monotonic() > deadline:
                self.get_logger().error(f"no subscriber on {self.publisher.topic_name} within 60 s")
                return 1
            rclpy.spin_once(self, timeout_sec=0.05)
        next_time = time.monotonic()
        while rclpy.ok():
            frame = self.source.read()
            if frame is None:
                if not self.loop:
                    break
                self.source.rewind()
                continue
            now = time.monotonic()
            if now < next_time:
                time.sleep(next_time - now)
            next_time = max(next_time + self.period, time.monotonic() - self.period)
            header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.frame_id)
            self.publisher.publish(bgr_to_image(frame, header))
            self.published += 1
            if self.max_frames and self.published >= self.max_frames:
                break
        # Leaving at once would take the frames a reliable subscriber has not acknowledged yet
        # (a busy reader, a network retransmission) with us.
        if not self.publisher.wait_for_all_acked(Duration(seconds=5.0)):
            self.get_logger().warn("some subscribers had not acknowledged the last frames within 5 s")
        self.get_logger().info(f"published {self.published} frames")
        return 0


def main(args=None) -> int:
    rclpy.init(args=args)
    try:
        node = VideoPublisher()
    except ValueError as exc:
        print(f"video_publisher: {exc}")
        rclpy.try_shutdown()
        return 2
    try:
        return node.run()
    except KeyboardInterrupt:
        return 0
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
