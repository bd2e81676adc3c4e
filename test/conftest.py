"""Shared fixtures: paths to ../shared, and the ROS 2 harness (see ros_harness.py).

ROS test modules declare ``pytestmark = pytest.mark.ros``. This process confines ROS 2
discovery to localhost and to a reserved domain before anything can call rclpy.init.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import ros_harness  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"

# Started as a background job, this process would pass an ignored SIGINT on to every command
# it starts; the tests signal those commands as a terminal would.
ros_harness.let_children_take_sigint()

if os.environ.get("MIXFORMERV2_ROS_DISTRO"):
    # ROS test run: the test process and every child stay on localhost, in our own domain.
    ros_harness.confine_this_process()



def pytest_collection_modifyitems(config, items):
    if os.environ.get("MIXFORMERV2_ROS_DISTRO"):
        return
    skip = pytest.mark.skip(reason="ROS 2 environment not active (source scripts/ros_env.sh)")
    for item in items:
        if "ros" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.fail(f"{SHARED_DIR} is missing: the tests read golden data and clips from ../shared")
    return SHARED_DIR


@pytest.fixture(scope="session")
def golden_dir(shared_dir) -> Path:
    return shared_dir / "golden"


@pytest.fixture(scope="session")
def uav_dev_dir(shared_dir) -> Path:
    return shared_dir / "data" / "uav_dev"


@pytest.fixture(scope="session")
def ros_env() -> dict[str, str]:
    """Full environment for ROS child processes: ours plus the localhost/domain settings."""
    env = dict(os.environ)
    env.update(ros_harness.localhost_ros_env(ros_harness.reserve_domain_id()))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def start_ros_executable(ros_env, tmp_path):
    """Start installed executables; every one is stopped (process group killed) at teardown."""
    started: list[ros_harness.RosProcess] = []

    def start(name, *args, params=None, ros_args=(), env=None):
        proc = ros_harness.RosProcess(name, [str(a) for a in args], params, list(ros_args),
                                      dict(env or ros_env), tmp_path)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def ros_node():
    """An rclpy node in the test process (own context), spun in a background thread."""
    node = ros_harness.SpinningNode(f"test_client_{os.getpid()}")
    yield node
    node.close()


wait_until = ros_harness.wait_until
