"""The ROS 2 lifecycle node: camera images in, one Detection2D per processed frame out.

Lifecycle: *configure* reads and validates the parameters, loads the model and warms it up;
*activate* subscribes to the camera and starts publishing; *deactivate* stops; *cleanup* frees
the model (and GPU memory). With ``autostart`` (default) the node configures and activates
itself, so a plain launch works.

Freshness: the image callback only keeps the newest frame (and a short buffer of recent frames
for init requests); a worker thread always processes the newest frame, so under overload frames
are skipped, never queued, and the latency does not grow. Results carry the input's header.

Outputs per processed frame: ``~/status`` always; while a target is set, ``~/detection`` too,
also while the target is lost (then with the last estimate and its low score, so "one Detection2D
per processed frame" holds; control loops decide with ``~/status``), and ``~/detections`` holding
it only while tracking (empty while lost or idle). Frames that arrive while disabled
(``~/enable`` false) are not processed, not even after re-enabling.
Bad input (malformed images, bad boxes) is answered or logged (throttled) with the reason; the
node keeps running.
"""

from __future__ import annotations

import collections
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image
from std_srvs.srv import SetBool, Trigger
from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

from mixformerv2_ros.model.config import demo_model_path
from mixformerv2_ros.msg import TrackerStatus
from mixformerv2_ros.ros.image_conversion import (ImageConversionError, bgr_to_image, check_image,
                                                  compressed_to_bgr, image_to_bgr)
from mixformerv2_ros.srv import InitTarget
from mixformerv2_ros.tracker import InvalidInputError

NODE_NAME = "mixformerv2_tracker"
_STATES = {"idle": TrackerStatus.STATE_IDLE, "tracking": TrackerStatus.STATE_TRACKING,
           "lost": TrackerStatus.STATE_LOST}
_STATE_COLORS = {"tracking": (0, 220, 0), "lost": (0, 0, 255)}


def _float_range(low, high):
    return [FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)]


def _int_range(low, high):
    return [IntegerRange(from_value=int(low), to_value=int(high), step=1)]


# name -> (default, description, extra descriptor fields, changeable while configured)
PARAMETERS = {
    "model_path": ("", "Official MixFormerV2 checkpoint (.pth.tar) or an exported .onnx; empty: the "
                   "demo model shipped with the package", {}, False),
    "variant": ("", "Expected variant of a .pth.tar ('small' or 'base'); empty: inferred", {}, False),
    "backend": ("onnxruntime", "Inference backend: onnxruntime (CPU) or torch (CPU or CUDA)", {}, False),
    "device": ("auto", "cpu, cuda or auto (cuda when available, else cpu with a warning)", {}, False),
    "precision": ("fp32", "fp32; fp16 (torch on CUDA); int8 (onnxruntime, dynamic quantisation)", {}, False),
    "threads": (0, "CPU threads for inference; 0: all usable cores", {"integer_range": _int_range(0, 256)}, False),
    "search_factor": (0.0, "Search region side / sqrt(box area); 0: the model's value (4.5)",
                      {"floating_point_range": _float_range(0.0, 20.0)}, True),
    "update_interval": (200, "Frames between online-template updates",
                        {"integer_range": _int_range(1, 100000)}, True),
    "online_score_threshold": (0.5, "Score a frame needs to become the online template",
                               {"floating_point_range": _float_range(0.0, 1.0)}, True),
    "lost_threshold": (0.3, "Score below which a frame counts towards 'lost' (0 disables the lost state)",
                       {"floating_point_range": _float_range(0.0, 1.0)}, True),
    "lost_frames": (5, "Consecutive low-score frames that turn the state to lost",
                    {"integer_range": _int_range(1, 100000)}, True),
    "recover_threshold": (0.5, "Score a frame needs to count towards recovery (>= lost_threshold)",
                          {"floating_point_range": _float_range(0.0, 1.0)}, True),
    "recover_frames": (3, "Consecutive high-score frames that bring the state back to tracking",
                       {"integer_range": _int_range(1, 100000)}, True),
    "lost_search_factor": (0.0, "Search factor while lost; 0: 4/3 of search_factor",
                           {"floating_point_range": _float_range(0.0, 40.0)}, True),
    "class_id": ("target", "class_id written into results[0].hypothesis", {}, True),
    "max_rate": (0.0, "Most frames processed per second; 0: as fast as possible",
                 {"floating_point_range": _float_range(0.0, 1000.0)}, True),
    "reliability": ("best_effort", "QoS reliability of the image subscription: best_effort or reliable", {}, False),
    "use_compressed": (False, "Subscribe to image/compressed (sensor_msgs/CompressedImage) instead of image", {}, False),
    "buffer_length": (30, "Recent frames kept (by stamp) to serve init requests",
                      {"integer_range": _int_range(1, 1000)}, False),
    "publish_debug_image": (True, "Publish ~/debug_image (drawn only while someone subscribes)", {}, True),
    "autostart": (True, "Configure and activate at start-up", {}, False),
}
# Parameters with a fixed set of values (checked on every set, so a typo fails at once).
CHOICES = {
    "variant": ("", "small", "base"),
    "backend": ("onnxruntime", "torch"),
    "device": ("auto", "cpu", "cuda") + tuple(f"cuda:{i}" for i in range(16)),
    "precision": ("fp32", "fp16", "bf16", "int8"),
    "reliability": ("best_effort", "reliable"),
}
_TRACKER_SETTINGS = ("search_factor", "update_interval", "online_score_threshold", "lost_threshold",
                     "lost_frames", "recover_threshold", "recover_frames", "lost_search_factor")


def _stamp_ns(stamp) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


@dataclass
class _Frame:
    msg: object  # the Image or CompressedImage as received
    stamp_ns: int

    @property
    def header(self):
        return self.msg.header


class TrackerNode(LifecycleNode):
    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        for name, (default, description, extra, changeable) in PARAMETERS.items():
            note = "" if changeable else " (read at configure)"
            if name in CHOICES:
                extra = {**extra, "additional_constraints": "one of: " + ", ".join(repr(c) for c in CHOICES[name])}
            self.declare_parameter(name, default, ParameterDescriptor(description=description + note, **extra))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.tracker = None
        self._tracker_lock = threading.Lock()
        self._frames_lock = threading.Condition()
        self._newest: _Frame | None = None
        self._buffer: collections.deque[_Frame] = collections.deque()
        self._active = False
        self._enabled = True
        self._track_id = ""
        self._frames_since_init = 0
        self._frames_lost = 0
        self._skip_until_ns = -1  # frames at or before the init frame are not tracked again
        # Every received frame ends up processed, skipped or rejected (once none is pending): the
        # diagnostics account for each one. Counters change under _stats_lock (several threads).
        self._stats = {"received": 0, "processed": 0, "rejected": 0, "skipped": 0, "inits_refused": 0,
                       "last_error": "", "processing_ms": 0.0, "latency_ms": 0.0, "score": 0.0}
        self._stats_lock = threading.Lock()
        self._last_logged: dict[str, float] = {}
        self._rate_window: collections.deque[float] = collections.deque(maxlen=60)
        self._recent: collections.deque[tuple] = collections.deque(maxlen=100)  # (processing, step, latency) ms
        self._last_processed = 0.0
        self._worker = None
        self._stop_worker = threading.Event()
        self._subscription = None
        self._control_group = ReentrantCallbackGroup()
        self._image_group = MutuallyExclusiveCallbackGroup()
        self._control_services = []  # not _services: rclpy.Node keeps its own list there

    # ---- parameters -----------------------------------------------------------------------
    def _param(self, name):
        return self.get_parameter(name).value

    def _on_set_parameters(self, params) -> SetParametersResult:
        changes = {}
        for p in params:
            if p.name not in PARAMETERS:
                continue
            if not PARAMETERS[p.name][3] and self.tracker is not None:
                return SetParametersResult(successful=False, reason=(
                    f"{p.name} is read at configure: deactivate and clean up the node, then set it"))
            if p.name in _TRACKER_SETTINGS:
                changes[p.name] = p.value
            if p.name in CHOICES and p.value not in CHOICES[p.name]:
                return SetParametersResult(successful=False, reason=(
                    f"{p.name} must be one of {', '.join(repr(c) for c in CHOICES[p.name])}, got {p.value!r}"))
        if changes:
            from mixformerv2_ros.tracker import TrackerSettings

            try:  # the whole set is checked (e.g. lost <= recover threshold), configured or not
                TrackerSettings(**self._tracker_overrides(
                    {**{name: self._param(name) for name in _TRACKER_SETTINGS}, **changes}))
                if self.tracker is not None:
                    with self._tracker_lock:
                        self.tracker.update_settings(**self._tracker_overrides(changes))
            except ValueError as exc:
                return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _tracker_overrides(self, values: dict) -> dict:
        """Parameter values as TrackerSettings fields (0 factors mean 'the model's default')."""
        out = dict(values)
        for name in ("search_factor", "lost_search_factor"):
            if name in out and not out[name]:
                out[name] = None
        return out

    # ---- lifecycle ------------------------------------------------------------------------
    def on_configure(self, state) -> TransitionCallbackReturn:
        try:
            self.tracker = self._load_tracker()
        except Exception as exc:  # any failure to load is reported, the node stays unconfigured
            self.get_logger().error(f"configure failed: {exc}")
            self.tracker = None
            return TransitionCallbackReturn.FAILURE
        self._buffer = collections.deque(maxlen=int(self._param("buffer_length")))
        self.detection_pub = self.create_publisher(Detection2D, "~/detection", 10)
        self.detections_pub = self.create_publisher(Detection2DArray, "~/detections", 10)
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

    def _load_tracker(self):
        from mixformerv2_ros.tracker import Tracker

        model_path = self._param("model_path")
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
        for name, allowed in CHOICES.items():
            if self._param(name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in allowed)}, "
                                 f"got {self._param(name)!r}")
        backend, device = self._param("backend"), self._param("device")
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
        if self._param("variant"):
            options["variant"] = self._param("variant")
        if self._param("threads"):
            options["threads"] = int(self._param("threads"))
        if self._param("precision") != "fp32":
            options["precision"] = self._param("precision")
        settings = self._tracker_overrides({name: self._param(name) for name in _TRACKER_SETTINGS})
        started = time.perf_counter()
        tracker = Tracker.from_checkpoint(model_path, backend=backend, device=device, **options, **settings)
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
        reliability = (ReliabilityPolicy.RELIABLE if self._param("reliability") == "reliable"
                       else ReliabilityPolicy.BEST_EFFORT)
        qos = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=reliability)
        if self._param("use_compressed"):
            # image_transport's convention: remapping `image` moves `image/compressed` along with it
            topic = self.resolve_topic_name("image") + "/compressed"
            self._subscription = self.create_subscription(CompressedImage, topic, self._on_image,
                                                          qos, callback_group=self._image_group)
        else:
            self._subscription = self.create_subscription(Image, "image", self._on_image, qos,
                                                          callback_group=self._image_group)
        self._stop_worker.clear()
        self._active = True
        self._worker = threading.Thread(target=self._work, name="tracker_worker", daemon=True)
        self._worker.start()
        self.get_logger().info(f"active: listening on {self._subscription.topic_name}")
        return super().on_activate(state)

    def _stop_work(self):
        """Stop the worker thread and wait for it: a thread still inside native inference code
        when the interpreter exits aborts the process."""
        self._active = False
        self._stop_worker.set()
        with self._frames_lock:
            self._frames_lock.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=5.0)
            self._worker = None

    def on_deactivate(self, state) -> TransitionCallbackReturn:
        self._stop_work()
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None
        self._publish_status(None, "idle")
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
        for name in ("detection_pub", "detections_pub", "status_pub", "debug_pub", "diag_pub"):
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
        with self._frames_lock:
            self._buffer.clear()
            self._newest = None

    # ---- input ----------------------------------------------------------------------------
    def _on_image(self, msg):
        self._count("received")
        if isinstance(msg, Image):
            try:  # O(1) header checks: a malformed frame never displaces a good one
                check_image(msg)
            except ImageConversionError as exc:
                self._reject(str(exc))
                return
        frame = _Frame(msg, _stamp_ns(msg.header.stamp))
        with self._frames_lock:
            if self._newest is not None:
                self._count("skipped")  # replaced before the worker took it
            self._newest = frame
            self._buffer.append(frame)  # init requests look frames up here by stamp
            self._frames_lock.notify()

    def _take_newest(self) -> _Frame | None:
        with self._frames_lock:
            while self._newest is None and not self._stop_worker.is_set():
                self._frames_lock.wait(0.5)
            frame, self._newest = self._newest, None
            return frame

    def _count(self, counter: str):
        with self._stats_lock:
            self._stats[counter] += 1

    def _reject(self, reason: str, counter: str = "rejected"):
        """Count (a rejected frame, or with counter "inits_refused" a refused init) and log why;
        each kind of reason is logged at most every 2 s."""
        self._count(counter)
        self._stats["last_error"] = reason
        kind = re.sub(r"[0-9.,x()\-]+", "#", reason)[:48]
        now = time.monotonic()
        if now - self._last_logged.get(kind, -math.inf) >= 2.0:
            if len(self._last_logged) >= 256:  # hostile input can make endless distinct reasons
                self._last_logged.clear()
            self._last_logged[kind] = now
            self.get_logger().warn(f"rejected input: {reason}")

    def _decode(self, msg) -> np.ndarray:
        return compressed_to_bgr(msg) if isinstance(msg, CompressedImage) else image_to_bgr(msg)

    # ---- processing -----------------------------------------------------------------------
    def _work(self):
        while not self._stop_worker.is_set():
            max_rate = self._param("max_rate")
            if max_rate > 0:  # wait for the next slot, then take whatever is newest by then
                self._stop_worker.wait(self._last_processed + 1.0 / max_rate - time.monotonic())
            frame = self._take_newest()
            if frame is None:
                continue
            self._last_processed = time.monotonic()
            try:
                self._process(frame)
            except Exception as exc:  # never let one frame stop the node
                self._reject(f"frame {frame.stamp_ns}: {type(exc).__name__}: {exc}")

    def _process(self, frame: _Frame):
        started = time.perf_counter()
        try:
            image = self._decode(frame.msg)
        except ImageConversionError as exc:
            self._reject(str(exc))
            return
        result = None
        with self._tracker_lock:
            if self.tracker is None or not self._enabled:
                self._count("skipped")  # disabled: no output at all
                return
            if frame.stamp_ns <= self._skip_until_ns:
                self._count("skipped")  # the init frame itself, or one that arrived while disabled
                return
            self._skip_until_ns = -1  # a newer frame has come: stamps may now go anywhere (bag loops)
            if self.tracker.state != "idle":
                step_started = time.perf_counter()
                try:
                    result = self.tracker.track(image)
                except InvalidInputError as exc:
                    self._reject(str(exc))
                    return
                self._stats["step_ms"] = (time.perf_counter() - step_started) * 1e3
                self._frames_since_init += 1
                self._frames_lost = self._frames_lost + 1 if result.state == "lost" else 0
            track_id = self._track_id
        self._publish_result(frame, image, result, track_id, started)

    def _detection(self, header, box_xywh, score: float, track_id: str) -> Detection2D:
        det = Detection2D()
        det.header = header
        x, y, w, h = (float(v) for v in box_xywh)
        det.bbox.center.position.x = x + w / 2.0
        det.bbox.center.position.y = y + h / 2.0
        det.bbox.center.theta = 0.0
        det.bbox.size_x, det.bbox.size_y = w, h
        hyp = ObjectHypothesisWithPose()
        hyp.hypothesis.class_id = self._param("class_id")
        hyp.hypothesis.score = float(score)
        det.results.append(hyp)
        det.id = track_id
        return det

    def _publish_result(self, frame: _Frame, image, result, track_id: str, started: float):
        header = frame.header
        array = Detection2DArray(header=header)
        if result is not None:
            det = self._detection(header, result.box, result.score, track_id)
            self.detection_pub.publish(det)
            if result.state == "tracking":
                array.detections.append(det)
        self.detections_pub.publish(array)
        if self._param("publish_debug_image") and self.debug_pub.get_subscription_count() > 0:
            self.debug_pub.publish(bgr_to_image(draw_result(image, result), header))
        self._count("processed")
        self._rate_window.append(time.monotonic())
        self._stats["processing_ms"] = (time.perf_counter() - started) * 1e3
        self._publish_status(header, result.state if result else "idle", result.score if result else 0.0)
        if result is not None:
            self._recent.append((self._stats["processing_ms"], self._stats["step_ms"], self._stats["latency_ms"]))

    def _publish_status(self, header, state: str, score: float = 0.0):
        if not hasattr(self, "status_pub"):
            return
        status = TrackerStatus()
        now = self.get_clock().now()
        if header is not None:
            status.header = header
            age = now.nanoseconds - _stamp_ns(header.stamp)
            status.latency_ms = float(age / 1e6) if _stamp_ns(header.stamp) else 0.0
        else:
            status.header.stamp = now.to_msg()
            state = "idle"
        status.state = _STATES.get(state, TrackerStatus.STATE_IDLE)
        status.score = float(score)
        status.track_id = self._track_id if status.state != TrackerStatus.STATE_IDLE else ""
        status.frames_since_init = self._frames_since_init
        status.frames_lost = self._frames_lost
        status.processing_ms = float(self._stats["processing_ms"]) if header is not None else 0.0
        self._stats["latency_ms"], self._stats["score"] = status.latency_ms, status.score
        self._stats["state"] = state
        self.status_pub.publish(status)

    # ---- control --------------------------------------------------------------------------
    def _frame_for(self, header) -> tuple[_Frame | None, int]:
        """The buffered frame whose stamp equals header.stamp, else the newest (and which)."""
        wanted = _stamp_ns(header.stamp)
        with self._frames_lock:
            if wanted:
                for frame in reversed(self._buffer):
                    if frame.stamp_ns == wanted:
                        return frame, InitTarget.Response.SOURCE_BUFFERED_FRAME
            newest = self._buffer[-1] if self._buffer else None
        return newest, InitTarget.Response.SOURCE_NEWEST_FRAME

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
            return False, f"box ({x:.1f}, {y:.1f}, {w:.1f}, {h:.1f}) lies outside the {width}x{height} image", Detection2D()
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
            if source != InitTarget.Response.SOURCE_REQUEST_IMAGE:  # do not track the init frame again
                self._skip_until_ns = _stamp_ns(header.stamp)
            box = self.tracker.box
            det = self._detection(header, box, 1.0, self._track_id)
        names = {InitTarget.Response.SOURCE_REQUEST_IMAGE: "the request's image",
                 InitTarget.Response.SOURCE_BUFFERED_FRAME: "the buffered frame with the requested stamp",
                 InitTarget.Response.SOURCE_NEWEST_FRAME: "the newest frame"}
        self.get_logger().info(f"tracking started (track {self._track_id}) on {names[source]}")
        self._publish_status(header, "tracking", 1.0)
        return True, f"tracking started on {names[source]} (track {self._track_id})", det

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
            frame, source = self._frame_for(header)
            if frame is None:
                return False, "no image received yet", InitTarget.Response.SOURCE_NONE, Detection2D()
            frame_header = frame.header
            try:
                image = self._decode(frame.msg)
            except ImageConversionError as exc:
                return False, f"buffered frame: {exc}", InitTarget.Response.SOURCE_NONE, Detection2D()
        ok, message, det = self._start_track(image, frame_header, box_msg, source)
        return ok, message, source if ok else InitTarget.Response.SOURCE_NONE, det

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
        self._publish_status(None, "idle")
        response.success, response.message = True, "tracking stopped"
        return response

    def _on_enable(self, request, response):
        with self._frames_lock:
            if request.data and not self._enabled and self._buffer:
                # frames that arrived while disabled stay unprocessed, even the pending newest one
                self._skip_until_ns = max(self._skip_until_ns, self._buffer[-1].stamp_ns)
                self._newest = None
            self._enabled = bool(request.data)
        response.success = True
        response.message = "output enabled" if self._enabled else "output disabled (frames are ignored)"
        return response

    # ---- diagnostics ----------------------------------------------------------------------
    def _publish_diagnostics(self):
        if not hasattr(self, "diag_pub"):
            return
        window = list(self._rate_window)
        rate = (len(window) - 1) / (window[-1] - window[0]) if len(window) > 1 and window[-1] > window[0] else 0.0
        state = self._stats.get("state", "idle")
        status = DiagnosticStatus(name=f"{self.get_fully_qualified_name()}: tracker",
                                  hardware_id=self._param("backend"))
        if not self._active:
            status.level, status.message = DiagnosticStatus.WARN, "inactive"
        elif state == "lost":
            status.level, status.message = DiagnosticStatus.WARN, "target lost"
        else:
            status.level, status.message = DiagnosticStatus.OK, state if self._enabled else "disabled"
        stats = self._stats
        values = {"rate_hz": f"{rate:.2f}", "latency_ms": f"{stats['latency_ms']:.2f}",
                  "processing_ms": f"{stats['processing_ms']:.2f}", "score": f"{stats['score']:.3f}",
                  "state": state, "enabled": str(self._enabled), "track_id": self._track_id,
                  # received = processed + skipped + rejected, once no frame is pending
                  "frames_received": str(stats["received"]), "frames_processed": str(stats["processed"]),
                  "frames_skipped": str(stats["skipped"]), "frames_rejected": str(stats["rejected"]),
                  "inits_refused": str(stats["inits_refused"]), "last_rejection": stats["last_error"]}
        recent = list(self._recent)
        if recent:  # means over the last tracked frames: where the time goes
            processing, step, latency = (sum(column) / len(recent) for column in zip(*recent))
            values.update(mean_processing_ms=f"{processing:.3f}", mean_step_ms=f"{step:.3f}",
                          mean_node_overhead_ms=f"{processing - step:.3f}", mean_latency_ms=f"{latency:.3f}")
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(array)


def draw_result(image: np.ndarray, result) -> np.ndarray:
    """The frame with the box, score and state drawn (a copy)."""
    canvas = image.copy()
    if result is None:
        cv2.putText(canvas, "idle", (10, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (200, 200, 200), 2)
        return canvas
    x, y, w, h = (int(round(v)) for v in result.box)
    color = _STATE_COLORS.get(result.state, (200, 200, 200))
    cv2.rectangle(canvas, (x, y), (x + w, y + h), color, 2)
    cv2.putText(canvas, f"{result.state} {result.score:.2f}", (x, max(15, y - 6)),
                cv2.FONT_HERSHEY_SIMPLEX, 0.6, color, 2)
    return canvas


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
