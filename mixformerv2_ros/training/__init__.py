"""Training of the compact demo model shipped in ``mixformerv2_ros/models/``.

CPU training with a frozen pretrained stem. Needs torch and ``requirements/training.txt``;
nothing else in the package imports it.
"""
