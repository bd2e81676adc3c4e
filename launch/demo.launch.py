"""A clip through the tracker: video_publisher -> /camera/image -> tracker_node.

    ros2 launch mixformerv2_ros demo.launch.py source:=/path/to/clip.mp4 model:=/path/to/model.onnx

``source`` is a video file or a folder of images (sorted by name). Start tracking with a call to
``/mixformerv2_tracker/init`` (see tracker.launch.py) and watch ``/mixformerv2_tracker/debug_image``
in rviz (config/tracker.rviz).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

PACKAGE = "mixformerv2_ros"
IMAGE_TOPIC = "/camera/image"


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument("source", description="video file or image folder to publish"),
        DeclareLaunchArgument("rate", default_value="0.0", description="frames per second (0: the source's)"),
        DeclareLaunchArgument("loop", default_value="true", description="restart the clip at its end"),
        DeclareLaunchArgument("model", default_value="", description="model for the tracker (see tracker.launch.py)"),
        DeclareLaunchArgument("device", default_value="", description="auto, cpu or cuda"),
        Node(
            package=PACKAGE,
            executable="video_publisher",
            name="video_publisher",
            parameters=[{
                "source": LaunchConfiguration("source"),
                "rate": ParameterValue(LaunchConfiguration("rate"), value_type=float),
                "loop": ParameterValue(LaunchConfiguration("loop"), value_type=bool),
                "frame_id": "camera",
            }],
            remappings=[("image", IMAGE_TOPIC)],
            output="screen",
        ),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, "launch", "tracker.launch.py")),
            launch_arguments={
                "image": IMAGE_TOPIC,
                "model": LaunchConfiguration("model"),
                "device": LaunchConfiguration("device"),
                "params_file": os.path.join(share, "config", "tracker_cpu.yaml"),
            }.items(),
        ),
    ])
