"""Whole-frame re-acquisition: look for a lost target outside the local search region.

While the target is lost, the local search stays on the last confident box (``lost_target``), so
a target that left that region (fast motion, a camera pan, a long occlusion) is never found
again. This module tiles the whole frame with square windows of the lost-search size (same
side as the local search window while lost, so the target appears at the scale the network
expects), with ``OVERLAP`` between neighbours so a target on a border is whole in some window.
Each lost frame runs the next ``count`` windows of the tiling through the network in one batch
(round robin), so the cost per frame is bounded by ``count`` network steps whatever the frame
size, and a full sweep of the frame takes ``ceil(tiles / count)`` frames.

The best window's prediction becomes a re-acquisition candidate only if it beats the local
search's score and reaches ``recover_threshold``; from there the ordinary recovery hysteresis
(``recover_frames`` consecutive confident frames) decides, so one lucky window on a distractor
does not end the lost state.
"""

from __future__ import annotations

import math

from mixformerv2_ros.tracker.crop import CropWindow, crop_window

#: Fraction of a window's side shared with its neighbour.
OVERLAP = 0.3


def tile_centres(length: float, side: float) -> list[float]:
    """Centres along one axis of windows of ``side`` covering ``length`` with ``OVERLAP``."""
    if side >= length:
        return [length / 2]
    stride = side * (1 - OVERLAP)
    count = math.ceil((length - side) / stride) + 1
    step = (length - side) / (count - 1)
    return [side / 2 + i * step for i in range(count)]


def frame_windows(frame_shape, box_xywh, factor: float) -> list[CropWindow]:
    """Windows tiling a frame of ``frame_shape`` (h, w) for a target of ``box_xywh``'s size."""
    height, width = frame_shape[:2]
    _, _, w, h = box_xywh
    side = math.ceil(math.sqrt(w * h) * factor)
    return [crop_window((cx - w / 2, cy - h / 2, w, h), factor)
            for cy in tile_centres(height, side) for cx in tile_centres(width, side)]


class WindowCycle:
    """Hands out the tiling's windows ``count`` at a time, round robin, across lost frames.

    The tiling is rebuilt when the frame size, the target size or the factor changes.
    """

    def __init__(self):
        self._key = None
        self._windows: list[CropWindow] = []
        self._cursor = 0

    def reset(self) -> None:
        self._key = None

    def next(self, frame_shape, box_xywh, factor: float, count: int) -> list[CropWindow]:
        key = (tuple(frame_shape[:2]), round(box_xywh[2], 1), round(box_xywh[3], 1), factor)
        if key != self._key:
            self._key = key
            self._windows = frame_windows(frame_shape, box_xywh, factor)
            self._cursor = 0
        count = min(count, len(self._windows))
        chosen = [self._windows[(self._cursor + i) % len(self._windows)] for i in range(count)]
        self._cursor = (self._cursor + count) % len(self._windows)
        return chosen

    @property
    def tiles(self) -> int:
        """Windows in the current tiling (0 before the first call)."""
        return len(self._windows)
