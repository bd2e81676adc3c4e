"""The node's outgoing messages, built from tracker results without DDS (``ros.messages``), and
the diagnostics (``ros.node_stats``)."""

import math

import numpy as np
import pytest

pytestmark = pytest.mark.ros  # the message types come with the ROS environment (no DDS is used)


def _header(sec=100, nanosec=250_000_000, frame_id="cam"):
    from std_msgs.msg import Header

    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = sec, nanosec
    return header


def _motion(velocity=(120.0, -30.0), measurements=5):
    from mixformerv2_ros.tracker.motion import MotionEstimate

    return MotionEstimate((100.0, 50.0, 40.0, 20.0), velocity, (4.0, 2.0), 100.25, measurements)


def test_detection_carries_box_score_ids_and_the_image_header():
    from mixformerv2_ros.ros.messages import detection

    header = _header()
    det = detection(header, (10.0, 20.0, 40.0, 30.0), 0.75, "abc123", "boat")
    assert det.header == header
    assert (det.bbox.center.position.x, det.bbox.center.position.y) == (30.0, 35.0)
    assert (det.bbox.size_x, det.bbox.size_y, det.bbox.center.theta) == (40.0, 30.0, 0.0)
    assert len(det.results) == 1
    assert det.results[0].hypothesis.class_id == "boat" and det.results[0].hypothesis.score == 0.75
    assert det.id == "abc123"


def test_status_fields_per_state():
    from mixformerv2_ros.msg import TrackerStatus
    from mixformerv2_ros.ros.messages import STATE_CODES, STATES, tracker_status
    from mixformerv2_ros.tracker.bearing import Bearing

    assert set(STATE_CODES) == set(STATES) == {"idle", "tracking", "lost"}
    assert sorted(STATE_CODES.values()) == sorted({TrackerStatus.STATE_IDLE, TrackerStatus.STATE_TRACKING,
                                                   TrackerStatus.STATE_LOST})
    header = _header()
    bearing = Bearing((0.1, -0.2, math.sqrt(1 - 0.05)), 0.3, 0.2)
    status = tracker_status(header, "tracking", 0.8, "t1", 12, 0, 14.5, 31.0, _motion(), bearing)
    assert status.header == header and status.state == TrackerStatus.STATE_TRACKING
    assert status.track_id == "t1" and status.frames_since_init == 12 and status.frames_lost == 0
    assert status.processing_ms == pytest.approx(14.5) and status.latency_ms == pytest.approx(31.0)
    assert status.motion_valid and (status.velocity_x, status.velocity_y) == pytest.approx((120.0, -30.0))
    # size rate of sqrt(w h) with w=40 (+4 px/s), h=20 (+2 px/s): (20*4 + 40*2) / (2 sqrt(800))
    assert status.size_rate == pytest.approx(160.0 / (2.0 * math.sqrt(800.0)), rel=1e-6)
    assert status.bearing_valid and (status.yaw, status.pitch) == pytest.approx((0.3, 0.2))

    idle = tracker_status(header, "idle", 0.0, "t1", 0, 0, 0.0, 0.0)
    assert idle.state == TrackerStatus.STATE_IDLE and idle.track_id == "", "no track id while idle"
    assert not idle.motion_valid and not idle.bearing_valid and idle.velocity_x == idle.yaw == 0.0
    lost = tracker_status(header, "lost", 0.1, "t1", 20, 3, 1.0, 1.0)
    assert lost.state == TrackerStatus.STATE_LOST and lost.frames_lost == 3 and lost.track_id == "t1"
    one_box = tracker_status(header, "tracking", 0.8, "t1", 1, 0, 1.0, 1.0, _motion(measurements=1))
    assert not one_box.motion_valid and one_box.velocity_x == 0.0, "one box says nothing about motion"
    assert not status.weak and tracker_status(header, "tracking", 0.1, "t1", 13, 0, 1.0, 1.0, weak=True).weak
    with pytest.raises(KeyError):
        tracker_status(header, "confused", 0.0, "", 0, 0, 0.0, 0.0)


def test_latency_of_stamped_and_unstamped_images():
    from mixformerv2_ros.ros.messages import latency_ms

    assert latency_ms(_header(100, 250_000_000), 100_300_000_000) == pytest.approx(50.0)
    assert latency_ms(_header(0, 0), 100_300_000_000) == 0.0, "an unstamped image has no age"


def test_predicted_detection_is_stamped_with_the_publish_time_in_the_image_frame():
    from builtin_interfaces.msg import Time

    from mixformerv2_ros.ros.messages import predicted_detection

    motion = _motion()
    box = motion.predict(100.35)  # 100 ms after the image
    det = predicted_detection("cam", Time(sec=100, nanosec=350_000_000), box, 0.8, "t1", "target")
    assert det.header.frame_id == "cam" and (det.header.stamp.sec, det.header.stamp.nanosec) == (100, 350_000_000)
    assert det.bbox.center.position.x == pytest.approx(100.0 + 12.0)
    assert det.bbox.center.position.y == pytest.approx(50.0 - 3.0)
    assert (det.bbox.size_x, det.bbox.size_y) == pytest.approx((40.4, 20.2))
    assert det.id == "t1" and det.results[0].hypothesis.score == pytest.approx(0.8)


def test_bearing_vector_has_the_image_header_and_the_unit_ray():
    from mixformerv2_ros.ros.messages import bearing_vector
    from mixformerv2_ros.tracker.bearing import CameraModel

    header = _header()
    bearing = CameraModel([500, 0, 320, 0, 500, 240, 0, 0, 1]).bearing(420.0, 190.0)
    msg = bearing_vector(header, bearing)
    assert msg.header == header
    ray = np.array([msg.vector.x, msg.vector.y, msg.vector.z])
    assert np.linalg.norm(ray) == pytest.approx(1.0)
    assert ray / ray[2] == pytest.approx([100.0 / 500.0, -50.0 / 500.0, 1.0])


def _camera_info(**fields):
    from sensor_msgs.msg import CameraInfo

    info = CameraInfo(width=640, height=480, distortion_model="plumb_bob")
    info.k = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]
    info.d = [-0.2, 0.05, 0.0, 0.0, 0.0]
    for name, value in fields.items():
        setattr(info, name, value)
    return info


def test_camera_model_from_camera_info():
    from mixformerv2_ros.ros.messages import camera_model

    camera = camera_model(_camera_info())
    assert camera.matches_image(640, 480) and camera.distortion_model == "plumb_bob"
    assert camera.bearing(320.0, 240.0).ray == pytest.approx((0.0, 0.0, 1.0))
    full_roi = _camera_info()
    full_roi.roi.width, full_roi.roi.height = 640, 480
    assert camera_model(full_roi).matches_image(640, 480)
    with pytest.raises(ValueError, match="not calibrated"):
        camera_model(_camera_info(k=[0.0] * 9))  # what an uncalibrated driver sends
    with pytest.raises(ValueError, match="binning"):
        camera_model(_camera_info(binning_x=2))
    partial = _camera_info()
    partial.roi.x_offset, partial.roi.width, partial.roi.height = 10, 100, 100
    with pytest.raises(ValueError, match="region of interest"):
        camera_model(partial)
    with pytest.raises(ValueError, match="unsupported distortion"):
        camera_model(_camera_info(distortion_model="mystery"))


def test_debug_image_draws_on_a_copy():
    from mixformerv2_ros.ros.messages import STATE_COLORS, debug_image, draw_result
    from mixformerv2_ros.tracker import TrackResult

    image = np.zeros((60, 80, 3), np.uint8)
    result = TrackResult((10.0, 20.0, 30.0, 20.0), 0.9, "tracking", 3)
    drawn = draw_result(image, result)
    assert not image.any(), "the input frame is not drawn on"
    assert tuple(drawn[30, 10]) == STATE_COLORS["tracking"], "left edge of the box"
    assert draw_result(image, None).any(), "idle is written on the frame"
    msg = debug_image(image, result, _header())
    assert (msg.width, msg.height, msg.encoding, msg.header.frame_id) == (80, 60, "bgr8", "cam")


def test_diagnostics_keys_and_levels():
    from diagnostic_msgs.msg import DiagnosticStatus

    from mixformerv2_ros.ros.messages import diagnostic_array
    from mixformerv2_ros.ros.node_stats import OK, WARN, NodeStats

    assert (bytes([OK]), bytes([WARN])) == (DiagnosticStatus.OK, DiagnosticStatus.WARN)
    stats = NodeStats()
    level, message, values = stats.diagnostic(active=False, enabled=True, track_id="")
    assert (level, message) == (WARN, "inactive")
    keys = ["rate_hz", "latency_ms", "processing_ms", "score", "state", "enabled", "track_id", "frames_received",
            "frames_processed", "frames_skipped", "frames_rejected", "inits_refused", "last_rejection",
            "seconds_without_image"]
    assert list(values) == keys
    for _ in range(3):
        stats.frame_received()
    stats.frame_processed(12.0, 9.0, 20.0, 0.7, "tracking")
    assert stats.reject("step 3 is smaller than a row (24 bytes)")
    assert not stats.reject("step 5 is smaller than a row (24 bytes)"), "one kind of reason: logged once per 2 s"
    assert stats.reject("truncated: 10 bytes")
    level, message, values = stats.diagnostic(active=True, enabled=True, track_id="t1")
    assert (level, message) == (OK, "tracking")
    assert values["frames_received"] == "3" and values["frames_processed"] == "1" and values["frames_rejected"] == "3"
    assert values["last_rejection"] == "truncated: 10 bytes" and values["track_id"] == "t1"
    assert values["mean_step_ms"] == "9.000" and values["mean_node_overhead_ms"] == "3.000"
    stats.frame_processed(12.0, 9.0, 20.0, 0.1, "lost")
    assert stats.diagnostic(True, True, "t1")[:2] == (WARN, "target lost")
    stats.status_published(0.0, 0.0, "idle")
    assert stats.diagnostic(True, False, "")[:2] == (OK, "disabled")

    array = diagnostic_array("/n: tracker", "onnxruntime", level, message, values, _header().stamp)
    (status,) = array.status
    assert status.name == "/n: tracker" and status.hardware_id == "onnxruntime"
    assert status.level == DiagnosticStatus.OK and status.message == "tracking"
    assert {kv.key: kv.value for kv in status.values} == values


def test_diagnostics_warn_when_an_active_node_has_no_image():
    """Active and no image for more than NO_IMAGE_WARN_S, since the activation or since the newest
    frame: WARN, saying which, whatever the tracking state; a frame ends it, deactivation too."""
    from mixformerv2_ros.ros.node_stats import NO_IMAGE_WARN_S, OK, WARN, NodeStats

    stats = NodeStats()
    stats.activated(now=100.0)
    level, message, values = stats.diagnostic(True, True, "", now=100.0 + NO_IMAGE_WARN_S / 2)
    assert (level, message) == (OK, "idle") and values["seconds_without_image"] == f"{NO_IMAGE_WARN_S / 2:.1f}"
    level, message, values = stats.diagnostic(True, True, "", now=103.5)
    assert (level, message) == (WARN, "no image since the activation, 3.5 s ago")
    assert values["seconds_without_image"] == "3.5"
    stats.frame_received(now=104.0)
    stats.frame_processed(12.0, 9.0, 20.0, 0.1, "lost")
    assert stats.diagnostic(True, True, "t", now=104.5)[:2] == (WARN, "target lost")
    assert stats.diagnostic(True, True, "t", now=110.0)[:2] == (WARN, "no image for 6.0 s"), "before the state"
    assert stats.diagnostic(False, True, "t", now=110.0)[:2] == (WARN, "inactive")
    assert stats.diagnostic(False, True, "t", now=110.0)[2]["seconds_without_image"] == ""
    stats.activated(now=200.0)  # a reactivation starts a new wait: the old frame does not count
    assert stats.diagnostic(True, True, "t", now=203.0)[1] == "no image since the activation, 3.0 s ago"
