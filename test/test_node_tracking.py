"""The installed tracker node on a real drone clip, over real DDS, driven from another process."""

import math

import numpy as np
import pytest

from node_test_utils import Camera, NodeOutputs, clip_frames, init_request, stamp_key
from ros_harness import wait_until

pytestmark = pytest.mark.ros

# fp32: these tests compare the node with the (fp32) library, not the precision gate (test_precision_gate.py)
NODE_PARAMS = {"reliability": "reliable", "class_id": "person", "lost_threshold": 0.0, "precision": "fp32"}


@pytest.fixture
def tracker_node(start_ros_executable, golden_dir):
    def start(**params):
        return start_ros_executable("tracker_node", params={
            "model_path": str(golden_dir / "mixformerv2_small_d1.pth.tar"), **NODE_PARAMS, **params})
    return start


def _services(ros_node):
    from std_srvs.srv import SetBool, Trigger

    from mixformerv2_ros.srv import InitTarget

    n = ros_node.node
    return (n.create_client(InitTarget, "/mixformerv2_tracker/init"),
            n.create_client(Trigger, "/mixformerv2_tracker/stop"),
            n.create_client(SetBool, "/mixformerv2_tracker/enable"))


def _send(camera, outputs, image, timeout=20.0):
    """Publish one frame and wait until the node has processed it (its status arrives)."""
    header = camera.publish_bgr(image)
    wait_until(lambda: outputs.status_for(header) is not None, timeout,
               message=f"frame {stamp_key(header)} was not processed")
    return header


def test_clip_init_reinit_stop_enable(tracker_node, ros_node, uav_dev_dir):
    from std_srvs.srv import SetBool, Trigger

    from mixformerv2_ros.msg import TrackerStatus
    from mixformerv2_ros.srv import InitTarget

    frames, boxes = clip_frames(uav_dev_dir, "person12_1", 24)
    node = tracker_node()
    outputs = NodeOutputs(ros_node)
    camera = Camera(ros_node)
    init, stop, enable = _services(ros_node)
    camera.wait_for_node()

    first = camera.send_first(outputs, frames[0])
    assert outputs.status_for(first).state == TrackerStatus.STATE_IDLE
    assert not outputs.detections_for(first)

    response = ros_node.call(init, init_request(boxes[0], first), timeout=30.0, retry_after=5.0)
    assert response.success, response.message
    assert response.source == InitTarget.Response.SOURCE_BUFFERED_FRAME
    assert stamp_key(response.detection.header) == stamp_key(first)
    track_id = response.detection.id
    assert track_id

    sent = [_send(camera, outputs, frame) for frame in frames[1:12]]
    for header in sent:
        detections = outputs.detections_for(header)
        assert len(detections) == 1, "one Detection2D per processed frame"
        det, status = detections[0], outputs.status_for(header)
        assert stamp_key(det.header) == stamp_key(header)
        assert det.id == track_id == status.track_id
        assert status.state == TrackerStatus.STATE_TRACKING
        assert det.bbox.center.theta == 0.0 and det.bbox.size_x > 0 and det.bbox.size_y > 0
        assert 0 <= det.bbox.center.position.x <= 640 and 0 <= det.bbox.center.position.y <= 360
        hyp = det.results[0].hypothesis
        assert hyp.class_id == "person"
        assert 0.0 <= hyp.score <= 1.0 and math.isclose(hyp.score, status.score, rel_tol=1e-6)
    frames_since = [outputs.status_for(h).frames_since_init for h in sent]
    assert frames_since == list(range(1, len(sent) + 1))
    with outputs.lock:
        arrays = {stamp_key(a.header): a for a in outputs.arrays}
    assert all(len(arrays[stamp_key(h)].detections) == 1 for h in sent)

    # Re-init mid-stream on the newest frame (zero stamp): a new track id.
    response = ros_node.call(init, init_request(boxes[11]), timeout=30.0)
    assert response.success and response.source == InitTarget.Response.SOURCE_NEWEST_FRAME
    new_id = response.detection.id
    assert new_id and new_id != track_id
    header = _send(camera, outputs, frames[12])
    assert outputs.detections_for(header)[0].id == new_id

    # Stop: back to idle, frames produce no detection.
    assert ros_node.call(stop, Trigger.Request()).success
    header = _send(camera, outputs, frames[13])
    assert outputs.status_for(header).state == TrackerStatus.STATE_IDLE
    assert not outputs.detections_for(header)

    # Disable: no output at all; enable: output resumes.
    assert ros_node.call(init, init_request(boxes[13]), timeout=30.0).success
    assert ros_node.call(enable, SetBool.Request(data=False)).success
    silent = [camera.publish_bgr(frame) for frame in frames[14:18]]
    with outputs.lock:
        diagnostics = len(outputs.diagnostics)
    wait_until(lambda: len(outputs.diagnostics) >= diagnostics + 2, 10.0,  # >= 1 s, node alive
               message="no diagnostics while disabled")
    for h in silent:
        assert outputs.status_for(h) is None and not outputs.detections_for(h)
    assert ros_node.call(enable, SetBool.Request(data=True)).success
    header = _send(camera, outputs, frames[18])
    assert len(outputs.detections_for(header)) == 1
    assert node.alive(), node.log()


def test_init_by_stamp_uses_the_buffered_frame(tracker_node, ros_node, uav_dev_dir):
    """The box is right only on an older frame (the newest is too small to contain it)."""
    from mixformerv2_ros.srv import InitTarget

    frames, boxes = clip_frames(uav_dev_dir, "boat1", 2)
    tracker_node()
    outputs = NodeOutputs(ros_node)
    camera = Camera(ros_node)
    init, _, _ = _services(ros_node)
    camera.wait_for_node()
    old = camera.send_first(outputs, frames[0])
    newest = _send(camera, outputs, np.zeros((40, 40, 3), np.uint8))
    x, y, w, h = boxes[0]
    assert x > 40 or y > 40, "the box must lie outside the small newest frame"

    refused = ros_node.call(init, init_request(boxes[0]), timeout=30.0)
    assert not refused.success and "outside" in refused.message  # on the newest frame it is wrong

    response = ros_node.call(init, init_request(boxes[0], old), timeout=30.0)
    assert response.success, response.message
    assert response.source == InitTarget.Response.SOURCE_BUFFERED_FRAME
    assert stamp_key(response.detection.header) == stamp_key(old) != stamp_key(newest)
    assert response.detection.bbox.size_x == pytest.approx(w)

    from mixformerv2_ros.ros.image_conversion import bgr_to_image

    with_image = ros_node.call(init, init_request(boxes[0], image_msg=bgr_to_image(frames[1], old)), timeout=30.0)
    assert with_image.success and with_image.source == InitTarget.Response.SOURCE_REQUEST_IMAGE


def test_init_detection_topic_starts_on_the_stamped_frame(tracker_node, ros_node, uav_dev_dir):
    """A Detection2D on ~/init_detection (re)starts tracking on the frame its header names."""
    from vision_msgs.msg import Detection2D

    from mixformerv2_ros.msg import TrackerStatus

    frames, boxes = clip_frames(uav_dev_dir, "boat1", 3)
    node = tracker_node()
    outputs = NodeOutputs(ros_node)
    camera = Camera(ros_node)
    publisher = ros_node.node.create_publisher(Detection2D, "/mixformerv2_tracker/init_detection", 10)
    camera.wait_for_node()
    wait_until(lambda: publisher.get_subscription_count() > 0, 20.0, message="no init_detection subscriber")
    old = camera.send_first(outputs, frames[0])
    _send(camera, outputs, np.zeros((40, 40, 3), np.uint8))  # the box lies outside this newest frame

    def detection(box, header):
        x, y, w, h = box
        msg = Detection2D(header=header)
        msg.bbox.center.position.x, msg.bbox.center.position.y = x + w / 2.0, y + h / 2.0
        msg.bbox.size_x, msg.bbox.size_y = float(w), float(h)
        return msg

    def tracking_statuses():
        with outputs.lock:
            return [s for s in outputs.statuses if s.state == TrackerStatus.STATE_TRACKING]

    publisher.publish(detection((math.nan, 10.0, 20.0, 20.0), old))
    publisher.publish(detection(boxes[0], old))
    wait_until(lambda: tracking_statuses(), 20.0, message=node.log())
    started = tracking_statuses()[0]
    assert stamp_key(started.header) == stamp_key(old) and started.track_id
    header = _send(camera, outputs, frames[1])
    assert outputs.detections_for(header)[0].id == started.track_id
    wait_until(lambda: "init_detection refused" in node.log(), 10.0, message=node.log())
    assert "non-finite" in node.log()
