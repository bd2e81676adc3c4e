"""Launch files and parameter files refer to things that exist.

The launch files are checked statically here (they parse; the executables and files they name
are installed), which holds where ``launch``/``launch_ros`` are absent (PyPI has neither); where
set-up built them, test_ros_cli.py and test_demo_launch.py run the launch files for real. The
parameter files are checked for real: each node named in a file is started with it, and its
declared parameters and their values are read back over its parameter services.
"""

import ast
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.ros

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.py"))
PARAM_FILES = sorted(p for p in (REPO / "config").glob("*.yaml"))
# node name in a parameters file -> the executable that runs that node
EXECUTABLE_OF = {"mixformerv2_tracker": "tracker_node", "video_publisher": "video_publisher",
                 "demo_recorder": "demo_recorder"}


def _installed_share() -> Path:
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory("mixformerv2_ros"))


def _string_keywords(tree, keyword):
    return [node.value.value for node in ast.walk(tree)
            if isinstance(node, ast.keyword) and node.arg == keyword and isinstance(node.value, ast.Constant)]


def _string_constants(tree):
    return {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def _launch_arguments(tree):
    return {call.args[0].value for call in ast.walk(tree)
            if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "DeclareLaunchArgument"}


def test_launch_files_exist_and_are_installed():
    assert {p.name for p in LAUNCH_FILES} >= {"tracker.launch.py", "demo.launch.py"}
    for path in LAUNCH_FILES:
        assert (_installed_share() / "launch" / path.name).is_file(), f"{path.name} is not installed"


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_parses_and_names_only_installed_things(path):
    from ros_harness import installed_executable

    tree = ast.parse(path.read_text(), filename=str(path))
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert "generate_launch_description" in functions
    executables = _string_keywords(tree, "executable")
    assert executables, "the launch file starts no node"
    for name in executables:
        assert installed_executable(name).is_file()
    assert "mixformerv2_ros" in _string_constants(tree)
    for name in _string_constants(tree):
        if name.endswith((".yaml", ".rviz", ".xml")):
            assert (REPO / "config" / name).is_file(), f"{path.name} names a missing config/{name}"
            assert (_installed_share() / "config" / name).is_file(), f"config/{name} is not installed"
        if name.endswith(".launch.py"):
            assert (REPO / "launch" / name).is_file(), f"{path.name} includes a missing launch/{name}"


def test_tracker_launch_declares_the_documented_arguments():
    tree = ast.parse((REPO / "launch" / "tracker.launch.py").read_text())
    assert _launch_arguments(tree) == {"image", "model", "device", "namespace", "params_file", "autostart",
                                       "shm_transport"}
    demo = ast.parse((REPO / "launch" / "demo.launch.py").read_text())
    assert {"source", "model", "shm_transport", "init_box"} <= _launch_arguments(demo)


def _sections(path):
    """(node name, parameters) for every node a parameters file configures."""
    content = yaml.safe_load(path.read_text())
    return [(key.rsplit("/", 1)[-1], body["ros__parameters"]) for key, body in content.items()]


def test_every_parameters_file_is_for_a_known_node_and_is_installed():
    assert {p.name for p in PARAM_FILES} >= {"tracker_cpu.yaml", "tracker_gpu.yaml"}
    for path in PARAM_FILES:
        assert (_installed_share() / "config" / path.name).is_file(), f"{path.name} is not installed"
        for node, _ in _sections(path):
            assert node in EXECUTABLE_OF, f"{path.name}: unknown node {node!r}"


def test_tracker_parameter_files_use_allowed_values():
    from mixformerv2_ros.ros.tracker_node import CHOICES

    for path in PARAM_FILES:
        for node, params in _sections(path):
            if node == "mixformerv2_tracker":
                for name, allowed in CHOICES.items():
                    if name in params:
                        assert params[name] in allowed, f"{path.name}: {name}={params[name]!r}"


def _read_parameters(ros_node, node_name, names, timeout=30.0):
    """Names the node declares, and the values of `names`, over its parameter services."""
    from rcl_interfaces.srv import GetParameters, ListParameters
    from rclpy.parameter import parameter_value_to_python

    listing = ros_node.node.create_client(ListParameters, f"/{node_name}/list_parameters")
    getter = ros_node.node.create_client(GetParameters, f"/{node_name}/get_parameters")
    declared = set(ros_node.call(listing, ListParameters.Request(), timeout, retry_after=2.0).result.names)
    values = ros_node.call(getter, GetParameters.Request(names=list(names)), timeout, retry_after=2.0).values
    return declared, {name: parameter_value_to_python(v) for name, v in zip(names, values)}


@pytest.mark.parametrize("path", PARAM_FILES, ids=lambda p: p.name)
def test_every_parameter_in_the_file_is_declared_by_its_node(path, start_ros_executable, ros_node, uav_dev_dir):
    # What must not run here: the tracker's model loading (autostart off) and the video (any clip).
    command_line = {"tracker_node": {"autostart": False},
                    "video_publisher": {"source": str(next(uav_dev_dir.iterdir()) / "img")}}
    started = []
    for node, params in _sections(path):
        executable = EXECUTABLE_OF[node]
        overrides = command_line.get(executable, {})
        ros_args = ["--params-file", str(path), "-r", f"__node:={node}"]
        for name, value in overrides.items():
            ros_args += ["-p", f"{name}:={str(value).lower() if isinstance(value, bool) else value}"]
        process = start_ros_executable(executable, ros_args=ros_args)
        started.append((node, params, overrides, process))
    for node, params, overrides, process in started:
        declared, values = _read_parameters(ros_node, node, sorted(params))
        assert process.alive(), process.log()
        undeclared = set(params) - declared
        assert not undeclared, f"{path.name}: {node} does not declare {sorted(undeclared)}"
        for name, value in params.items():
            expected = overrides.get(name, value)
            assert values[name] == expected, f"{path.name}: {node}.{name} is {values[name]!r}, the file says {value!r}"
