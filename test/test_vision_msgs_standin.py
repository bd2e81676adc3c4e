"""The vision_msgs interfaces we build against match the real vision_msgs 4.1.1 field for field.

Introspects the generated Python classes (what actually goes on the wire), not the .msg files,
against ../shared/docs/vision_msgs-4x.json, the field lists read from the real package.
"""

import importlib
import json

import pytest

pytestmark = pytest.mark.ros

_PRIMITIVES = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16",
               "int32", "uint32", "int64", "uint64", "string"}
# rosidl reports primitives by their IDL names.
_IDL_NAMES = {"float64": "double", "float32": "float", "byte": "octet", "char": "uint8"}


def _rosidl_type(declared: str) -> str:
    """The spelling rosidl's Python introspection uses for a type declared in vision_msgs."""
    base, is_array = (declared[:-2], True) if declared.endswith("[]") else (declared, False)
    if base in _PRIMITIVES:
        base = _IDL_NAMES.get(base, base)
    elif "/" not in base:
        base = f"vision_msgs/{base}"  # a type of the same package, written without it
    return f"sequence<{base}>" if is_array else base


def _reference():
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "shared" / "docs" / "vision_msgs-4x.json"
    return json.loads(path.read_text())["messages"]


@pytest.mark.parametrize("name", sorted(_reference()))
def test_message_fields_match_vision_msgs_4_1_1(name):
    msg_class = getattr(importlib.import_module("vision_msgs.msg"), name)
    generated = list(msg_class.get_fields_and_field_types().items())
    expected = [(field, _rosidl_type(declared)) for declared, field in _reference()[name]]
    assert generated == expected


def test_detection2d_nested_layout_is_humble_plus():
    """Humble+ layout: BoundingBox2D.center is a vision_msgs/Pose2D with position + theta."""
    from vision_msgs.msg import Detection2D, ObjectHypothesisWithPose

    det = Detection2D()
    det.bbox.center.position.x = 12.5
    det.bbox.center.theta = 0.0
    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.class_id = "target"
    hyp.hypothesis.score = 0.75
    det.results.append(hyp)
    assert det.bbox.center.position.x == 12.5
    assert det.results[0].hypothesis.score == 0.75
