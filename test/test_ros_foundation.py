"""The installed tracker node runs in its own process, confined to localhost and our domain,
answers its init service and publishes TrackerStatus to another process."""

import pytest

pytestmark = pytest.mark.ros


def test_node_process_is_confined_and_answers(start_ros_executable, ros_node, ros_env, golden_dir):
    from mixformerv2_ros.msg import TrackerStatus
    from mixformerv2_ros.srv import InitTarget
    from sensor_msgs.msg import Image
    from ros_harness import ros_distro, wait_until

    node = start_ros_executable("tracker_node", params={
        "model_path": str(golden_dir / "mixformerv2_small_d1.pth.tar"), "reliability": "reliable",
        "precision": "fp32"})

    env = node.environment()  # what the OS gave the child, not our dict
    assert env["ROS_DOMAIN_ID"] == ros_env["ROS_DOMAIN_ID"]
    assert env["ROS_AUTOMATIC_DISCOVERY_RANGE"] == "LOCALHOST"
    if ros_distro() == "jazzy":
        assert env["ROS_LOCALHOST_ONLY"] == "1"
    import os

    assert os.environ["ROS_DOMAIN_ID"] == ros_env["ROS_DOMAIN_ID"]  # this (client) process too

    statuses = []
    ros_node.node.create_subscription(TrackerStatus, "/mixformerv2_tracker/status", statuses.append, 10)
    client = ros_node.node.create_client(InitTarget, "/mixformerv2_tracker/init")
    request = InitTarget.Request()
    request.box.center.position.x, request.box.center.position.y = 50.0, 50.0
    request.box.size_x = request.box.size_y = 20.0
    response = ros_node.call(client, request, timeout=60.0, retry_after=5.0)
    assert node.alive(), node.log()
    assert not response.success
    assert response.message == "no image received yet on /image (0 publishers known)", response.message

    publisher = ros_node.node.create_publisher(Image, "/image", 10)
    wait_until(lambda: publisher.get_subscription_count() > 0, 20.0, message="node did not subscribe")
    # before a frame: the refusal now names the publisher the node knows (frames not arriving)
    refusals = []
    wait_until(lambda: refusals.append(ros_node.call(client, request, timeout=30.0, retry_after=5.0).message)
               or "(1 publisher known)" in refusals[-1], 20.0, interval=0.2, message=f"refusals: {refusals}")
    frame = Image(height=48, width=64, encoding="bgr8", step=64 * 3, data=bytes(64 * 48 * 3))
    frame.header.frame_id = "cam"

    def publish_and_check():
        frame.header.stamp = ros_node.node.get_clock().now().to_msg()
        publisher.publish(frame)
        return statuses

    wait_until(publish_and_check, 20.0, interval=0.2, message=f"no TrackerStatus received\n{node.log()}")
    assert statuses[-1].state == TrackerStatus.STATE_IDLE
    assert statuses[-1].header.frame_id == "cam"


def test_ros_env_script_gives_a_shell_a_domain_of_its_own(ros_env):
    """``source scripts/ros_env.sh`` (the demo's, the benchmarks' and the test runner's set-up)
    takes a domain that no test run holds, and holds it while the shell lives; a domain the user
    set is kept."""
    import subprocess
    import sys
    from pathlib import Path

    from ros_harness import ros_distro

    repo = Path(__file__).resolve().parents[1]
    check = ("import fcntl, os, tempfile\n"
             "path = os.path.join(tempfile.gettempdir(), 'mixformerv2_ros_domains', os.environ['ROS_DOMAIN_ID'] + '.lock')\n"
             "handle = open(path, 'a')\n"
             "try:\n    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)\n    print('free')\n"
             "except OSError:\n    print('held')\n")
    script = (f"source scripts/ros_env.sh {ros_distro()} >/dev/null || exit 9\n"
              f"echo \"$ROS_DOMAIN_ID\"\n{sys.executable} -c \"$CHECK\"\n")

    def shell(**env):
        base = {k: v for k, v in ros_env.items() if k != "ROS_DOMAIN_ID"}
        done = subprocess.run(["bash", "-c", script], cwd=repo, env={**base, "CHECK": check, **env},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        domain, lock = done.stdout.split()
        return int(domain), lock

    domain, lock = shell()
    assert domain != int(ros_env["ROS_DOMAIN_ID"]), "the shell took this test run's domain"
    assert 1 <= domain <= 100 and lock == "held", (domain, lock)
    assert shell(ROS_DOMAIN_ID="42")[0] == 42
