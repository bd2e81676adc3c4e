"""Start the MixFormerV2 tracker node (a lifecycle node that configures and activates itself).

    ros2 launch mixformerv2_ros tracker.launch.py image:=/camera/image_raw \
        model:=/path/to/mixformerv2_small.pth.tar
    ros2 launch mixformerv2_ros tracker.launch.py params_file:=$(ros2 pkg prefix \
        mixformerv2_ros)/share/mixformerv2_ros/config/tracker_gpu.yaml model:=/path/to/mixformerv2_base.pth.tar

Then start tracking with a box (pixels, centre and size) on the newest frame:

    ros2 service call /mixformerv2_tracker/init mixformerv2_ros/srv/InitTarget \
        "{box: {center: {position: {x: 320, y: 180}}, size_x: 60, size_y: 40}}"

Empty launch arguments leave the params file's values in force.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode

PACKAGE = "mixformerv2_ros"


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
        OpaqueFunction(function=_tracker_node),
    ])
