"""ROS-free tracker core: crops, tracker state, online template update, lost-target logic.

Importing it loads neither rclpy nor torch; torch is imported only when a PyTorch backend or a
``.pth.tar`` checkpoint is used.
"""

from mixformerv2_ros.tracker.errors import InvalidInputError
from mixformerv2_ros.tracker.settings import TrackerSettings
from mixformerv2_ros.tracker.tracker import TrackResult, Tracker

__all__ = ["InvalidInputError", "TrackResult", "Tracker", "TrackerSettings"]
