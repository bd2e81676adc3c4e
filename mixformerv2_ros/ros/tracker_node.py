"""The ROS 2 lifecycle node: camera images in, one Detection2D per processed frame out.

Lifecycle: *configure* reads and validates the parameters, loads the model and warms it up;
*activate* subscribes to the camera (and its camera_info) and starts the worker; *deactivate*
stops; *cleanup* frees the model (and GPU memory). With ``autostart`` (default) the node
configures and activates itself, so a plain launch works.

Freshness: the image callback only keeps the newest frame (and a short buffer of recent frames
for init requests; see ``frame_intake``); a worker thread always processes the newest frame, so
under overload frames are skipped, never queued, and the latency does not grow. Results carry the
input's header.

Outputs per processed frame (``_process`` is the whole per-frame path, in one place):
``~/status`` always; while a target is set, ``~/detection`` too, also while the target is lost
(then with the last estimate and its low score, so "one Detection2D per processed frame" holds;
control loops decide with ``~/status``), and ``~/detections`` holding it only while tracking
(empty while lost or idle). While tracking, also ``~/predicted`` (the box extrapolated to the
time of publishing by the motion filter) and, once a CameraInfo has come, ``~/bearing`` (the unit
ray to the box centre). Frames that arrive while disabled (``~/enable`` false) are not processed,
not even after re-enabling. Bad input (malformed images, bad boxes, unusable camera_info) is
answered or logged (throttled) with the reason; the node keeps running.

The pieces: parameters in ``node_params`` (validated on set, applied after), frame intake in
``frame_intake``, counters and diagnostics in ``node_stats``, message building in ``messages``.
This class keeps the lifecycle, the wiring, the per-frame path and thin service handlers.
"""

from __future__ import annotations

import math
import os
import threading
import time
import uuid

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Vector3Stamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from std_srvs.srv import SetBool, Trigger
from vision_msgs.msg import Detection2D, Detection2DArray

from mixformerv2_ros.model.config import demo_model_path
from mixformerv2_ros.msg import TrackerStatus
from mixformerv2_ros.ros import messages
from mixformerv2_ros.ros.frame_intake import Frame, FrameIntake, stamp_ns
from mixformerv2_ros.ros.image_conversion import ImageConversionError, image_to_bgr
# CHOICES is part of this module's interface (the launch-file tests check parameter files against it).
from mixformerv2_ros.ros.node_params import CHOICES, MOTION_SETTINGS, NodeParams, tracker_overrides  # noqa: F401
from mixformerv2_ros.ros.node_stats import NodeStats
from mixformerv2_ros.srv import InitTarget
from mixformerv2_ros.tracker import InvalidInputError
from mixformerv2_ros.tracker.lost_target import LOST, TRACKING
from mixformerv2_ros.tracker.motion import MotionEstimate, MotionFilter
from mixformerv2_ros.tracker.tracker import IDLE

NODE_NAME = "mixformerv2_tracker"
#: ~/predicted is not published when the image stamp and the node's clock differ by more than
#: this (s): the clocks disagree (camera not on the node's time), or the frame is stale; an
#: extrapolation over such a span would be meaningless.
MAX_PREDICTION_HORIZON_S = 1.0
#: Fast DDS's default shared-memory segment: larger samples go over UDP (README, "Camera on the same computer").
DEFAULT_SHM_SEGMENT_BYTES = 512 * 1024
_SOURCE_NAMES = {InitTarget.Response.SOURCE_REQUEST_IMAGE: "the request's image",
                 InitTarget.Response.SOURCE_BUFFERED_FRAME: "the buffered frame with the requested stamp",
                 InitTarget.Response.SOURCE_NEWEST_FRAME: "the newest frame"}
_PUBLISHERS = ("detection_pub", "detections_pub", "predicted_pub", "bearing_pub", "status_pub", "debug_pub",
               "diag_pub")


class TrackerNode(LifecycleNode):
    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        for name in NodeParams.names():
            self.declare_parameter(name, NodeParams.default(name), NodeParams.descriptor(name))
        self.params = NodeParams(**{name: self.get_parameter(name).value for name in NodeParams.names()})
        self.add_on_set_parameters_callback(self._check_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self.stats = NodeStats()
        self.intake = FrameIntake(self.stats, self.params.buffer_length)
        self.tracker = None
        self.motion = self._motion_filter()
        # The tracker, the track's bookkeeping and the motion filter change under this lock: the
        # worker's step and an init or stop from a service never interleave.
        self._tracker_lock = threading.Lock()
        self._track_id = ""
        self._frames_since_init = 0
        self._frames_lost = 0
        self._camera = None  # CameraModel from the newest usable CameraInfo
        self._camera_key = None
        self._camera_note = "none received"
        self._warned_large_frames = False
        self._precision_note = ""
        self._camera_info_topic = ""
        self._active = False
        self._last_processed = 0.0
        self._worker = None
        self._stop_worker = threading.Event()
        self._subscription = None
        self._camera_info_sub = None
        self._control_group = ReentrantCallbackGroup()
        self._image_group = MutuallyExclusiveCallbackGroup()
        self._control_services = []  # not _services: rclpy.Node keeps its own list there

    # ---- parameters: validate on set, apply after -----------------------------------------
    def _check_parameters(self, params) -> SetParametersResult:
        tracker = self.tracker
        factors = None
        if tracker is not None:
            config = tracker.backend.config
            factors = (float(config.search_factor), float(config.template_factor))
        reason = self.params.check({p.name: p.value for p in params}, tracker is not None, factors)
        return SetParametersResult(successful=reason is None, reason=reason or "")

    def _apply_parameters(self, params) -> None:
        changes = {p.name: p.value for p in params if p.name in NodeParams.names()}
        if not changes:
            return
        self.params = self.params.updated(changes)
        settings = tracker_overrides(changes)
        with self._tracker_lock:
            if settings and self.tracker is not None:
                try:
                    self.tracker.update_settings(**settings)
                except ValueError as exc:  # checked on set against the same model: not expected
                    self.get_logger().error(f"tracker settings not applied: {exc}")
            for name, field in MOTION_SETTINGS.items():
                if name in changes:
                    setattr(self.motion, field, float(changes[name]))

    def _motion_filter(self) -> MotionFilter:
        return MotionFilter(measurement_noise=self.params.motion_measurement_noise,
                            acceleration_noise=self.params.motion_acceleration_noise)

    # ---- lifecycle ------------------------------------------------------------------------
    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self._camera_info_topic = self._resolve_camera_info_topic()
            self.tracker = self._load_tracker()
        except Exception as exc:  # any failure to load is reported, the node stays unconfigured
            self.get_logger().error(f"configure failed: {exc}")
            self.tracker = None
            return TransitionCallbackReturn.FAILURE
        self.intake.resize(self.params.buffer_length)
        self.motion = self._motion_filter()
        self.detection_pub = self.create_publisher(Detection2D, "~/detection", 10)
        self.detections_pub = self.create_publisher(Detection2DArray, "~/detections", 10)
        self.predicted_pub = self.create_publisher(Detection2D, "~/predicted", 10)
        self.bearing_pub = self.create_publisher(Vector3Stamped, "~/bearing", 10)
        self.status_pub = self.create_publisher(TrackerStatus, "~/status", 10)
        self.debug_pub = self.create_publisher(Image, "~/debug_image", 2)
        self.diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        group = self._control_group
        self._control_services = [
            self.create_service(InitTarget, "~/init", self._on_init, callback_group=group),
            self.create_service(Trigger, "~/stop", self._on_stop, callback_group=group),
            self.create_service(SetBool, "~/enable", self._on_enable, callback_group=group),
        ]
        self._init_sub = self.create_subscription(Detection2D, "~/init_detection", self._on_init_detection,
                                                  10, callback_group=group)
        self._diag_timer = self.create_timer(1.0, self._publish_diagnostics, callback_group=group)
        self.get_logger().info("configured")
        return TransitionCallbackReturn.SUCCESS

    def _resolve_camera_info_topic(self) -> str:
        """The CameraInfo topic, "" when disabled. A relative name lives in the namespace of the
        (resolved, remapped) image topic, as image_transport pairs them: image remapped to
        /camera/image_raw -> /camera/camera_info. Invalid names raise (configure fails)."""
        name = self.params.camera_info_topic
        if not name:
            return ""
        if name.startswith(("/", "~")):
            return self.resolve_topic_name(name)
        namespace = self.resolve_topic_name("image").rsplit("/", 1)[0]
        return self.resolve_topic_name(f"{namespace}/{name}", only_expand=True)

    def _load_tracker(self):
        from mixformerv2_ros.tracker import Tracker

        params = self.params
        model_path = params.model_path
        if not model_path:
            model_path = demo_model_path()
            if model_path is None:
                raise ValueError("no model_path given and no demo model installed: set model_path to an "
                                 "official .pth.tar or an exported .onnx")
            self.get_logger().warn(
                f"no model_path given: using the DEMO model {model_path} (small, trained briefly on research "
                "data, research use only, tracks far worse than the official models); for real use set "
                "model_path to the official MixFormerV2 weights (mixformerv2_small.pth.tar on the CPU, "
                "mixformerv2_base.pth.tar on a GPU; see the README)")
        invalid = params.invalid_choice()
        if invalid:
            raise ValueError(invalid)
        backend, device = params.backend, params.device
        if backend == "torch":
            from mixformerv2_ros.tracker.backends import resolve_device

            resolved = resolve_device(device)  # explicit cuda without CUDA raises here
            if device == "auto" and resolved == "cpu":
                self.get_logger().warn("device auto: CUDA is not available, running on the CPU")
            device = resolved
        elif device.startswith("cuda"):
            raise ValueError("the onnxruntime backend runs on the CPU; use backend torch for CUDA")
        else:
            device = "cpu"
        options = {}
        if params.variant:
            options["variant"] = params.variant
        if params.threads:
            options["threads"] = int(params.threads)
        options["precision"] = params.precision
        settings = tracker_overrides(params.tracker_values())
        started = time.perf_counter()
        tracker = Tracker.from_checkpoint(model_path, backend=backend, device=device, log=self.get_logger().info,
                                          **options, **settings)
        choice = tracker.backend.precision_choice
        if choice is not None:  # precision auto: say what the accuracy gate chose, and why
            self.get_logger().info(choice.summary() + (" (cached verdict)" if choice.cached else ""))
            self._precision_note = f"{choice.precision} ({choice.reason}; gate step {choice.step_ms:.2f} ms)"
        else:
            self._precision_note = tracker.backend.precision
        warmup = np.zeros((360, 640, 3), np.uint8)
        tracker.initialize(warmup, (300.0, 160.0, 40.0, 40.0))
        for _ in range(3):
            tracker.track(warmup)
        tracker.reset()
        self.get_logger().info(
            f"model {model_path} ({tracker.backend.config.variant}, {backend} on {device}) loaded and warmed "
            f"up in {time.perf_counter() - started:.1f} s")
        return tracker

    def on_activate(self, state) -> TransitionCallbackReturn:
        reliability = (ReliabilityPolicy.RELIABLE if self.params.reliability == "reliable"
                       else ReliabilityPolicy.BEST_EFFORT)
        qos = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=reliability)
        if self.params.use_compressed:
            # image_transport's convention: remapping `image` moves `image/compressed` along with it
            topic = self.resolve_topic_name("image") + "/compressed"
            self._subscription = self.create_subscription(CompressedImage, topic, self._on_image,
                                                          qos, callback_group=self._image_group)
        else:
            self._subscription = self.create_subscription(Image, "image", self._on_image, qos,
                                                          callback_group=self._image_group)
        if self._camera_info_topic:
            self._camera_info_sub = self.create_subscription(
                CameraInfo, self._camera_info_topic, self._on_camera_info, qos_profile_sensor_data,
                callback_group=self._control_group)
        self._stop_worker.clear()
        self.stats.activated()
        self._active = True
        self._worker = threading.Thread(target=self._work, name="tracker_worker", daemon=True)
        self._worker.start()
        camera_info = self._camera_info_topic or "off"
        self.get_logger().info(f"active: listening on {self._subscription.topic_name} (camera_info: {camera_info})")
        return super().on_activate(state)

    def _stop_work(self):
        """Stop the worker thread and wait for it: a thread still inside native inference code
        when the interpreter exits aborts the process."""
        self._active = False
        self._stop_worker.set()
        self.intake.wake()
        if self._worker is not None:
            self._worker.join(timeout=5.0)
            self._worker = None

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self._stop_work()
        for name in ("_subscription", "_camera_info_sub"):
            if getattr(self, name) is not None:
                self.destroy_subscription(getattr(self, name))
                setattr(self, name, None)
        self._camera, self._camera_key, self._camera_note = None, None, "none received"
        self._publish_state_change(None, IDLE)
        return super().on_deactivate(state)

    def on_cleanup(self, state) -> TransitionCallbackReturn:
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state) -> TransitionCallbackReturn:
        self._active = False
        self._stop_worker.set()
        self._release()
        return TransitionCallbackReturn.SUCCESS

    def _release(self):
        for service in self._control_services:
            self.destroy_service(service)
        self._control_services = []
        for name in _PUBLISHERS:
            if hasattr(self, name):
                self.destroy_publisher(getattr(self, name))
                delattr(self, name)
        if hasattr(self, "_init_sub"):
            self.destroy_subscription(self._init_sub)
            del self._init_sub
        if hasattr(self, "_diag_timer"):
            self.destroy_timer(self._diag_timer)
            del self._diag_timer
        with self._tracker_lock:
            if self.tracker is not None:
                self.tracker.close()  # frees GPU memory for the torch backend
            self.tracker = None
            self._track_id = ""
            self.motion.reset()
        self.intake.clear()

    # ---- input ----------------------------------------------------------------------------
    def _on_image(self, msg):
        if not self._warned_large_frames and len(msg.data) > DEFAULT_SHM_SEGMENT_BYTES:
            self._warn_large_frames(len(msg.data))
        try:
            self.intake.offer(msg)
        except ImageConversionError as exc:  # malformed header: never displaces a good frame
            self._reject(str(exc))

    def _warn_large_frames(self, size: int):
        """Once: frames above Fast DDS's default shared-memory segment go over UDP, where many are
        lost on a busy machine, unless both sides run with a profile that enlarges the segment."""
        self._warned_large_frames = True
        profile = os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE") or os.environ.get("FASTRTPS_DEFAULT_PROFILES_FILE")
        if profile:
            # this side is set up; frames lost on the way never reach us, so we cannot tell
            # whether the sender is too: say it once, quietly
            self.get_logger().info(
                f"frames of {size / 1024:.0f} KB: this node uses the transport profile {profile}; the camera "
                "driver must use it too, or frames beyond the default shared-memory segment go over UDP and "
                "many are lost (README, 'Camera on the same computer')")
            return
        self.get_logger().warn(
            f"frames of {size / 1024:.0f} KB exceed Fast DDS's default {DEFAULT_SHM_SEGMENT_BYTES // 1024} KB "
            "shared-memory segment, so they travel over UDP, where many are lost: run this node and the camera "
            "driver with FASTDDS_DEFAULT_PROFILES_FILE=<share>/mixformerv2_ros/config/fastdds_shm.xml (the launch "
            "files' shm_transport argument does it for what they start), or subscribe to compressed images "
            "(use_compressed:=true); see the README, 'Camera on the same computer'")

    def _on_camera_info(self, msg: CameraInfo):
        key = (tuple(msg.k), tuple(msg.d), msg.distortion_model, msg.width, msg.height, msg.binning_x,
               msg.binning_y, msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height)
        if key == self._camera_key:  # drivers send the same calibration with every frame
            return
        self._camera_key = key
        try:
            self._camera = messages.camera_model(msg)
        except (ValueError, TypeError) as exc:
            self._camera = None
            self._camera_note = f"refused: {exc}"
            self.get_logger().warn(f"camera_info refused: {exc}; no bearing until a usable one arrives")
            return
        self._camera_note = f"{msg.width}x{msg.height} {self._camera.distortion_model}"
        self.get_logger().info(f"camera_info: bearing from a {self._camera_note} calibration")

    def _reject(self, reason: str, counter: str = "rejected"):
        """Count (a rejected frame, or with counter "inits_refused" a refused init) and log why;
        each kind of reason is logged at most every 2 s."""
        if self.stats.reject(reason, counter):
            self.get_logger().warn(f"rejected input: {reason}")

    def _warn_throttled(self, message: str):
        if self.stats.should_log(message):
            self.get_logger().warn(message)

    # ---- processing -----------------------------------------------------------------------
    def _work(self):
        while not self._stop_worker.is_set():
            max_rate = self.params.max_rate
            if max_rate > 0:  # wait for the next slot, then take whatever is newest by then
                self._stop_worker.wait(self._last_processed + 1.0 / max_rate - time.monotonic())
            frame = self.intake.take_newest(self._stop_worker)
            if frame is None:
                continue
            self._last_processed = time.monotonic()
            try:
                self._process(frame)
            except Exception as exc:  # never let one frame stop the node
                self._reject(f"frame {frame.stamp_ns}: {type(exc).__name__}: {exc}")

    def _process(self, frame: Frame):
        """One frame, top to bottom: decode, gate, track, motion, bearing, publish, account.

        Runs in the worker thread. The tracker lock covers what must not interleave with an init
        or a stop (the gate, the step, the track's bookkeeping, the motion filter); publishing
        happens outside it.
        """
        started = time.perf_counter()
        params = self.params
        try:
            image = frame.decode()
        except ImageConversionError as exc:
            self._reject(str(exc))
            return
        header = frame.header
        result = step_ms = motion = None
        with self._tracker_lock:
            if self.tracker is None:
                self.stats.count("skipped")
                return
            if not self.intake.admit(frame):  # disabled, or the init frame itself: no output at all
                return
            if self.tracker.state != IDLE:
                step_started = time.perf_counter()
                try:
                    result = self.tracker.track(image)
                except InvalidInputError as exc:
                    self._reject(str(exc))
                    return
                step_ms = (time.perf_counter() - step_started) * 1e3
                self._frames_since_init += 1
                self._frames_lost = self._frames_lost + 1 if result.state == LOST else 0
                motion = self._observe_motion(frame, result)
            track_id, frames_since_init, frames_lost = self._track_id, self._frames_since_init, self._frames_lost
        state = result.state if result is not None else IDLE
        score = result.score if result is not None else 0.0
        weak = result is not None and result.weak
        # a weak frame's box is a guess the tracker does not follow: it must not steer a control loop
        bearing = self._bearing(result.box, image.shape) if state == TRACKING and not weak else None

        detection = None
        if result is not None:
            detection = messages.detection(header, result.box, score, track_id, params.class_id)
            self.detection_pub.publish(detection)
        self.detections_pub.publish(messages.detection_array(header, [detection] if state == TRACKING else []))
        if motion is not None:
            self._publish_prediction(header, motion, score, track_id, params.class_id)
        if bearing is not None:
            self.bearing_pub.publish(messages.bearing_vector(header, bearing))
        if params.publish_debug_image and self.debug_pub.get_subscription_count() > 0:
            self.debug_pub.publish(messages.debug_image(image, result, header))
        processing_ms = (time.perf_counter() - started) * 1e3
        latency = messages.latency_ms(header, self.get_clock().now().nanoseconds)
        self.status_pub.publish(messages.tracker_status(header, state, score, track_id, frames_since_init,
                                                        frames_lost, processing_ms, latency, motion, bearing,
                                                        weak=weak))
        self.stats.frame_processed(processing_ms, step_ms, latency, score, state)

    def _observe_motion(self, frame: Frame, result) -> MotionEstimate | None:
        """Feed the motion filter (under the tracker lock); the estimate when this frame's box
        was taken. The filter restarts when the target is lost; an unstamped frame has no time to
        measure motion against, and a repeated stamp adds nothing (both: None)."""
        if result.state != TRACKING:
            self.motion.reset()
            return None
        if result.weak:  # a guess the tracker does not follow is no measurement: the filter keeps what it had
            return None
        if not frame.stamp_ns or not self.motion.update(frame.stamp_ns / 1e9, result.box):
            return None
        return self.motion.estimate()

    def _publish_prediction(self, header, motion: MotionEstimate, score: float, track_id: str, class_id: str):
        now = self.get_clock().now()
        horizon_s = (now.nanoseconds - stamp_ns(header.stamp)) / 1e9
        if abs(horizon_s) > MAX_PREDICTION_HORIZON_S:
            self._warn_throttled(f"~/predicted not published: the image stamp is {horizon_s:.3f} s from the node's "
                                 "clock (clocks disagree, or the frame is stale)")
            return
        box = motion.predict(now.nanoseconds / 1e9)
        self.predicted_pub.publish(messages.predicted_detection(header.frame_id, now.to_msg(), box, score,
                                                                track_id, class_id))

    def _bearing(self, box, shape):
        """Bearing of the box centre, or None without a (matching) calibration."""
        camera = self._camera
        if camera is None:
            return None
        height, width = shape[:2]
        if not camera.matches_image(width, height):
            self._warn_throttled(f"camera_info is for {camera.width}x{camera.height} images, the image is "
                                 f"{width}x{height}: no bearing")
            return None
        x, y, w, h = box
        return camera.bearing(x + w / 2.0, y + h / 2.0)

    def _publish_state_change(self, header, state: str, score: float = 0.0):
        """Status on init (header of the init frame), stop and deactivate (no frame: idle, node clock)."""
        if not hasattr(self, "status_pub"):
            return
        now = self.get_clock().now()
        if header is None:
            header, state, latency, processing = Header(stamp=now.to_msg()), IDLE, 0.0, 0.0
        else:
            latency, processing = messages.latency_ms(header, now.nanoseconds), self.stats.processing_ms
        self.status_pub.publish(messages.tracker_status(header, state, score, self._track_id, self._frames_since_init,
                                                        self._frames_lost, processing, latency))
        self.stats.status_published(latency, score, state)

    # ---- control --------------------------------------------------------------------------
    def _start_track(self, image, header, box_msg, source) -> tuple[bool, str, Detection2D]:
        """Validate the box against the image and (re)initialise; returns (ok, message, detection)."""
        cx, cy = box_msg.center.position.x, box_msg.center.position.y
        w, h = box_msg.size_x, box_msg.size_y
        values = (cx, cy, w, h, box_msg.center.theta)
        if not all(math.isfinite(v) for v in values):
            return False, f"box has non-finite values {values}", Detection2D()
        if w <= 0 or h <= 0:
            return False, f"box is empty (size {w} x {h})", Detection2D()
        if box_msg.center.theta != 0.0:
            return False, "rotated boxes are not supported (center.theta must be 0)", Detection2D()
        x, y = cx - w / 2.0, cy - h / 2.0
        height, width = image.shape[:2]
        if x >= width or y >= height or x + w <= 0 or y + h <= 0:
            reason = f"box ({x:.1f}, {y:.1f}, {w:.1f}, {h:.1f}) lies outside the {width}x{height} image"
            return False, reason, Detection2D()
        with self._tracker_lock:
            if self.tracker is None:
                return False, "node is not configured", Detection2D()
            try:
                self.tracker.initialize(image, (x, y, w, h))
            except InvalidInputError as exc:
                return False, str(exc), Detection2D()
            self._track_id = uuid.uuid4().hex[:12]
            self._frames_since_init = 0
            self._frames_lost = 0
            self.motion.reset()
            if source != InitTarget.Response.SOURCE_REQUEST_IMAGE:  # do not track the init frame again
                self.intake.skip_through(stamp_ns(header.stamp))
            det = messages.detection(header, self.tracker.box, 1.0, self._track_id, self.params.class_id)
        ratio_w, ratio_h = self.tracker.init_size_ratio
        self.get_logger().info(f"tracking started (track {self._track_id}) on {_SOURCE_NAMES[source]}; the "
                               f"network's box on it is {ratio_w:.2f} x {ratio_h:.2f} of the given size "
                               f"(size_calibration {self.tracker.settings.size_calibration:g})")
        self._publish_state_change(header, TRACKING, 1.0)
        return True, f"tracking started on {_SOURCE_NAMES[source]} (track {self._track_id})", det

    def _init_from(self, box_msg, header, image_msg):
        """Shared by the service and the topic: returns (ok, message, source, detection)."""
        if not self._active:
            return False, "node is not active", InitTarget.Response.SOURCE_NONE, Detection2D()
        if image_msg is not None and image_msg.width > 0 and image_msg.height > 0:
            source, frame_header = InitTarget.Response.SOURCE_REQUEST_IMAGE, image_msg.header
            try:
                image = image_to_bgr(image_msg)
            except ImageConversionError as exc:
                return False, f"request image: {exc}", InitTarget.Response.SOURCE_NONE, Detection2D()
        else:
            frame, exact = self.intake.find(stamp_ns(header.stamp))
            if frame is None:
                return False, self._no_image_reason(), InitTarget.Response.SOURCE_NONE, Detection2D()
            source = InitTarget.Response.SOURCE_BUFFERED_FRAME if exact else InitTarget.Response.SOURCE_NEWEST_FRAME
            frame_header = frame.header
            try:
                image = frame.decode()
            except ImageConversionError as exc:
                return False, f"buffered frame: {exc}", InitTarget.Response.SOURCE_NONE, Detection2D()
        ok, message, det = self._start_track(image, frame_header, box_msg, source)
        return ok, message, source if ok else InitTarget.Response.SOURCE_NONE, det

    def _image_source(self) -> tuple[str, int] | None:
        """The image topic and how many publishers of it this node's graph knows (None while
        inactive). With no image, none points at the topic name or discovery, some at frames
        that do not arrive (a QoS or transport mismatch): a caller cannot tell these apart
        otherwise."""
        subscription = self._subscription
        if not self._active or subscription is None:
            return None
        try:
            topic = subscription.topic_name
            return topic, self.count_publishers(topic)
        except Exception:  # deactivated meanwhile (the subscription destroyed)
            return None

    def _no_image_reason(self) -> str:
        """Why there is no frame to start on, naming the topic and the publishers known."""
        source = self._image_source()
        if source is None:
            return "no image received yet"
        topic, count = source
        return f"no image received yet on {topic} ({count} publisher{'' if count == 1 else 's'} known)"

    def _on_init(self, request, response):
        try:
            ok, message, source, det = self._init_from(request.box, request.header, request.image)
        except Exception as exc:  # a bad request must not take the node down
            ok, message, source, det = False, f"{type(exc).__name__}: {exc}", 0, Detection2D()
        response.success, response.message, response.source, response.detection = ok, message, source, det
        if not ok:
            self._reject(f"init refused: {message}", "inits_refused")
        return response

    def _on_init_detection(self, msg: Detection2D):
        try:
            ok, message, _, _ = self._init_from(msg.bbox, msg.header, None)
        except Exception as exc:
            ok, message = False, f"{type(exc).__name__}: {exc}"
        if not ok:
            self._reject(f"init_detection refused: {message}", "inits_refused")

    def _on_stop(self, request, response):
        with self._tracker_lock:
            if self.tracker is not None:
                self.tracker.reset()
            self._track_id = ""
            self._frames_since_init = self._frames_lost = 0
            self.motion.reset()
        self._publish_state_change(None, IDLE)
        response.success, response.message = True, "tracking stopped"
        return response

    def _on_enable(self, request, response):
        self.intake.set_enabled(bool(request.data))
        response.success = True
        response.message = "output enabled" if self.intake.enabled else "output disabled (frames are ignored)"
        return response

    # ---- diagnostics ----------------------------------------------------------------------
    def _publish_diagnostics(self):
        if not hasattr(self, "diag_pub"):
            return
        level, message, values = self.stats.diagnostic(self._active, self.intake.enabled, self._track_id)
        values["camera_info"] = self._camera_note if self._camera_info_topic else "off"
        source = self._image_source()
        values["image_publishers"] = "" if source is None else str(source[1])
        values["precision"] = self._precision_note
        self.diag_pub.publish(messages.diagnostic_array(
            f"{self.get_fully_qualified_name()}: tracker", self.params.backend, level, message, values,
            self.get_clock().now().to_msg()))


def main(args=None) -> int:
    # The tracker runs in the node's worker thread, so services and the image callback are
    # answered while a frame is processed. One executor thread is enough for them, and it matters:
    # with rclpy's MultiThreadedExecutor (3 threads) under 3x overload, the worker thread competing
    # with the executor threads for the GIL and the CPU saw 30 ms steps stretched to 770 ms, and
    # image intake stalled for a second at a time (Jazzy, 2 cores); with one executor thread the
    # steps stay at 27-30 ms and every result is fresh.
    rclpy.init(args=args)
    node = TrackerNode()
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    if node.get_parameter("autostart").value:
        if node.trigger_configure() == TransitionCallbackReturn.SUCCESS:
            node.trigger_activate()
        else:
            node.get_logger().error("autostart: configure failed; the node stays unconfigured "
                                    "(fix the parameters and call change_state)")
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node._stop_work()
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
