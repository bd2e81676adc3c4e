"""Helpers for the node tests: a camera publisher and a recorder of the node's outputs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2

from ros_harness import wait_until

NODE = "/mixformerv2_tracker"


def stamp_key(header) -> tuple[int, int, str]:
    return (header.stamp.sec, header.stamp.nanosec, header.frame_id)


def clip_frames(uav_dev_dir: Path, clip: str, count: int):
    """First `count` frames (BGR) and ground-truth boxes of a uav_dev clip."""
    files = sorted((uav_dev_dir / clip / "img").glob("*.jpg"))[:count]
    lines = (uav_dev_dir / clip / "groundtruth.txt").read_text().split("\n")
    boxes = [tuple(float(v) for v in line.replace(",", " ").split()) for line in lines[:count]]
    return [cv2.imread(str(f)) for f in files], boxes


class NodeOutputs:
    """Subscribes to everything the tracker node publishes and keeps it, thread-safely."""

    def __init__(self, ros_node, node=NODE):
        from diagnostic_msgs.msg import DiagnosticArray
        from vision_msgs.msg import Detection2D, Detection2DArray

        from mixformerv2_ros.msg import TrackerStatus

        self.node = node
        self.lock = threading.Lock()
        self.detections, self.arrays, self.statuses, self.diagnostics = [], [], [], []
        n = ros_node.node
        n.create_subscription(Detection2D, f"{node}/detection", self._keep(self.detections), 100)
        n.create_subscription(Detection2DArray, f"{node}/detections", self._keep(self.arrays), 100)
        n.create_subscription(TrackerStatus, f"{node}/status", self._keep(self.statuses), 100)
        n.create_subscription(DiagnosticArray, "/diagnostics", self._keep(self.diagnostics), 10)

    def _keep(self, target):
        def callback(msg):
            with self.lock:
                target.append(msg)
        return callback

    def status_for(self, header):
        with self.lock:
            return next((s for s in self.statuses if stamp_key(s.header) == stamp_key(header)), None)

    def detections_for(self, header):
        with self.lock:
            return [d for d in self.detections if stamp_key(d.header) == stamp_key(header)]

    def diagnostic_value(self, key):
        """The newest value of `key` in this node's diagnostics."""
        with self.lock:
            for array in reversed(self.diagnostics):
                for status in array.status:
                    if not status.name.startswith(self.node):
                        continue
                    for kv in status.values:
                        if kv.key == key:
                            return kv.value
        return None


class Camera:
    """Publishes frames to the node's `image` topic with fresh stamps."""

    def __init__(self, ros_node, topic="/image", frame_id="camera", compressed=False):
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import CompressedImage, Image

        self.ros_node = ros_node
        self.frame_id = frame_id
        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self.compressed = compressed
        self.pub = ros_node.node.create_publisher(CompressedImage if compressed else Image, topic, qos)

    def wait_for_node(self, timeout=30.0):
        wait_until(lambda: self.pub.get_subscription_count() > 0, timeout, message="node did not subscribe")

    def send_first(self, outputs, image, timeout=30.0, patience=1.0):
        """Publish a BGR `image` again and again until the node answers one copy; return its header.

        A subscription count on our side does not mean the node has matched us, nor that we have
        matched its status publisher: messages sent before discovery settles in both directions
        are lost, so the first frame of a test is repeated until one comes back."""
        answered = []

        def one_try():
            header = self.publish(self.message_for(image))
            try:
                wait_until(lambda: outputs.status_for(header) is not None, patience)
            except TimeoutError:
                return False
            answered.append(header)
            return True

        wait_until(one_try, timeout, interval=0.0, message="the node answered none of the first frames")
        return answered[0]

    def publish(self, msg):
        msg.header.stamp = self.ros_node.node.get_clock().now().to_msg()
        msg.header.frame_id = self.frame_id
        self.pub.publish(msg)
        return msg.header

    def message_for(self, image):
        """A BGR image as this camera's message type (JPEG for a compressed camera)."""
        if self.compressed:
            from sensor_msgs.msg import CompressedImage

            return CompressedImage(format="jpeg", data=cv2.imencode(".jpg", image)[1].tobytes())
        from mixformerv2_ros.ros.image_conversion import bgr_to_image

        return bgr_to_image(image)

    def publish_bgr(self, image):
        return self.publish(self.message_for(image))


def init_request(box_xywh, header=None, image_msg=None):
    from mixformerv2_ros.srv import InitTarget

    request = InitTarget.Request()
    x, y, w, h = box_xywh
    request.box.center.position.x = x + w / 2.0
    request.box.center.position.y = y + h / 2.0
    request.box.size_x, request.box.size_y = float(w), float(h)
    if header is not None:
        request.header = header
    if image_msg is not None:
        request.image = image_msg
    return request
