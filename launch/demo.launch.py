"""A clip through the tracker: video_publisher -> /camera/image -> tracker_node (-> demo_recorder).

    ros2 launch mixformerv2_ros demo.launch.py source:=/path/to/clip.mp4 model:=/path/to/model.onnx

``source`` is a video file or a folder of images (sorted by name). Start tracking with a call to
``/mixformerv2_tracker/init`` (see tracker.launch.py) and watch ``/mixformerv2_tracker/debug_image``
in rviz (config/tracker.rviz).

With ``init_box:="[x, y, w, h]"`` (pixels of the first frame published: ``start_frame`` skips
frames) the demo runs by itself, as ``make demo`` does: demo_recorder starts tracking on the
first frame with that box, records ``~/debug_image`` to ``output`` and writes a summary
(``summary_json``); with ``loop:=false`` the launch ends when the clip has been tracked. For
example (Big Buck Bunny, as config/demo.yaml):

    ros2 launch mixformerv2_ros demo.launch.py source:=bigbuckbunny.mp4 loop:=false rate:=12.5 \
        start_frame:=20 init_box:="[170.0, 180.0, 400.0, 400.0]" output:=demo.mp4

``shm_transport`` (default true) gives every process the package's shared-memory Fast DDS profile
(see tracker.launch.py): 1280x720 frames would otherwise mostly be lost between processes.
"""

import os

import yaml
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import (DeclareLaunchArgument, EmitEvent, IncludeLaunchDescription, OpaqueFunction,
                            RegisterEventHandler)
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = "mixformerv2_ros"
IMAGE_TOPIC = "/camera/image"
TRACKER = "/mixformerv2_tracker"


def _shm_profile_env(enabled: str) -> dict:
    """As tracker.launch.py: FASTDDS_DEFAULT_PROFILES_FILE, plus the old FASTRTPS_ name that Fast
    DDS 2.x (Jazzy, Humble) reads, except on distros with Fast DDS 3, which warn about it."""
    if not _truthy(enabled):
        return {}
    profile = os.path.join(get_package_share_directory(PACKAGE), "config", "fastdds_shm.xml")
    env = {"FASTDDS_DEFAULT_PROFILES_FILE": profile}
    if os.environ.get("ROS_DISTRO", "") not in ("kilted", "lyrical", "rolling"):
        env["FASTRTPS_DEFAULT_PROFILES_FILE"] = profile
    return env


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("true", "1", "yes", "on")


def _publisher_and_recorder(context):
    def arg(name):
        return LaunchConfiguration(name).perform(context)

    env = _shm_profile_env(arg("shm_transport"))
    init_box = arg("init_box").strip()
    box = None
    if init_box:
        box = yaml.safe_load(init_box)
        if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)):
            raise ValueError(f"init_box must be [x, y, w, h] in pixels, got {init_box!r}")
    actions = [Node(
        package=PACKAGE,
        executable="video_publisher",
        name="video_publisher",
        parameters=[{
            "source": arg("source"),
            "rate": float(arg("rate")),
            "start_frame": int(arg("start_frame")),
            "loop": _truthy(arg("loop")),
            "frame_id": "camera",
            # With the recorder: wait for it too, and keep frames sent while discovery settles,
            # so that it gets the first frame (as config/demo.yaml).
            "wait_for_subscribers": 2 if box else 1,
            "depth": 10 if box else 1,
        }],
        remappings=[("image", IMAGE_TOPIC)],
        additional_env=env,
        output="screen",
    )]
    if box:
        recorder = Node(
            package=PACKAGE,
            executable="demo_recorder",
            name="demo_recorder",
            parameters=[{
                "tracker": TRACKER,
                "image_topic": IMAGE_TOPIC,
                "init_box": [float(v) for v in box],
                "output": arg("output"),
                "summary_json": arg("summary_json"),
            }],
            additional_env=env,
            output="screen",
        )
        # The recorder ends by itself when the stream has been silent for a while: the demo is
        # over, so is the launch. Not when it ended because the launch is shutting down already
        # (Ctrl-C): a second shutdown request makes launch_ros fail ("Cannot shutdown a ROS
        # adapter that is not running").
        def demo_over(event, context):
            if context.is_shutdown:
                return None
            return [EmitEvent(event=Shutdown(reason=f"demo_recorder finished (exit {event.returncode})"))]

        actions += [recorder, RegisterEventHandler(OnProcessExit(target_action=recorder, on_exit=demo_over))]
    return actions


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    return LaunchDescription([
        DeclareLaunchArgument("source", description="video file or image folder to publish"),
        DeclareLaunchArgument("rate", default_value="0.0", description="frames per second (0: the source's)"),
        DeclareLaunchArgument("loop", default_value="true", description="restart the clip at its end"),
        DeclareLaunchArgument("start_frame", default_value="0",
                              description="frames of the clip to skip before publishing (and after each loop)"),
        DeclareLaunchArgument("model", default_value="", description="model for the tracker (see tracker.launch.py)"),
        DeclareLaunchArgument("device", default_value="", description="auto, cpu or cuda"),
        DeclareLaunchArgument("shm_transport", default_value="true",
                              description="Fast DDS shared-memory profile (config/fastdds_shm.xml) for every process"),
        DeclareLaunchArgument("init_box", default_value="",
                              description="[x, y, w, h] on the first frame: demo_recorder starts tracking and "
                                          "records (empty: no recorder; start tracking yourself)"),
        DeclareLaunchArgument("output", default_value="demo.mp4", description="video demo_recorder writes"),
        DeclareLaunchArgument("summary_json", default_value="", description="summary demo_recorder writes"),
        OpaqueFunction(function=_publisher_and_recorder),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(os.path.join(share, "launch", "tracker.launch.py")),
            launch_arguments={
                "image": IMAGE_TOPIC,
                "model": LaunchConfiguration("model"),
                "device": LaunchConfiguration("device"),
                "params_file": os.path.join(share, "config", "tracker_cpu.yaml"),
                "shm_transport": LaunchConfiguration("shm_transport"),
            }.items(),
        ),
    ])
