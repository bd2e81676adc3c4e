"""End-to-end latency of the tracker node (image published -> Detection2D received), split up.

For each resolution a clip is published over the shared-memory Fast DDS profile
(config/fastdds_shm.xml, as FASTRTPS_DEFAULT_PROFILES_FILE and FASTDDS_DEFAULT_PROFILES_FILE, for
the nodes and for this process), frames alternating between ``tracker_node`` and ``relay_node``
(the same wire path without the tracker: the transport). The node reports its tracker step and
its own processing (conversion + step + publishing) in TrackerStatus and /diagnostics, so:

    end-to-end = transport + tracker step + node overhead
    node overhead = end-to-end - transport - tracker step   (goal: <= 3 ms)
                  = (end-to-end - node processing - transport) + (node processing - tracker step)

the first part from per-frame medians, the second from the node's own per-frame means.

Then, with ``--overload-seconds``, frames come at three times the node's processing rate and the
latency is printed per second: it must stay flat (the node skips frames, it never queues them).
Usage (repository root, ROS environment active: source scripts/ros_env.sh kilted):
    python bench/node_latency.py [--frames 150] [--rate 30] [--overload-seconds 5] [--model M]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO / "test"))
import ros_harness  # noqa: E402  (domain reservation, localhost confinement, process handling)

RESOLUTIONS = ((640, 360), (1280, 720))
TOPIC = "/bench/image"
RELAY_TOPIC = "/bench/relay_image"
TRACKER = "/mixformerv2_tracker"


def shared_memory_environment() -> dict[str, str]:
    """This process's environment with the SHM-only Fast DDS profile and localhost/domain confinement."""
    profile = str(REPO / "config" / "fastdds_shm.xml")
    os.environ["FASTRTPS_DEFAULT_PROFILES_FILE"] = profile  # Jazzy reads this name
    os.environ["FASTDDS_DEFAULT_PROFILES_FILE"] = profile  # Kilted also this one
    ros_harness.confine_this_process()
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def clip(width: int, height: int, count: int = 60, name: str = "car16_1"):
    """Frames of a uav_dev clip resized to width x height, as bgr8 Images, and the first box."""
    import cv2

    from mixformerv2_ros.ros.image_conversion import bgr_to_image

    folder = SHARED / "data" / "uav_dev" / name
    files = sorted((folder / "img").glob("*.jpg"))[:count]
    first = cv2.imread(str(files[0]))
    sx, sy = width / first.shape[1], height / first.shape[0]
    line = (folder / "groundtruth.txt").read_text().splitlines()[0]
    x, y, w, h = (float(v) for v in line.replace(",", " ").split())
    images = [bgr_to_image(cv2.resize(cv2.imread(str(f)), (width, height))) for f in files]
    return images, (x * sx, y * sy, w * sx, h * sy)


class Recorder:
    """Receipt time (ns) of each message on a topic, keyed by its header stamp."""

    def __init__(self, client, msg_type, topic):
        self.lock = threading.Lock()
        self.by_stamp: dict[int, object] = {}
        client.node.create_subscription(msg_type, topic, self._on_msg, 50)

    def _on_msg(self, msg):
        received = time.time_ns()
        with self.lock:
            self.by_stamp[stamp_ns(msg.header)] = (received, msg)

    def get(self, stamp):
        with self.lock:
            return self.by_stamp.get(stamp)


def stamp_ns(header) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


class Camera:
    """Publishes prepared Images with fresh stamps at a steady rate (reliable, depth 1)."""

    def __init__(self, client, topic=TOPIC):
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image

        self.client = client
        reliable = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
        self.pub = client.node.create_publisher(Image, topic, reliable)

    def wait_for_subscriber(self, timeout=30.0):
        ros_harness.wait_until(lambda: self.pub.get_subscription_count() > 0, timeout, message="no subscriber")

    def publish(self, msg) -> int:
        msg.header.stamp = self.client.node.get_clock().now().to_msg()
        self.pub.publish(msg)
        return stamp_ns(msg.header)

    def stream(self, images, rate_hz, count=None, seconds=None):
        """Publish round-robin; the stamps sent."""
        sent, period = [], 1.0 / rate_hz
        start = next_time = time.monotonic()
        while (count is None or len(sent) < count) and (seconds is None or time.monotonic() - start < seconds):
            sent.append(self.publish(images[len(sent) % len(images)]))
            next_time = max(next_time + period, time.monotonic())
            time.sleep(max(0.0, next_time - time.monotonic()))
        return sent


def diagnostic(recorder, key):
    """Newest value of `key` in the tracker's /diagnostics."""
    with recorder.lock:
        arrays = [row[1] for _, row in sorted(recorder.by_stamp.items())]
    for array in reversed(arrays):
        for status in array.status:
            for kv in status.values:
                if status.name.startswith(TRACKER) and kv.key == key:
                    return float(kv.value)
    return float("nan")


def start_tracker(env, workdir, model, threads):
    return ros_harness.RosProcess(
        "tracker_node", [], {"model_path": model, "threads": threads, "lost_threshold": 0.0,
                             "publish_debug_image": False}, ["-r", f"image:={TOPIC}"], env, workdir)


def init_tracking(client, camera, images, box):
    """Start tracking on the newest frame; returns when the node has accepted the box."""
    from mixformerv2_ros.srv import InitTarget

    init = client.node.create_client(InitTarget, f"{TRACKER}/init")
    request = InitTarget.Request()
    x, y, w, h = box
    request.box.center.position.x, request.box.center.position.y = x + w / 2, y + h / 2
    request.box.size_x, request.box.size_y = w, h
    deadline = time.monotonic() + 30.0
    while True:  # the first frames may still be in flight: retry until one has arrived
        camera.publish(images[0])
        time.sleep(0.1)
        response = client.call(init, request, timeout=30.0)
        if response.success or time.monotonic() > deadline:
            break
    if not response.success:
        raise RuntimeError(f"init failed: {response.message}")


def summary(values) -> str:
    return f"{np.mean(values):6.2f} {np.percentile(values, 50):6.2f} {np.percentile(values, 95):6.2f}"


def paired(recorder, sent):
    """Per sent stamp: end-to-end latency (ms) through `recorder`'s node, or nan."""
    rows = [recorder.get(stamp) for stamp in sent]
    return np.array([(row[0] - stamp) / 1e6 if row else np.nan for stamp, row in zip(sent, rows)])


def run_resolution(client, env, workdir, args, width, height):
    from diagnostic_msgs.msg import DiagnosticArray
    from vision_msgs.msg import Detection2D

    from mixformerv2_ros.msg import TrackerStatus

    images, box = clip(width, height)
    camera, relay_camera = Camera(client), Camera(client, RELAY_TOPIC)
    relay = ros_harness.RosProcess("relay_node", [], None, ["-r", f"image:={RELAY_TOPIC}", "-r", "__node:=relay"],
                                   env, workdir)
    tracker = start_tracker(env, workdir, args.model, args.threads)
    try:
        relayed = Recorder(client, Detection2D, "/relay/detection")
        detections = Recorder(client, Detection2D, f"{TRACKER}/detection")
        statuses = Recorder(client, TrackerStatus, f"{TRACKER}/status")
        diagnostics = Recorder(client, DiagnosticArray, "/diagnostics")
        relay_camera.wait_for_subscriber()
        camera.wait_for_subscriber(60.0)
        init_tracking(client, camera, images, box)
        for warm_up in (camera, relay_camera):  # first frames: allocations and mappings
            warm_up.stream(images, args.rate, count=20)
        # Frames alternate between the relay and the tracker, so both see the same conditions
        # (machine load, allocator state) and never compete for the CPU over the same frame.
        sent, relay_sent, period = [], [], 1.0 / args.rate
        for i in range(2 * args.frames):
            target, stamps = (relay_camera, relay_sent) if i % 2 else (camera, sent)
            stamps.append(target.publish(images[i % len(images)]))
            time.sleep(period)
        time.sleep(1.5)  # > one diagnostics period
        end_to_end, transport = paired(detections, sent), paired(relayed, relay_sent)
        processing = np.array([row[1].processing_ms if row else np.nan for row in map(statuses.get, sent)])
        outside = end_to_end - processing  # per frame: transport + hand-over to the worker thread
        end_to_end, transport, processing, outside = (a[~np.isnan(a)] for a in (end_to_end, transport,
                                                                                processing, outside))
        step = diagnostic(diagnostics, "mean_step_ms")  # mean over the node's last 100 tracked frames
        internal = diagnostic(diagnostics, "mean_node_overhead_ms")  # mean of processing - step
        # Node overhead = (its time outside processing - transport) + (processing - step); medians
        # outside, so a descheduled frame on a shared machine does not swamp a few milliseconds.
        overhead = np.median(outside) - np.median(transport) + internal
        print(f"{width}x{height}  {len(end_to_end)}/{len(sent)} tracked, {len(transport)}/{len(relay_sent)} relayed, "
              f"{args.rate / 2:.1f} Hz each (mean p50 p95, ms)")
        print(f"  end-to-end (image published -> Detection2D received) {summary(end_to_end)}")
        print(f"  transport (relay_node, interleaved frames)           {summary(transport)}")
        print(f"  tracker step (node's mean)                           {step:6.2f}")
        print(f"  node processing: conversion + step + publishing     {summary(processing)}")
        print(f"  end-to-end - node processing (transport + hand-over) {summary(outside)}")
        print(f"  node overhead = end-to-end - transport - step        {overhead:6.2f}  (goal <= 3 ms)")
        print(f"    of which inside the node (processing - step)       {internal:6.2f}")
        relay.stop()
        if args.overload_seconds:
            rate = 3.0 * 1000.0 / np.median(processing)
            sent = camera.stream(images, rate, seconds=args.overload_seconds)
            time.sleep(1.0)
            latency = paired(detections, sent)
            print(f"  overload: {len(sent)} frames at {rate:.0f} Hz (3x), {np.sum(~np.isnan(latency))} processed; "
                  "latency per second (mean ms):")
            second = ((np.array(sent) - sent[0]) // 1_000_000_000).astype(int)
            print("   " + " ".join(f"{np.nanmean(latency[second == i]):6.1f}" for i in range(second.max() + 1)
                                   if np.any(~np.isnan(latency[second == i]))))
    finally:
        relay.stop()
        tracker.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(SHARED / "golden" / "mixformerv2_small_d1.pth.tar"),
                        help="model for the tracker node (.pth.tar or .onnx)")
    parser.add_argument("--frames", type=int, default=150, help="frames measured per resolution")
    parser.add_argument("--rate", type=float, default=30.0,
                        help="publishing rate (Hz); frames alternate between the relay and the tracker")
    parser.add_argument("--threads", type=int, default=1, help="the node's inference threads (0: all cores)")
    parser.add_argument("--overload-seconds", type=float, default=5.0,
                        help="seconds of 3x overload after each measurement (0: none)")
    args = parser.parse_args(argv)
    env = shared_memory_environment()
    client = ros_harness.SpinningNode("node_latency_bench")
    workdir = Path(tempfile.mkdtemp(prefix="node_latency-"))
    try:
        print(f"ROS 2 {ros_harness.ros_distro()}, Fast DDS profile {os.environ['FASTDDS_DEFAULT_PROFILES_FILE']}")
        for width, height in RESOLUTIONS:
            run_resolution(client, env, workdir, args, width, height)
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
