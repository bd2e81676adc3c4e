"""Soak: 5,000 frames through the tracker node; its resident memory must grow by < 20 MB.

Frames (640x360 clip frames, shared-memory Fast DDS profile) are published as fast as asked
(default 100 Hz, so the node also skips frames, as under overload); the node tracks throughout,
with the debug image subscribed (so it is drawn and published too). The node's RSS is read from
/proc every 500 frames; growth is measured from frame 500 on, after the frame buffer
(buffer_length frames) and the allocators have filled. Exit status 1 if it grows >= the limit.
Usage (repository root, ROS environment active: source scripts/ros_env.sh kilted):
    python bench/node_soak.py [--frames 5000] [--rate 100] [--limit-mb 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import node_latency as bench
import ros_harness

WARMUP_FRAMES = 500


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no VmRSS for process {pid}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(bench.SHARED / "golden" / "mixformerv2_small_d1.pth.tar"))
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=100.0, help="publishing rate (Hz)")
    parser.add_argument("--threads", type=int, default=1, help="the node's inference threads (0: all cores)")
    parser.add_argument("--limit-mb", type=float, default=20.0, help="allowed RSS growth after the warm-up")
    args = parser.parse_args(argv)
    from sensor_msgs.msg import Image

    from mixformerv2_ros.msg import TrackerStatus

    env = bench.shared_memory_environment()
    client = ros_harness.SpinningNode("node_soak_bench")
    tracker = bench.start_tracker(env, Path(tempfile.mkdtemp(prefix="node_soak-")), args.model, args.threads)
    try:
        statuses = bench.Recorder(client, TrackerStatus, f"{bench.TRACKER}/status")
        client.node.create_subscription(Image, f"{bench.TRACKER}/debug_image", lambda msg: None, 1)
        images, box = bench.clip(640, 360)
        camera = bench.Camera(client)
        camera.wait_for_subscriber(60.0)
        bench.init_tracking(client, camera, images, box)
        samples, sent, started = [], 0, time.monotonic()
        while sent < args.frames:
            sent += len(camera.stream(images, args.rate, count=min(500, args.frames - sent)))
            samples.append((sent, rss_mb(tracker.pid)))
            print(f"  {sent:5d} frames  node RSS {samples[-1][1]:7.1f} MB", flush=True)
        time.sleep(1.0)
        processed = sum(1 for s in statuses.by_stamp.values() if s[1].state != TrackerStatus.STATE_IDLE)
        if not tracker.alive():
            print(tracker.log())
            return 1
    finally:
        tracker.stop()
        client.close()
    baseline = next(rss for count, rss in samples if count >= WARMUP_FRAMES)
    growth = samples[-1][1] - baseline
    print(f"{sent} frames in {time.monotonic() - started:.0f} s, {processed} tracked; RSS {baseline:.1f} MB after "
          f"{WARMUP_FRAMES} frames -> {samples[-1][1]:.1f} MB: growth {growth:+.1f} MB (limit {args.limit_mb} MB)")
    return 0 if growth < args.limit_mb else 1


if __name__ == "__main__":
    raise SystemExit(main())
