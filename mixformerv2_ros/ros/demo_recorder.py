"""Demo client: starts tracking by service, records the node's debug image, prints a summary.

It is what an operator does by hand: wait for the camera, call ``<tracker>/init`` with a box
drawn on a frame, sending that frame along (the tracker then starts on exactly that frame, even
if discovery made it miss it), then watch ``<tracker>/debug_image`` and
``<tracker>/status``. It ends when the stream has been silent for ``idle_timeout`` seconds.

It subscribes to the camera only once the tracker's init service and status topic are there.
A publisher that waits for its subscribers (video_publisher's ``wait_for_subscribers``) then
starts the clip when the recorder can start tracking at once: subscribing first let a slow
service discovery (2.7 s once, on a loaded machine) eat most of a short clip before tracking
began.
"""

from __future__ import annotations

import json
import queue
import statistics
import threading
import time

import cv2
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image

from mixformerv2_ros.msg import TrackerStatus
from mixformerv2_ros.ros.background_spin import BackgroundSpinner
from mixformerv2_ros.ros.image_conversion import image_to_bgr
from mixformerv2_ros.srv import InitTarget

class DemoRecorder(Node):
    def __init__(self):
        super().__init__("demo_recorder")
        self.tracker = self.declare_parameter("tracker", "/mixformerv2_tracker").value.rstrip("/")
        self.box_xywh = list(self.declare_parameter("init_box", [0.0, 0.0, 0.0, 0.0]).value)
        self.output = self.declare_parameter("output", "demo.mp4").value
        self.summary_path = self.declare_parameter("summary_json", "").value
        self.idle_timeout = self.declare_parameter("idle_timeout", 3.0).value
        self.fps = self.declare_parameter("fps", 25.0).value
        image_topic = self.declare_parameter("image_topic", "/camera/image").value

        self._lock = threading.Lock()
        self._first_frame: Image | None = None
        self._statuses: list[TrackerStatus] = []
        self._last_activity = None
        self.init_response = None
        self._image_topic = image_topic
        self._camera_sub = None  # see listen_to_camera
        # Encoding a 1280x720 frame takes tens of ms: a writer thread does it, so the callbacks
        # only copy and queue frames, and statuses have a deep queue; nothing is dropped while
        # a frame is being written, with one spinning thread.
        self._frames: queue.Queue = queue.Queue()
        self._writer_thread = threading.Thread(target=self._write_frames, daemon=True)
        self._writer_thread.start()
        self.create_subscription(Image, f"{self.tracker}/debug_image", self._on_debug, 30)
        self.create_subscription(TrackerStatus, f"{self.tracker}/status", self._on_status, 200)
        self.init_client = self.create_client(InitTarget, f"{self.tracker}/init")

    def tracker_ready(self) -> bool:
        """Whether the tracker's init service and status topic have been discovered."""
        return self.init_client.service_is_ready() and self.count_publishers(f"{self.tracker}/status") > 0

    def listen_to_camera(self):
        self._camera_sub = self.create_subscription(Image, self._image_topic, self._on_camera, 10)

    def _on_camera(self, msg: Image):
        with self._lock:
            if self._first_frame is None:
                self._first_frame = msg
                self._last_activity = time.monotonic()

    def _on_debug(self, msg: Image):
        self._frames.put(image_to_bgr(msg).copy())  # the message's buffer is not ours to keep
        with self._lock:
            self._last_activity = time.monotonic()

    def _write_frames(self):
        writer = None
        while (frame := self._frames.get()) is not None:
            if writer is None:  # the first frame gives the size
                fourcc = cv2.VideoWriter_fourcc(*"mp4v")
                writer = cv2.VideoWriter(self.output, fourcc, self.fps, (frame.shape[1], frame.shape[0]))
            writer.write(frame)
        if writer is not None:
            writer.release()

    def _on_status(self, msg: TrackerStatus):
        with self._lock:
            self._statuses.append(msg)
            self._last_activity = time.monotonic()

    def first_frame(self) -> Image | None:
        with self._lock:
            return self._first_frame

    def tracker_has_frames(self) -> bool:
        """Whether the tracker has handled a frame (it publishes a status for each, idle or not)."""
        with self._lock:
            return bool(self._statuses)

    def idle(self) -> bool:
        with self._lock:
            return (self._last_activity is not None
                    and time.monotonic() - self._last_activity > self.idle_timeout)

    def request_init(self, frame: Image) -> InitTarget.Request:
        request = InitTarget.Request()
        x, y, w, h = self.box_xywh
        request.box.center.position.x = x + w / 2.0
        request.box.center.position.y = y + h / 2.0
        request.box.size_x = float(w)
        request.box.size_y = float(h)
        request.header = frame.header
        request.image = frame
        return request

    def summary(self) -> dict:
        self._frames.put(None)  # the writer finishes the queued frames and closes the video
        self._writer_thread.join()
        with self._lock:
            statuses = [s for s in self._statuses if s.state != TrackerStatus.STATE_IDLE]
        if len(statuses) >= 2:
            t0 = statuses[0].header.stamp.sec + statuses[0].header.stamp.nanosec * 1e-9
            t1 = statuses[-1].header.stamp.sec + statuses[-1].header.stamp.nanosec * 1e-9
            rate = (len(statuses) - 1) / (t1 - t0) if t1 > t0 else float("nan")
        else:
            rate = float("nan")

        def mean(values):
            return statistics.fmean(values) if values else float("nan")

        return {
            "frames_tracked": len(statuses),
            "rate_hz": rate,
            "mean_latency_ms": mean([s.latency_ms for s in statuses]),
            "mean_processing_ms": mean([s.processing_ms for s in statuses]),
            "mean_score": mean([s.score for s in statuses]),
            "lost_frames": sum(s.state == TrackerStatus.STATE_LOST for s in statuses),
            "init": self.init_response.message if self.init_response else "not initialised",
            "output": self.output,
        }


def main(args=None) -> int:
    rclpy.init(args=args)
    node = DemoRecorder()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    spinner = BackgroundSpinner(executor)
    try:
        deadline = time.monotonic() + 60.0
        while not node.tracker_ready():
            if time.monotonic() > deadline:
                node.get_logger().error(f"no init service and status topic from {node.tracker} within 60 s")
                return 1
            time.sleep(0.01)
        node.listen_to_camera()
        while node.first_frame() is None:
            if time.monotonic() > deadline:
                node.get_logger().error("no camera frame within 60 s")
                return 1
            time.sleep(0.01)
        node.destroy_subscription(node._camera_sub)  # only the first frame is needed
        # Wait until the tracker has handled a frame: tracking from the first frame on, not
        # before the tracker sees the stream.
        while not node.tracker_has_frames():
            if time.monotonic() > deadline:
                node.get_logger().error(f"no status from {node.tracker} within 60 s")
                return 1
            time.sleep(0.01)
        if not node.init_client.wait_for_service(timeout_sec=60.0):
            node.get_logger().error(f"service {node.tracker}/init not available")
            return 1
        future = node.init_client.call_async(node.request_init(node.first_frame()))
        while not future.done():
            time.sleep(0.01)
        node.init_response = future.result()
        if not node.init_response.success:
            node.get_logger().error(f"init refused: {node.init_response.message}")
            return 1
        node.get_logger().info(f"tracking started: {node.init_response.message}")
        while not node.idle():
            time.sleep(0.05)
        summary = node.summary()
        print("demo summary: " + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                                          for k, v in summary.items()), flush=True)
        if node.summary_path:
            with open(node.summary_path, "w") as f:
                json.dump(summary, f, indent=2)
        return 0
    except KeyboardInterrupt:  # Ctrl-C (or ros2 launch shutting down) before the clip ended
        node.get_logger().info("interrupted: no summary written")
        return 0
    finally:
        # A spinning thread still inside native code when the interpreter exits aborts the
        # process ("terminate called without an active exception", seen once): stop it, and
        # only then destroy what its callbacks use.
        spinner.stop()
        node.destroy_node()
        rclpy.try_shutdown()
