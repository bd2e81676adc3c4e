"""The node's lifecycle and parameters, driven over the standard lifecycle and parameter services."""

import pytest

from node_test_utils import Camera, NodeOutputs, clip_frames, init_request
from ros_harness import wait_until

pytestmark = pytest.mark.ros

NODE = "/mixformerv2_tracker"


class Lifecycle:
    """Client side of a lifecycle node's get_state/change_state and parameter services."""

    def __init__(self, ros_node):
        from lifecycle_msgs.srv import ChangeState, GetState
        from rcl_interfaces.srv import SetParameters

        self.ros_node = ros_node
        n = ros_node.node
        self._get = n.create_client(GetState, f"{NODE}/get_state")
        self._change = n.create_client(ChangeState, f"{NODE}/change_state")
        self._set = n.create_client(SetParameters, f"{NODE}/set_parameters")

    def state(self) -> str:
        from lifecycle_msgs.srv import GetState

        return self.ros_node.call(self._get, GetState.Request(), timeout=30.0, retry_after=2.0).current_state.label

    def change(self, transition_id) -> bool:
        from lifecycle_msgs.srv import ChangeState

        request = ChangeState.Request()
        request.transition.id = transition_id
        return self.ros_node.call(self._change, request, timeout=60.0).success

    def set(self, **values):
        """SetParametersResult of each value, in order."""
        from rcl_interfaces.srv import SetParameters
        from rclpy.parameter import Parameter

        parameters = [Parameter(k, value=v).to_parameter_msg() for k, v in values.items()]
        request = SetParameters.Request(parameters=parameters)
        return self.ros_node.call(self._set, request, retry_after=2.0).results


def _model(golden_dir):
    return str(golden_dir / "mixformerv2_small_d1.pth.tar")


def test_configure_fails_with_a_clear_message_and_the_node_stays_up(start_ros_executable, ros_node, tmp_path):
    from mixformerv2_ros.model.config import demo_model_path

    missing = start_ros_executable("tracker_node", params={"model_path": str(tmp_path / "none.onnx")})
    wait_until(lambda: "configure failed" in missing.log(), 30.0, message=missing.log())
    assert "does not exist" in missing.log()
    assert Lifecycle(ros_node).state() == "unconfigured"
    assert missing.alive()
    missing.stop()

    # No model_path: the shipped demo model, said loudly.
    assert demo_model_path() is not None, "the demo model must ship in mixformerv2_ros/models/"
    empty = start_ros_executable("tracker_node", params={"model_path": ""})
    wait_until(lambda: Lifecycle(ros_node).state() == "active", 120.0, message=empty.log())
    assert "DEMO model" in empty.log() and "official MixFormerV2 weights" in empty.log()
    # precision auto (the default): the accuracy gate's choice and why, in the log and /diagnostics
    assert "precision auto -> " in empty.log()
    from diagnostic_msgs.msg import DiagnosticArray

    diagnostics = []
    ros_node.node.create_subscription(DiagnosticArray, "/diagnostics", diagnostics.append, 10)
    wait_until(lambda: diagnostics, 10.0, message="no /diagnostics")
    values = {kv.key: kv.value for kv in diagnostics[-1].status[0].values}
    chosen = empty.log().split("precision auto -> ", 1)[1].split(" ", 1)[0]
    assert values["precision"].startswith(chosen + " (") and "gate step" in values["precision"]
    # active without a camera: after NO_IMAGE_WARN_S /diagnostics warns, and knows no publisher
    from diagnostic_msgs.msg import DiagnosticStatus

    wait_until(lambda: diagnostics[-1].status[0].message.startswith("no image since the activation"), 10.0,
               message=f"diagnostics: {diagnostics[-1].status[0].message}")
    status = diagnostics[-1].status[0]
    values = {kv.key: kv.value for kv in status.values}
    assert status.level == DiagnosticStatus.WARN and values["image_publishers"] == "0", values
    assert float(values["seconds_without_image"]) > 2.0


def test_lifecycle_transitions_and_run_time_parameters(start_ros_executable, ros_node, golden_dir, uav_dev_dir):
    from lifecycle_msgs.msg import Transition

    from mixformerv2_ros.msg import TrackerStatus
    from mixformerv2_ros.srv import InitTarget

    node = start_ros_executable("tracker_node", params={
        "model_path": _model(golden_dir), "autostart": False, "reliability": "reliable", "threads": 1,
        "precision": "fp32"})
    lifecycle, camera, outputs = Lifecycle(ros_node), Camera(ros_node), NodeOutputs(ros_node)
    frames, boxes = clip_frames(uav_dev_dir, "boat1", 6)
    assert lifecycle.state() == "unconfigured"
    refused = lifecycle.set(reliability="sometimes")[0]
    assert not refused.successful and "best_effort" in refused.reason

    assert lifecycle.change(Transition.TRANSITION_CONFIGURE)
    assert lifecycle.state() == "inactive"
    assert camera.pub.get_subscription_count() == 0, "inactive: not subscribed"
    refused = lifecycle.set(model_path="/other.onnx")[0]
    assert not refused.successful and "read at configure" in refused.reason

    assert lifecycle.change(Transition.TRANSITION_ACTIVATE)
    assert lifecycle.state() == "active"
    camera.wait_for_node()

    def send(image):
        header = camera.publish_bgr(image)
        wait_until(lambda: outputs.status_for(header) is not None, 20.0, message=node.log())
        return header

    first = camera.send_first(outputs, frames[0])
    init = ros_node.node.create_client(InitTarget, f"{NODE}/init")
    assert ros_node.call(init, init_request(boxes[0], first), timeout=30.0, retry_after=5.0).success
    header = send(frames[1])
    assert outputs.detections_for(header)[0].results[0].hypothesis.class_id == "target"

    # Run-time changes apply from the next frame; invalid ones are refused with the reason.
    assert all(r.successful for r in lifecycle.set(class_id="boat"))
    header = send(frames[2])
    assert outputs.detections_for(header)[0].results[0].hypothesis.class_id == "boat"
    refused = lifecycle.set(lost_threshold=0.9)[0]  # above recover_threshold (0.5)
    assert not refused.successful and "recover_threshold" in refused.reason
    assert not lifecycle.set(lost_threshold=1.5)[0].successful  # outside the declared range
    assert all(r.successful for r in lifecycle.set(recover_threshold=1.0, lost_threshold=1.0, lost_frames=1))
    header = send(frames[3])  # every score is below 1.0: lost after one frame
    status = outputs.status_for(header)
    assert status.state == TrackerStatus.STATE_LOST and status.frames_lost == 1
    assert len(outputs.detections_for(header)) == 1, "~/detection goes on while lost (low score)"
    with outputs.lock:
        array = next(a for a in outputs.arrays if a.header.stamp == header.stamp)
    assert not array.detections, "~/detections is empty while lost"

    assert lifecycle.change(Transition.TRANSITION_DEACTIVATE)
    assert lifecycle.state() == "inactive"
    wait_until(lambda: camera.pub.get_subscription_count() == 0, 10.0, message="still subscribed")
    assert lifecycle.change(Transition.TRANSITION_CLEANUP)
    assert lifecycle.state() == "unconfigured"
    assert not init.wait_for_service(timeout_sec=1.0), "services go with cleanup"
    assert lifecycle.change(Transition.TRANSITION_CONFIGURE), "configurable again after cleanup"
    assert node.alive(), node.log()


def test_device_cuda_without_cuda_fails_and_auto_falls_back(start_ros_executable, ros_node, golden_dir):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    cuda = start_ros_executable("tracker_node", params={"model_path": _model(golden_dir), "backend": "torch",
                                                         "device": "cuda"})
    wait_until(lambda: "configure failed" in cuda.log(), 60.0, message=cuda.log())
    assert "CUDA is not available" in cuda.log()
    assert Lifecycle(ros_node).state() == "unconfigured"
    cuda.stop()

    auto = start_ros_executable("tracker_node", params={"model_path": _model(golden_dir), "backend": "torch",
                                                         "device": "auto"})
    wait_until(lambda: "active: listening" in auto.log(), 60.0, message=auto.log())
    assert "running on the CPU" in auto.log()
    assert Lifecycle(ros_node).state() == "active"
