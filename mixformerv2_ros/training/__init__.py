"""Training of the compact demo model shipped in ``models/`` (CPU, frozen pretrained stem).

Needs torch and ``requirements/training.txt``; nothing else in the package imports it.
"""
