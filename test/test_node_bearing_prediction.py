"""~/bearing and ~/predicted of the installed node, over real DDS: the bearing only once a
CameraInfo has come (on the image topic's namespace), with the image's header and the ray of the
box centre; the prediction stamped with its publish time in the image's frame."""

import math

import numpy as np
import pytest

from node_test_utils import Camera, NodeOutputs, clip_frames, init_request, stamp_key
from ros_harness import wait_until

pytestmark = pytest.mark.ros

NODE = "/mixformerv2_tracker"
IMAGE_TOPIC = "/cam/image_raw"  # remapped: camera_info is then expected on /cam/camera_info
K = [520.0, 0.0, 318.0, 0.0, 515.0, 182.0, 0.0, 0.0, 1.0]
D = [-0.28, 0.08, 0.001, -0.0005, 0.0]


def _camera_info(k=K, width=640, height=360):
    from sensor_msgs.msg import CameraInfo

    info = CameraInfo(width=width, height=height, distortion_model="plumb_bob")
    info.k, info.d = list(k), list(D)
    info.header.frame_id = "camera"
    return info


def _ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def test_bearing_and_prediction(start_ros_executable, ros_node, golden_dir, uav_dev_dir):
    from geometry_msgs.msg import Vector3Stamped
    from sensor_msgs.msg import CameraInfo
    from vision_msgs.msg import Detection2D

    from mixformerv2_ros.msg import TrackerStatus
    from mixformerv2_ros.srv import InitTarget
    from mixformerv2_ros.tracker.bearing import CameraModel

    node = start_ros_executable(
        "tracker_node", params={"model_path": str(golden_dir / "mixformerv2_small_d1.pth.tar"),
                                "reliability": "reliable", "lost_threshold": 0.0, "precision": "fp32"},
        ros_args=["-r", f"image:={IMAGE_TOPIC}"])
    outputs, camera = NodeOutputs(ros_node), Camera(ros_node, topic=IMAGE_TOPIC)
    bearings, predicted = [], []
    n = ros_node.node
    n.create_subscription(Vector3Stamped, f"{NODE}/bearing", bearings.append, 100)
    n.create_subscription(Detection2D, f"{NODE}/predicted", predicted.append, 100)
    info_pub = n.create_publisher(CameraInfo, "/cam/camera_info", 10)
    init = n.create_client(InitTarget, f"{NODE}/init")
    frames, boxes = clip_frames(uav_dev_dir, "boat1", 16)
    camera.wait_for_node()
    wait_until(lambda: info_pub.get_subscription_count() > 0, 20.0,
               message=f"no camera_info subscriber on /cam/camera_info\n{node.log()}")

    def send(image):
        header = camera.publish_bgr(image)
        wait_until(lambda: outputs.status_for(header) is not None, 20.0, message=f"not processed\n{node.log()}")
        return header, outputs.status_for(header)

    first = camera.send_first(outputs, frames[0])
    response = ros_node.call(init, init_request(boxes[0], first), timeout=30.0, retry_after=5.0)
    assert response.success, response.message

    # Without camera info: no bearing; the prediction and the motion fields are there.
    sent = [send(frame) for frame in frames[1:6]]
    for header, status in sent:
        assert status.state == TrackerStatus.STATE_TRACKING
        assert not status.bearing_valid and status.yaw == status.pitch == 0.0
    assert [s.motion_valid for _, s in sent] == [False] + [True] * 4, "velocity from the second box on"
    assert all(math.isfinite(s.velocity_x) and math.isfinite(s.size_rate) for _, s in sent)
    assert not bearings
    fresh = sum(1 for _, s in sent if s.latency_ms <= 1000.0)  # older frames need not be predicted
    wait_until(lambda: len(predicted) >= fresh, 10.0, message=f"{len(predicted)} predictions for {fresh} frames")
    assert len(predicted) <= len(sent)
    first_det = outputs.detections_for(sent[0][0])[0]
    for (header, _), prediction in zip(sent, predicted):
        assert prediction.header.frame_id == header.frame_id == "camera"
        horizon = (_ns(prediction.header.stamp) - _ns(header.stamp)) / 1e9
        assert 0.0 <= horizon <= 1.0, "stamped with the time of publishing, after the image"
        assert prediction.id == response.detection.id
    # first box of the track: no velocity yet, so the prediction is that box
    assert predicted[0].bbox.center.position.x == pytest.approx(first_det.bbox.center.position.x, abs=1e-6)
    assert predicted[0].bbox.size_x == pytest.approx(first_det.bbox.size_x, abs=1e-6)

    # With camera info: ~/bearing with the image's header, the ray of the box centre.
    info = _camera_info()

    def bearing_arrives():
        info_pub.publish(info)
        header, _ = send(frames[6])
        return any(stamp_key(b.header) == stamp_key(header) for b in bearings)

    wait_until(bearing_arrives, 30.0, interval=0.0, message=f"no bearing after camera_info\n{node.log()}")
    model = CameraModel(K, D, "plumb_bob", 640, 360)
    for frame in frames[7:12]:
        header, status = send(frame)
        wait_until(lambda: any(stamp_key(b.header) == stamp_key(header) for b in bearings), 10.0,
                   message="no bearing for a tracked frame")
        (bearing,) = [b for b in bearings if stamp_key(b.header) == stamp_key(header)]
        assert bearing.header == header, "the bearing carries the image's header"
        det = outputs.detections_for(header)[0]
        expected = model.bearing(det.bbox.center.position.x, det.bbox.center.position.y)
        ray = (bearing.vector.x, bearing.vector.y, bearing.vector.z)
        assert ray == pytest.approx(expected.ray, abs=1e-9) and np.linalg.norm(ray) == pytest.approx(1.0)
        assert status.bearing_valid
        assert (status.yaw, status.pitch) == pytest.approx((expected.yaw, expected.pitch), abs=1e-6)
    wait_until(lambda: outputs.diagnostic_value("camera_info") == "640x360 plumb_bob", 10.0,
               message=str(outputs.diagnostic_value("camera_info")))

    # An unusable calibration (uncalibrated driver: K all zero) is refused, logged, and the node
    # goes on tracking without a bearing.
    count = len(bearings)
    info_pub.publish(_camera_info(k=[0.0] * 9))
    wait_until(lambda: "camera_info refused" in node.log(), 20.0, message=node.log())
    header, status = send(frames[12])
    assert status.state == TrackerStatus.STATE_TRACKING and not status.bearing_valid
    assert len(bearings) == count
    assert "not calibrated" in node.log() and node.alive()


def test_empty_camera_info_topic_turns_the_bearing_off(start_ros_executable, ros_node, golden_dir):
    from sensor_msgs.msg import CameraInfo

    node = start_ros_executable(
        "tracker_node", params={"model_path": str(golden_dir / "mixformerv2_small_d1.pth.tar"),
                                "reliability": "reliable", "camera_info_topic": "",
                                "precision": "fp32"})
    outputs, camera = NodeOutputs(ros_node), Camera(ros_node)
    info_pub = ros_node.node.create_publisher(CameraInfo, "/camera_info", 10)
    camera.wait_for_node()
    camera.send_first(outputs, np.zeros((36, 64, 3), np.uint8))  # the node is active and answering
    wait_until(lambda: outputs.diagnostic_value("camera_info") == "off", 10.0,
               message=str(outputs.diagnostic_value("camera_info")))
    assert info_pub.get_subscription_count() == 0, "no camera_info subscription"
    assert "(camera_info: off)" in node.log()
