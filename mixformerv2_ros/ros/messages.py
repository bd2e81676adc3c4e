"""The tracker node's outgoing messages, built by pure functions from tracker results.

Every message the node publishes is made here, from plain values (a header, a box, a state
name, a motion estimate, a bearing) and nothing else: no node, no clock, no publisher. So what a
message holds can be checked without DDS, and the node's per-frame path only decides *what* to
publish, not how the fields are filled.

The state names (``idle``, ``tracking``, ``lost``) are the tracker core's; ``STATE_CODES`` maps
them, in this one place, to TrackerStatus' constants.
"""

from __future__ import annotations

import cv2
import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Vector3Stamped
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from mixformerv2_ros.msg import TrackerStatus
from mixformerv2_ros.ros.frame_intake import stamp_ns
from mixformerv2_ros.ros.image_conversion import bgr_to_image
from mixformerv2_ros.tracker.bearing import Bearing, CameraModel
from mixformerv2_ros.tracker.lost_target import LOST, TRACKING
from mixformerv2_ros.tracker.motion import MotionEstimate
from mixformerv2_ros.tracker.tracker import IDLE

STATES = (IDLE, TRACKING, LOST)
STATE_CODES = {IDLE: TrackerStatus.STATE_IDLE, TRACKING: TrackerStatus.STATE_TRACKING,
               LOST: TrackerStatus.STATE_LOST}
STATE_COLORS = {TRACKING: (0, 220, 0), LOST: (0, 0, 255)}  # BGR, for the debug image


def detection(header, box_xywh, score: float, track_id: str, class_id: str) -> Detection2D:
    """A Detection2D: centre/size of the (x, y, w, h) box in pixels, theta 0, one hypothesis
    (class_id, score) and the track id; ``header`` as given (the image's)."""
    det = Detection2D()
    det.header = header
    x, y, w, h = (float(v) for v in box_xywh)
    det.bbox.center.position.x = x + w / 2.0
    det.bbox.center.position.y = y + h / 2.0
    det.bbox.center.theta = 0.0
    det.bbox.size_x, det.bbox.size_y = w, h
    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.class_id = class_id
    hyp.hypothesis.score = float(score)
    det.results.append(hyp)
    det.id = track_id
    return det


def detection_array(header, detections) -> Detection2DArray:
    return Detection2DArray(header=header, detections=list(detections))


def predicted_detection(frame_id: str, stamp, box_xywh, score: float, track_id: str, class_id: str) -> Detection2D:
    """The box extrapolated to ``stamp`` (the time of publishing): stamped with that time, in
    the image's frame; score and ids as the raw detection's."""
    return detection(Header(stamp=stamp, frame_id=frame_id), box_xywh, score, track_id, class_id)


def bearing_vector(header, bearing: Bearing) -> Vector3Stamped:
    """The unit ray to the target in the camera's optical frame, with the image's header."""
    msg = Vector3Stamped()
    msg.header = header
    msg.vector.x, msg.vector.y, msg.vector.z = (float(v) for v in bearing.ray)
    return msg


def latency_ms(header, now_ns: int) -> float:
    """Age of the image at ``now_ns`` (the node's clock), ms; 0 for an unstamped image."""
    stamp = stamp_ns(header.stamp)
    return float((now_ns - stamp) / 1e6) if stamp else 0.0


def tracker_status(header, state: str, score: float, track_id: str, frames_since_init: int, frames_lost: int,
                   processing_ms: float, latency: float, motion: MotionEstimate | None = None,
                   bearing: Bearing | None = None, weak: bool = False) -> TrackerStatus:
    """A TrackerStatus. ``track_id`` is left empty while idle; velocity and size rate are filled
    only from a motion estimate with a velocity (two or more boxes), the angles only from a bearing;
    ``weak``: the tracker's ``TrackResult.weak``."""
    status = TrackerStatus()
    status.header = header
    status.state = STATE_CODES[state]
    status.score = float(score)
    status.weak = bool(weak)
    status.track_id = track_id if state != IDLE else ""
    status.frames_since_init = int(frames_since_init)
    status.frames_lost = int(frames_lost)
    status.processing_ms = float(processing_ms)
    status.latency_ms = float(latency)
    if motion is not None and motion.valid:
        status.motion_valid = True
        status.velocity_x, status.velocity_y = (float(v) for v in motion.velocity)
        status.size_rate = float(motion.size_rate)
    if bearing is not None:
        status.bearing_valid = True
        status.yaw, status.pitch = float(bearing.yaw), float(bearing.pitch)
    return status


def diagnostic_array(name: str, hardware_id: str, level: int, message: str, values: dict, stamp) -> DiagnosticArray:
    """One DiagnosticStatus; ``level`` as an int (node_stats.OK, WARN), the message's field is a byte."""
    status = DiagnosticStatus(name=name, hardware_id=hardware_id, level=bytes([level]), message=message,
                              values=[KeyValue(key=k, value=str(v)) for k, v in values.items()])
    array = DiagnosticArray(status=[status])
    array.header.stamp = stamp
    return array


def draw_result(image: np.ndarray, result) -> np.ndarray:
    """The frame with the box, score and state drawn (a copy); "idle" without a result."""
    canvas = image.copy()
    if result is None:
        cv2.putText(canvas, IDLE, (10, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (200, 200, 200), 2)
        return canvas
    x, y, w, h = (int(round(v)) for v in result.box)
    color = STATE_COLORS.get(result.state, (200, 200, 200))
    cv2.rectangle(canvas, (x, y), (x + w, y + h), color, 2)
    cv2.putText(canvas, f"{result.state} {result.score:.2f}", (x, max(15, y - 6)),
                cv2.FONT_HERSHEY_SIMPLEX, 0.6, color, 2)
    return canvas


def debug_image(image: np.ndarray, result, header):
    return bgr_to_image(draw_result(image, result), header)


def camera_model(info) -> CameraModel:
    """A CameraModel from a sensor_msgs/CameraInfo; ValueError says why it cannot be used.

    Binning and a region of interest change which raw pixel an image pixel is; the node's images
    are taken to be full-resolution, so a CameraInfo that sets either is refused rather than
    giving wrong angles.
    """
    if info.binning_x > 1 or info.binning_y > 1:
        raise ValueError(f"binning {info.binning_x}x{info.binning_y} is not supported")
    roi = info.roi
    if roi.width or roi.height or roi.x_offset or roi.y_offset:
        full = (roi.x_offset, roi.y_offset, roi.width, roi.height) == (0, 0, info.width, info.height)
        if not full:
            raise ValueError(f"a region of interest ({roi.x_offset}, {roi.y_offset}, {roi.width}x{roi.height}) "
                             "is not supported")
    return CameraModel(list(info.k), list(info.d), info.distortion_model, info.width, info.height)
