"""The node's parameter table: what is declared, and what a set is refused for (no node, no DDS)."""

import pytest

pytestmark = pytest.mark.ros  # rcl_interfaces' message types come with the ROS environment


def test_table_declares_ranges_choices_and_when_read():
    from mixformerv2_ros.ros.node_params import CHOICES, NodeParams

    names = NodeParams.names()
    assert len(names) == len(set(names))
    for name in ("model_path", "lost_threshold", "camera_info_topic", "motion_measurement_noise", "autostart"):
        assert name in names
    assert CHOICES["backend"] == ("onnxruntime", "torch") and "int8" in CHOICES["precision"]
    assert "(read at configure)" in NodeParams.descriptor("model_path").description
    assert "(read at configure)" not in NodeParams.descriptor("class_id").description
    lost = NodeParams.descriptor("lost_threshold").floating_point_range[0]
    assert (lost.from_value, lost.to_value) == (0.0, 1.0)
    assert NodeParams.descriptor("lost_frames").integer_range[0].from_value == 1
    assert "'torch'" in NodeParams.descriptor("backend").additional_constraints
    assert NodeParams().camera_info_topic == "camera_info"


def test_check_refuses_with_the_reason_and_accepts_the_rest():
    from mixformerv2_ros.ros.node_params import NodeParams

    params = NodeParams()
    assert params.check({"class_id": "boat", "use_sim_time": True}, configured=True) is None
    assert "read at configure" in params.check({"model_path": "/x.onnx"}, configured=True)
    assert params.check({"model_path": "/x.onnx"}, configured=False) is None
    assert "best_effort" in params.check({"reliability": "sometimes"}, configured=False)
    # the tracker settings are checked as a whole: lost above recover is no hysteresis
    assert "recover_threshold" in params.check({"lost_threshold": 0.9}, configured=True)
    assert params.check({"lost_threshold": 0.9, "recover_threshold": 0.95}, configured=True) is None
    # a lost search factor below the model's search factor (0 = the model's 4.5) is refused
    # once the model is known
    assert params.check({"lost_search_factor": 3.0}, configured=False) is None
    assert "lost_search_factor" in params.check({"lost_search_factor": 3.0}, True, model_factors=(4.5, 2.0))


def test_updated_swaps_in_a_new_consistent_set():
    from mixformerv2_ros.ros.node_params import NodeParams, tracker_overrides

    params = NodeParams()
    changed = params.updated({"class_id": "boat", "lost_frames": 9, "use_sim_time": True})
    assert (changed.class_id, changed.lost_frames) == ("boat", 9)
    assert params.class_id == "target", "the set in force is never changed in place"
    assert tracker_overrides(changed.tracker_values())["search_factor"] is None, "0: the model's value"
    assert NodeParams(backend="tensorflow").invalid_choice().startswith("backend must be one of")
    assert NodeParams().invalid_choice() is None
