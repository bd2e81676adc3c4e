"""``ros2 launch mixformerv2_ros demo.launch.py``: the demo pipeline, and camera-sized frames
through the launch files' shared-memory transport.

1. With an init box the launch is the whole demo: video_publisher -> tracker_node ->
   demo_recorder, which starts tracking on the first frame, records the debug image and writes a
   summary; the launch ends by itself when the clip is done.
2. Frame transport: with Fast DDS's defaults a 1280x720 bgr8 frame (2.7 MB) is far larger than
   the 512 KB shared-memory segment and goes over UDP on loopback, where most such frames are lost
   (a client's 640x360 stream got 2 to 9 of 60-odd frames to the node). The launch files apply the
   package's profile (config/fastdds_shm.xml; ``shm_transport``, on by default) to the processes
   they start; here 1280x720 frames at 15 Hz must all reach the node, by its own count in
   /diagnostics (``frames_received``).

Runs where set-up built the ROS 2 extras (ros_cli.py says when it skips and when it must not).
"""

from __future__ import annotations

import json
import re
import subprocess

import cv2
import pytest

from node_test_utils import NodeOutputs
from ros_cli import Ros2, require_ros2_cli
from ros_harness import wait_until

pytestmark = pytest.mark.ros

CLIP = "boat1"


@pytest.fixture
def ros2(ros_env, tmp_path):
    require_ros2_cli()
    cli = Ros2(ros_env, tmp_path)
    yield cli
    cli.stop_daemon()


def test_demo_launch_runs_the_demo_pipeline(ros2, uav_dev_dir, tmp_path):
    frames = 30
    source = tmp_path / "clip"
    source.mkdir()
    for image in sorted((uav_dev_dir / CLIP / "img").glob("*.jpg"))[:frames]:
        (source / image.name).symlink_to(image)
    first = (uav_dev_dir / CLIP / "groundtruth.txt").read_text().split("\n")[0]
    box = [float(v) for v in first.replace(",", " ").split()]
    launch = ros2.start("ros2_launch_demo", "launch", "mixformerv2_ros", "demo.launch.py", f"source:={source}",
                        "rate:=10.0", "loop:=false", f"init_box:={box}", f"output:={tmp_path / 'demo.mp4'}",
                        f"summary_json:={tmp_path / 'summary.json'}")
    try:
        launch.process.wait(timeout=180.0)
    except subprocess.TimeoutExpired:
        launch.stop()
        raise AssertionError(f"demo.launch.py did not end by itself:\n{launch.log()}") from None
    output = launch.log()
    assert launch.process.returncode == 0, output
    assert "terminate called" not in output and "Traceback" not in output, output
    assert "demo summary: " in output, output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "the request's image" in summary["init"], summary  # tracking started on the first frame
    # 10 Hz: every frame is tracked on an idle machine; half is the bar for a stalled CI machine.
    assert summary["frames_tracked"] >= frames // 2, summary
    assert summary["mean_score"] > 0.5 and summary["lost_frames"] <= 0.1 * summary["frames_tracked"], summary
    video = cv2.VideoCapture(str(tmp_path / "demo.mp4"))
    assert video.get(cv2.CAP_PROP_FRAME_COUNT) >= frames // 2


HD_FRAMES = 60  # 4 s at 15 Hz
HD_SIZE = (1280, 720)


def _hd_clip(uav_dev_dir, folder):
    """HD_FRAMES real frames scaled to 1280x720 (the uav_dev clips are 640x360)."""
    folder.mkdir()
    for index, image in enumerate(sorted((uav_dev_dir / CLIP / "img").glob("*.jpg"))[:HD_FRAMES]):
        frame = cv2.resize(cv2.imread(str(image)), HD_SIZE, interpolation=cv2.INTER_LINEAR)
        cv2.imwrite(str(folder / f"{index:05d}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return folder


def test_1280x720_frames_at_15_hz_reach_the_node(ros2, ros_node, uav_dev_dir, tmp_path):
    clip = _hd_clip(uav_dev_dir, tmp_path / "clip")
    outputs = NodeOutputs(ros_node)  # the node's /diagnostics: small messages, any transport
    launch = ros2.start("ros2_launch_demo_hd", "launch", "mixformerv2_ros", "demo.launch.py", f"source:={clip}",
                        "rate:=15.0", "loop:=false")  # shm_transport: on by default
    try:
        wait_until(lambda: re.search(r"published (\d+) frames", launch.log()) is not None, 120.0,
                   message=f"video_publisher did not finish:\n{launch.log()}")
        published = int(re.search(r"published (\d+) frames", launch.log()).group(1))
        assert published == HD_FRAMES, launch.log()

        def received():
            return int(outputs.diagnostic_value("frames_received") or 0)

        # /diagnostics comes at 1 Hz: wait for a report that counts the whole stream (a few s).
        try:
            wait_until(lambda: received() >= HD_FRAMES, 15.0)
        except TimeoutError:
            pass
        # The node subscribes best effort with a history of 1 (a tracker wants the newest frame),
        # so nothing guarantees every frame: one that arrives while the node's executor is held up
        # replaces the one before. On the 2-core CI machine 57 of 60 arrived once and 53 of 60
        # another time (the first frame 20 ms after activation: not a discovery race). Over UDP,
        # without the profile, 2-16 of 45 arrive (at most 36 %), so 75 % still tells the
        # profile's transport from UDP with room on both sides.
        assert received() >= 0.75 * HD_FRAMES, (f"the node received {received()} of {HD_FRAMES} 1280x720 frames "
                                                f"through the shared-memory profile:\n{launch.log()}")
    finally:
        code = launch.stop()
    assert code == 0, launch.log()
    assert "terminate called" not in launch.log(), launch.log()
