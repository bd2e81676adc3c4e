"""MixFormerV2 single-object tracker for ROS 2.

The package is layered so the core works without ROS:
``model`` (PyTorch network, checkpoint import, ONNX export) -> ``tracker`` (crops,
inference backends, state) -> ``ros`` (the rclpy node). Importing this package imports
neither rclpy nor torch.
"""

__version__ = "0.1.0"
