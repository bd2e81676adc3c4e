"""video_publisher: a video file or an image folder published as sensor_msgs/Image (bgr8).

Frames go out at the source's rate (or ``rate``), stamped with the node clock at publication,
with ``frame_id``; ``start_frame`` skips that many frames first (the demo starts where its
target is in view); ``loop`` restarts at ``start_frame`` at the end; ``max_frames`` stops early. Publishing starts
once ``wait_for_subscribers`` subscribers are there; ``reliability`` and ``depth`` (history,
default 1) set the QoS. Before it exits, a reliable publisher waits (up to 5 s) until its
subscribers have acknowledged the frames still in its history. Used by the demo, the tests and
anyone replaying a clip into the tracker. An image that cannot be decoded is logged with its
name and skipped; a folder with none readable ends the replay (looping it would spin).
"""

from __future__ import annotations

import time

import rclpy
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from std_msgs.msg import Header

from mixformerv2_ros.ros.image_conversion import bgr_to_image
from mixformerv2_ros.tools.datasets import FrameSource


class VideoPublisher(Node):
    def __init__(self):
        super().__init__("video_publisher")
        self.source = FrameSource(self.declare_parameter("source", "").value,
                                  self.declare_parameter("start_frame", 0).value)
        rate = self.declare_parameter("rate", 0.0).value
        self.period = 1.0 / (rate if rate > 0 else self.source.fps or 30.0)
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
        self.skipped = 0

    def run(self) -> int:
        deadline = time.monotonic() + 60.0
        while self.publisher.get_subscription_count() < self.wait_for_subscribers:
            if time.monotonic() > deadline:
                self.get_logger().error(f"no subscriber on {self.publisher.topic_name} within 60 s")
                return 1
            rclpy.spin_once(self, timeout_sec=0.05)
        next_time = time.monotonic()
        while rclpy.ok():
            try:
                frame = self.source.read()
            except ValueError as exc:  # one undecodable file in a folder: say which, go on
                self.get_logger().error(f"{exc}; skipped")
                self.skipped += 1
                continue
            if frame is None:
                if not self.loop or self.published == 0:  # nothing readable: looping would spin
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
        self.get_logger().info(f"published {self.published} frames"
                               + (f", skipped {self.skipped} unreadable" if self.skipped else ""))
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
