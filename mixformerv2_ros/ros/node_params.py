"""The tracker node's parameters as one table of named fields.

``NodeParams`` is a frozen dataclass: each field is one ROS parameter, with its default, its
description, its range or allowed values, and whether it may change while the node is
configured. The node declares every field, keeps the values in force in one ``NodeParams``
instance and swaps it whole on a change, so a reader (the worker thread) always sees one
consistent set.

Changes follow ROS 2's validate-then-apply split (demo_nodes_py's set_parameters_callback): the
*on-set* callback only checks (``NodeParams.check``: read-at-configure parameters while
configured, allowed values, the tracker settings as a whole) and refuses with the reason; the
*post-set* callback applies the accepted values (``NodeParams.updated``). So a refused change
leaves nothing half-applied.

No rclpy here (only rcl_interfaces' message types for the descriptors), so the checks are
testable without a node.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from mixformerv2_ros.tracker.settings import TrackerSettings

#: The tracker's own defaults: the node's tracking parameters start from them, so each default is
#: set in one place (``TrackerSettings``) and the node cannot drift from the library.
_TRACKER_DEFAULTS = TrackerSettings()


def _param(default, description: str, *, changeable: bool, choices: tuple = (), int_range=None,
           float_range=None):
    return field(default=default, metadata={"description": description, "changeable": changeable,
                                            "choices": choices, "int_range": int_range,
                                            "float_range": float_range})


@dataclass(frozen=True)
class NodeParams:
    """Every parameter of the tracker node; ``changeable=False`` ones are read at configure."""

    model_path: str = _param("", "Official MixFormerV2 checkpoint (.pth.tar) or an exported .onnx; empty: the "
                                 "demo model shipped with the package", changeable=False)
    variant: str = _param("", "Expected variant of a .pth.tar ('small' or 'base'); empty: inferred",
                          changeable=False, choices=("", "small", "base"))
    backend: str = _param("onnxruntime", "Inference backend: onnxruntime (CPU) or torch (CPU or CUDA)",
                          changeable=False, choices=("onnxruntime", "torch"))
    device: str = _param("auto", "cpu, cuda or auto (cuda when available, else cpu with a warning)",
                         changeable=False, choices=("auto", "cpu", "cuda") + tuple(f"cuda:{i}" for i in range(16)))
    precision: str = _param("auto", "auto: the fastest path that passes the accuracy gate on the shipped gate "
                                    "clip, else fp32 (onnxruntime; fp16 on CUDA with torch); fp32; fp16 (torch on "
                                    "CUDA); bf16 (torch); int8 / int8-static (onnxruntime, dynamic / calibrated "
                                    "quantisation) and openvino-fp32 / -bf16 / -int8 (OpenVINO on the same graphs): "
                                    "named paths skip the gate",
                            changeable=False, choices=("auto", "fp32", "fp16", "bf16", "int8", "int8-static",
                                                       "openvino-fp32", "openvino-bf16", "openvino-int8"))
    threads: int = _param(0, "CPU threads for inference; 0: all usable cores", changeable=False,
                          int_range=(0, 256))
    search_factor: float = _param(0.0, "Search region side / sqrt(box area); 0: the model's value (4.5)",
                                  changeable=True, float_range=(0.0, 20.0))
    update_interval: int = _param(_TRACKER_DEFAULTS.update_interval, "Frames between online-template updates",
                                  changeable=True, int_range=(1, 100000))
    online_score_threshold: float = _param(_TRACKER_DEFAULTS.online_score_threshold,
                                           "Score a frame needs to become the online template",
                                           changeable=True, float_range=(0.0, 1.0))
    lost_threshold: float = _param(_TRACKER_DEFAULTS.lost_threshold,
                                   "Score below which a frame counts towards 'lost' (0 disables the lost state)",
                                   changeable=True, float_range=(0.0, 1.0))
    lost_frames: int = _param(_TRACKER_DEFAULTS.lost_frames,
                              "Consecutive low-score frames that turn the state to lost",
                              changeable=True, int_range=(1, 100000))
    recover_threshold: float = _param(_TRACKER_DEFAULTS.recover_threshold,
                                      "Score a frame needs to count towards recovery (>= lost_threshold)",
                                      changeable=True, float_range=(0.0, 1.0))
    recover_frames: int = _param(_TRACKER_DEFAULTS.recover_frames,
                                 "Consecutive high-score frames that bring the state back to tracking",
                                 changeable=True, int_range=(1, 100000))
    lost_search_factor: float = _param(0.0, "Search factor while lost; 0: 4/3 of search_factor", changeable=True,
                                       float_range=(0.0, 40.0))
    reacquire_windows: int = _param(_TRACKER_DEFAULTS.reacquire_windows,
                                    "While lost: windows of a tiling of the whole frame searched per frame "
                                    "besides the local region (one batch; the extra cost per lost frame); "
                                    "0: off", changeable=True, int_range=(0, 64))
    size_calibration: float = _param(_TRACKER_DEFAULTS.size_calibration,
                                     "Share (0..1) of the network's box-size error on the init frame taken out "
                                     "of every reported box; 0: off (with lost_threshold and size_smoothing 0 and "
                                     "min_box_side 10: the official tracker)", changeable=True, float_range=(0.0, 1.0))
    size_smoothing: float = _param(_TRACKER_DEFAULTS.size_smoothing,
                                   "Share (0 to 0.99) of its size the tracked box keeps from frame to frame; each "
                                   "frame moves it (1 - share) * score of the way to the network's; 0: off",
                                   changeable=True, float_range=(0.0, 0.99))
    min_box_side: float = _param(_TRACKER_DEFAULTS.min_box_side,
                                 "Smallest width and height (px) of the tracked and reported box; the search "
                                 "crop is still cut around a box of at least 10 px; 10: the official clip",
                                 changeable=True, float_range=(0.1, 100.0))
    class_id: str = _param("target", "class_id written into results[0].hypothesis", changeable=True)
    max_rate: float = _param(0.0, "Most frames processed per second; 0: as fast as possible", changeable=True,
                             float_range=(0.0, 1000.0))
    reliability: str = _param("best_effort", "QoS reliability of the image subscription: best_effort or reliable",
                              changeable=False, choices=("best_effort", "reliable"))
    use_compressed: bool = _param(False, "Subscribe to image/compressed (sensor_msgs/CompressedImage) instead of "
                                         "image", changeable=False)
    buffer_length: int = _param(30, "Recent frames kept (by stamp) to serve init requests", changeable=False,
                                int_range=(1, 1000))
    publish_debug_image: bool = _param(True, "Publish ~/debug_image (drawn only while someone subscribes)",
                                       changeable=True)
    camera_info_topic: str = _param("camera_info", "sensor_msgs/CameraInfo topic for ~/bearing and the status "
                                                   "angles; a relative name is taken in the image topic's "
                                                   "namespace (image_transport's convention); empty: no bearing",
                                    changeable=False)
    motion_measurement_noise: float = _param(0.1, "Motion filter: jitter of the tracked box, as a fraction of "
                                                  "its size sqrt(w*h); larger smooths ~/predicted more",
                                             changeable=True, float_range=(0.001, 10.0))
    motion_acceleration_noise: float = _param(1.0, "Motion filter: how fast the target's velocity may change, "
                                                   "in box sizes per second squared; larger follows manoeuvres "
                                                   "faster", changeable=True, float_range=(0.001, 1000.0))
    autostart: bool = _param(True, "Configure and activate at start-up", changeable=False)

    # ---- the table ------------------------------------------------------------------------
    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def spec(cls, name: str) -> dict:
        """description, changeable, choices, int_range, float_range of one parameter."""
        return dict(cls.__dataclass_fields__[name].metadata)

    @classmethod
    def default(cls, name: str):
        return cls.__dataclass_fields__[name].default

    @classmethod
    def descriptor(cls, name: str):
        """The rcl_interfaces ParameterDescriptor the node declares ``name`` with."""
        from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

        spec = cls.spec(name)
        extra = {}
        if spec["int_range"]:
            low, high = spec["int_range"]
            extra["integer_range"] = [IntegerRange(from_value=int(low), to_value=int(high), step=1)]
        if spec["float_range"]:
            low, high = spec["float_range"]
            extra["floating_point_range"] = [FloatingPointRange(from_value=float(low), to_value=float(high),
                                                                step=0.0)]
        if spec["choices"]:
            extra["additional_constraints"] = "one of: " + ", ".join(repr(c) for c in spec["choices"])
        note = "" if spec["changeable"] else " (read at configure)"
        return ParameterDescriptor(description=spec["description"] + note, **extra)

    # ---- validate on set, apply after -----------------------------------------------------
    def check(self, changes: dict, configured: bool, model_factors: tuple[float, float] | None = None) -> str | None:
        """Why ``changes`` (name -> value) must be refused, or None to accept them.

        Names that are not node parameters (use_sim_time, ...) are not ours to check.
        ``configured``: the model is loaded, so read-at-configure parameters are frozen;
        ``model_factors``: the loaded model's (search, template) factors, to check factor settings
        that are left at 0 ("the model's value") against the model.
        """
        ours = {name: value for name, value in changes.items() if name in self.__dataclass_fields__}
        for name, value in ours.items():
            spec = self.spec(name)
            if not spec["changeable"] and configured:
                return f"{name} is read at configure: deactivate and clean up the node, then set it"
            if spec["choices"] and value not in spec["choices"]:
                return f"{name} must be one of {', '.join(repr(c) for c in spec['choices'])}, got {value!r}"
        if any(name in TRACKER_SETTINGS for name in ours):
            try:  # the whole set is checked (e.g. lost <= recover threshold), configured or not
                settings = TrackerSettings(**tracker_overrides({**self.tracker_values(), **ours}))
                if model_factors is not None:
                    settings.resolved(*model_factors)
            except ValueError as exc:
                return str(exc)
        return None

    def updated(self, changes: dict) -> NodeParams:
        """A copy with the (checked) changes applied; names that are not ours are left out."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if k in self.__dataclass_fields__})

    def tracker_values(self) -> dict:
        """The tracker settings as their parameters hold them (0 factors included)."""
        return {name: getattr(self, name) for name in TRACKER_SETTINGS}

    def invalid_choice(self) -> str | None:
        """The first parameter holding a value outside its choices (set before the node checked
        them: from a parameters file or the command line), as a message; None when all are fine."""
        for name in self.names():
            choices = self.spec(name)["choices"]
            if choices and getattr(self, name) not in choices:
                return f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {getattr(self, name)!r}"
        return None


#: Parameters that are TrackerSettings fields (passed on to the tracker, changeable at run time).
TRACKER_SETTINGS = ("search_factor", "update_interval", "online_score_threshold", "lost_threshold",
                    "lost_frames", "recover_threshold", "recover_frames", "lost_search_factor",
                    "reacquire_windows", "size_calibration", "size_smoothing", "min_box_side")
#: Parameters of the motion filter (changeable at run time).
MOTION_SETTINGS = {"motion_measurement_noise": "measurement_noise",
                   "motion_acceleration_noise": "acceleration_noise"}
#: Parameters with a fixed set of values (checked on every set, so a typo fails at once).
CHOICES = {name: NodeParams.spec(name)["choices"] for name in NodeParams.names() if NodeParams.spec(name)["choices"]}


def tracker_overrides(values: dict) -> dict:
    """Parameter values as TrackerSettings fields (0 factors mean 'the model's default')."""
    out = {name: value for name, value in values.items() if name in TRACKER_SETTINGS}
    for name in ("search_factor", "lost_search_factor"):
        if name in out and not out[name]:
            out[name] = None
    return out
