"""relay_node: the tracker's wire path without the tracker, to measure transport on its own.

It subscribes to ``image`` exactly as the tracker node does (same QoS choices, depth 1) and
answers every frame with an empty ``vision_msgs/Detection2D`` carrying the image's header on
``~/detection``. Image in, small message out, both deserialised/serialised by rclpy: the same
hops as the tracker, so (tracker latency - relay latency) is what the tracker node adds.
"""

from __future__ import annotations

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image
from vision_msgs.msg import Detection2D


class RelayNode(Node):
    def __init__(self):
        super().__init__("relay")
        reliability = self.declare_parameter("reliability", "best_effort").value
        if reliability not in ("best_effort", "reliable"):
            raise ValueError(f"reliability must be best_effort or reliable, got {reliability!r}")
        policy = ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
        self._publisher = self.create_publisher(Detection2D, "~/detection", 10)
        self.create_subscription(Image, "image", self._on_image,
                                 QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=policy))

    def _on_image(self, msg: Image):
        self._publisher.publish(Detection2D(header=msg.header))


def main(args=None) -> int:
    rclpy.init(args=args)
    try:
        node = RelayNode()
    except ValueError as error:
        print(f"relay_node: {error}")
        rclpy.try_shutdown()
        return 2
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
