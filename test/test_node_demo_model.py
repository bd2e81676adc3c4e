"""The node with its default (demo) model on a real clip: tracking, a hidden target reported lost
on the status topic, and tracking again once the target shows, all over real DDS."""

import numpy as np
import pytest

from node_test_utils import Camera, NodeOutputs, clip_frames, init_request
from ros_harness import wait_until
from test_demo_model import EASY_CLIP, HIDDEN, assert_lost_then_found, hide_target

pytestmark = pytest.mark.ros

FRAMES = 130


def test_node_reports_lost_and_recovery_of_a_hidden_target(start_ros_executable, ros_node, uav_dev_dir):
    from mixformerv2_ros.msg import TrackerStatus
    from mixformerv2_ros.srv import InitTarget

    frames, truth = clip_frames(uav_dev_dir, EASY_CLIP, FRAMES)
    node = start_ros_executable("tracker_node", params={"reliability": "reliable", "threads": 1})
    outputs, camera = NodeOutputs(ros_node), Camera(ros_node)
    camera.wait_for_node(60.0)
    first = camera.send_first(outputs, frames[0], timeout=60.0)
    init = ros_node.node.create_client(InitTarget, "/mixformerv2_tracker/init")
    response = ros_node.call(init, init_request(truth[0], first), timeout=30.0, retry_after=5.0)
    assert response.success, response.message
    # the log gives the first-frame size ratio (size_calibration), the library's on the same frame
    from mixformerv2_ros.model.config import demo_model_path
    from mixformerv2_ros.tracker import Tracker

    library = Tracker.from_checkpoint(demo_model_path(), threads=1)
    library.initialize(frames[0], truth[0])
    ratio_w, ratio_h = library.init_size_ratio
    wait_until(lambda: "of the given size" in node.log(), 10.0, message=node.log())
    assert f"is {ratio_w:.2f} x {ratio_h:.2f} of the given size (size_calibration 0.5)" in node.log()

    from mixformerv2_ros.tools.metrics import iou

    states, boxes, statuses = [], [], []
    for index in range(1, FRAMES):
        frame = hide_target(frames[index], truth[index]) if index in HIDDEN else frames[index]
        header = camera.publish_bgr(frame)  # one at a time: each frame is processed, none replaced
        wait_until(lambda: outputs.status_for(header) is not None, 20.0,
                   message=f"frame {index} not processed\n{node.log()}")
        states.append(outputs.status_for(header).state)
        statuses.append(outputs.status_for(header))
        detections = outputs.detections_for(header)
        b = detections[0].bbox if detections else None  # a missing detection counts as a miss
        boxes.append((b.center.position.x - b.size_x / 2, b.center.position.y - b.size_y / 2, b.size_x, b.size_y)
                     if b else (0.0, 0.0, 0.0, 0.0))
    overlaps = iou(np.array(boxes), np.array(truth[1:FRAMES]))

    # on the target before it is hidden (the demo model draws the boat's first frames ~15 % small, so
    # single overlaps vary: their mean is the stable measure; the library's run gives 0.80, 0.75
    # without the size calibration)
    assert overlaps[: HIDDEN.start - 1].mean() > 0.5, overlaps[: HIDDEN.start - 1]
    assert_lost_then_found(states, overlaps, TrackerStatus.STATE_TRACKING, TrackerStatus.STATE_LOST)
    # The hidden target's first frames: still "tracking" (the lost rule waits lost_frames) but weak.
    # The motion filter does not take their boxes, so no velocity comes from them; confident frames
    # give one.
    tracking = [s for s in statuses if s.state == TrackerStatus.STATE_TRACKING]
    weak = [s for s in tracking if s.score < 0.3]
    assert weak and not any(s.motion_valid for s in weak), [(s.score, s.motion_valid) for s in weak]
    assert [s.weak for s in tracking] == [s.score < 0.3 for s in tracking]  # the status says which they are
    assert np.mean([s.motion_valid for s in tracking if s.score >= 0.3]) > 0.9
