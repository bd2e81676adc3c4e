"""Start the MixFormerV2 tracker node (a lifecycle node that configures and activates itself).

    ros2 launch mixformerv2_ros tracker.launch.py image:=/camera/image_raw \
        model:=/path/to/mixformerv2_small.pth.tar
    ros2 launch mixformerv2_ros tracker.launch.py params_file:=$(ros2 pkg prefix \
        mixformerv2_ros)/share/mixformerv2_ros/config/tracker_gpu.yaml model:=/path/to/mixformerv2_base.pth.tar

Then start tracking with a box (pixels, centre and size) on the newest frame:

    ros2 service call /mixformerv2_tracker/init mixformerv2_ros/srv/InitTarget \
        "{box: {center: {position: {x: 320, y: 180}}, size_x: 60, size_y: 40}}"

Empty launch arguments leave the params file's values in force.

``shm_transport`` (default true) starts the node with the package's Fast DDS profile
(config/fastdds_shm.xml: shared memory only, 64 MB segment). Camera frames from another process
on this computer then arrive whole; with Fast DDS's defaults (512 KB segment, UDP beyond it) most
camera-sized frames are lost. The camera driver must use the same profile (see the README,
"Camera on the same computer"); shm_transport:=false leaves the transport to your own
FASTDDS_DEFAULT_PROFILES_FILE / FASTRTPS_DEFAULT_PROFILES_FILE.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode

PACKAGE = "mixformerv2_ros"


# Distros whose Fast DDS (3.x) reads FASTDDS_DEFAULT_PROFILES_FILE and warns that the old
# FASTRTPS_ name is deprecated; older ones (Fast DDS 2.x: Jazzy, Humble) read only the old name.
FASTDDS3_DISTROS = ("kilted", "lyrical", "rolling")


def shm_profile_env(enabled: str) -> dict:
    """The environment that applies the package's shared-memory profile to a started process."""
    if enabled.strip().lower() not in ("true", "1", "yes", "on"):
        return {}
    profile = os.path.join(get_package_share_directory(PACKAGE), "config", "fastdds_shm.xml")
    env = {"FASTDDS_DEFAULT_PROFILES_FILE": profile}
    if os.environ.get("ROS_DISTRO", "") not in FASTDDS3_DISTROS:  # unknown: both names
        env["FASTRTPS_DEFAULT_PROFILES_FILE"] = profile
    return env


def _tracker_node(context):
    def arg(name):
        return LaunchConfiguration(name).perform(context)

    overrides = {"autostart": arg("autostart").lower() in ("true", "1", "yes")}
    if arg("model"):
        overrides["model_path"] = arg("model")
    if arg("device"):
        overrides["device"] = arg("device")
    return [LifecycleNode(
        package=PACKAGE,
        executable="tracker_node",
        name="mixformerv2_tracker",
        namespace=arg("namespace"),
        parameters=[arg("params_file"), overrides],
        remappings=[("image", arg("image"))],  # image/compressed follows: <image>/compressed
        additional_env=shm_profile_env(arg("shm_transport")),
        output="screen",
    )]


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory(PACKAGE), "config", "tracker_cpu.yaml")
    return LaunchDescription([
        DeclareLaunchArgument("image", default_value="/camera/image_raw",
                              description="camera topic (sensor_msgs/Image); <image>/compressed with "
                                          "use_compressed"),
        DeclareLaunchArgument("model", default_value="",
                              description="official .pth.tar or exported .onnx (empty: params file's model_path)"),
        DeclareLaunchArgument("device", default_value="",
                              description="auto, cpu or cuda (empty: params file's device)"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node"),
        DeclareLaunchArgument("params_file", default_value=default_params,
                              description="ROS parameters file (config/tracker_cpu.yaml or tracker_gpu.yaml)"),
        DeclareLaunchArgument("autostart", default_value="true",
                              description="configure and activate at start (false: drive the lifecycle yourself)"),
        DeclareLaunchArgument("shm_transport", default_value="true",
                              description="Fast DDS shared-memory profile (config/fastdds_shm.xml) for the node, "
                                          "so camera-sized frames from this computer arrive; give the camera "
                                          "driver the same profile. false: your own Fast DDS settings"),
        OpaqueFunction(function=_tracker_node),
    ])
