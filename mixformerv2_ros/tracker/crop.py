"""Square crops around a box, normalisation, and mapping boxes back to the frame.

The official tracker cuts a square of side ``ceil(sqrt(w*h) * factor)`` centred on the box,
pads what falls outside the frame with zeros and shrinks or enlarges it with ``cv2.resize``
(bilinear). Two quirks of its padding arithmetic are reproduced because the networks were
evaluated with them: whenever the square reaches the last column (row) of the frame, that column
(row) is replaced by padding; and the box is mapped back assuming the square is centred exactly
on the prior centre, although its corner was rounded to whole pixels.

Crops are bit-identical to the official ones, because the tracker is chaotic: a one-level
difference in a few pixels (what ``cv2.warpAffine``'s 1/32-pixel sampling gives) grows into
pixels of drift within tens of frames. Squares up to ``PADDED_SQUARE_LIMIT`` times the output
side are cut and resized as the official code does (at most 16 output areas of memory). Larger
squares (big targets, high resolutions) are never built: ``FrameSampler`` reads only the pixels
``cv2.resize`` would read, straight from the frame, and repeats its fixed-point arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Smallest box side the official tracker lets a tracked box shrink to, in pixels.
CLIP_MARGIN = 10.0
#: Squares up to this many output sides are padded and resized; larger ones are sampled.
PADDED_SQUARE_LIMIT = 4
# cv2.resize's bilinear weights for 8-bit images are integers summing to 2**11.
_WEIGHT_SCALE = np.float32(2048)


@dataclass(frozen=True)
class CropWindow:
    """Where a square crop lies in the frame.

    ``x1, y1`` is the integer top-left corner, ``side`` the integer side in frame pixels and
    ``center`` the prior box centre the crop was requested around (the official tracker maps
    boxes back relative to that centre, not to the rounded corner).
    """

    x1: int
    y1: int
    side: int
    center: tuple[float, float]


def crop_window(box_xywh, factor: float) -> CropWindow:
    """Square window of side ``ceil(sqrt(w*h) * factor)`` centred on ``box_xywh``."""
    x, y, w, h = (float(v) for v in box_xywh)
    side = math.ceil(math.sqrt(w * h) * factor)
    if side < 1:
        raise ValueError(f"box {w}x{h} with factor {factor} gives an empty crop")
    cx, cy = x + 0.5 * w, y + 0.5 * h
    # Python's round() (half to even) on purpose: it is what the official crop uses.
    return CropWindow(int(round(cx - 0.5 * side)), int(round(cy - 0.5 * side)), side, (cx, cy))


class CropExtractor:
    """Cuts crops identical to the official ones; keeps work buffers between frames."""

    def __init__(self):
        self._samplers: dict[int, FrameSampler] = {}

    def __call__(self, image: np.ndarray, window: CropWindow, output_size: int) -> np.ndarray:
        """Crop ``window`` out of ``image`` (H x W x 3 uint8), resized to ``output_size`` squared."""
        height, width = image.shape[:2]
        # The official padding drops the frame's last row/column whenever the window reaches
        # it; windows that stop earlier never read it, so cropping from this view is equivalent.
        usable = image[: height - 1, : width - 1]
        if window.side <= PADDED_SQUARE_LIMIT * output_size:
            return _pad_and_resize(usable, window, output_size)
        sampler = self._samplers.get(output_size)
        if sampler is None:
            sampler = self._samplers[output_size] = FrameSampler(output_size)
        return sampler(usable, window)


def _pad_and_resize(usable: np.ndarray, window: CropWindow, output_size: int) -> np.ndarray:
    side = window.side
    padded = np.zeros((side, side, usable.shape[2]), dtype=usable.dtype)
    x0, y0 = max(window.x1, 0), max(window.y1, 0)
    x1 = min(window.x1 + side, usable.shape[1])
    y1 = min(window.y1 + side, usable.shape[0])
    if x1 > x0 and y1 > y0:
        padded[y0 - window.y1 : y1 - window.y1, x0 - window.x1 : x1 - window.x1] = usable[y0:y1, x0:x1]
    return cv2.resize(padded, (output_size, output_size), interpolation=cv2.INTER_LINEAR)


def _resize_taps(source_size: int, output_size: int):
    """cv2.resize's bilinear taps along one axis for 8-bit images.

    Returns the two source indices of every output pixel, interleaved (first0, second0, first1,
    ...), and their integer weights. Same float32 arithmetic and edge clamping as OpenCV.
    """
    scale = 1.0 / (output_size / source_size)
    position = ((np.arange(output_size) + 0.5) * scale - 0.5).astype(np.float32)
    first = np.floor(position).astype(np.int32)
    fraction = position - first.astype(np.float32)
    before, after = first < 0, first >= source_size - 1
    fraction[before | after] = 0
    first[before] = 0
    first[after] = source_size - 1
    second = np.minimum(first + 1, source_size - 1)
    weight_second = np.rint(fraction * _WEIGHT_SCALE).astype(np.int32)
    weight_first = np.rint((np.float32(1) - fraction) * _WEIGHT_SCALE).astype(np.int32)
    return np.stack([first, second], axis=1).reshape(-1), weight_first, weight_second


class FrameSampler:
    """``cv2.resize`` of the zero-padded square, computed from the frame without building it.

    OpenCV's 8-bit bilinear resize first blends two columns with integer weights (exact), then
    blends two of those rows as ``((a >> 4) * wa >> 16) + ((b >> 4) * wb >> 16) + 2 >> 2``. Only
    the 2 x 2 source pixels of every output pixel are gathered (``cv2.remap``, nearest, zero
    outside the frame), so memory and time depend on the output size, not on the square's.
    """

    def __init__(self, output_size: int):
        self.size = size = output_size
        self._map = np.empty((2 * size, size, 2), np.int16)
        self._gathered = np.empty((2 * size, size, 3), np.uint8)
        self._columns = np.empty((2, 2 * size, 3 * size), np.int32)
        self._rows = np.empty((2, size, 3 * size), np.int32)

    def __call__(self, usable: np.ndarray, window: CropWindow) -> np.ndarray:
        size = self.size
        # the square is resized alike along both axes
        taps, weight_first, weight_second = _resize_taps(window.side, size)
        height, width = usable.shape[:2]
        # indices outside the frame read zeros (border); clipping only keeps them in int16
        self._map[..., 1] = np.clip(taps + window.y1, -1, height)[:, None]
        xs = np.clip(taps + window.x1, -1, width)
        columns = self._columns
        for k, weights in enumerate((weight_first, weight_second)):
            self._map[..., 0] = xs[k::2][None, :]
            cv2.remap(
                usable,
                self._map,
                None,
                cv2.INTER_NEAREST,
                dst=self._gathered,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            )
            np.copyto(columns[k], self._gathered.reshape(2 * size, -1))
            columns[k] *= np.repeat(weights, 3)[None, :]
        blended = columns[0]
        blended += columns[1]
        blended >>= 4
        rows = self._rows
        np.multiply(blended[0::2], weight_first[:, None], out=rows[0])
        np.multiply(blended[1::2], weight_second[:, None], out=rows[1])
        rows >>= 16
        result = rows[0]
        result += rows[1]
        result += 2
        result >>= 2
        return result.astype(np.uint8).reshape(size, size, 3)


class Normalizer:
    """Turns uint8 crops into the network's float32 1 x 3 x S x S input.

    A 256-entry table per channel computes ``(v / 255 - mean) / std`` in float32, exactly as the
    official preprocessing does, and swaps BGR to RGB for free while looking values up.
    """

    def __init__(self, mean, std):
        values = np.arange(256, dtype=np.float32)[:, None] / np.float32(255.0)
        self._table = np.ascontiguousarray(
            ((values - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).T
        )

    def __call__(self, crop: np.ndarray, bgr: bool) -> np.ndarray:
        size_y, size_x = crop.shape[:2]
        out = np.empty((1, 3, size_y, size_x), dtype=np.float32)
        for rgb_channel in range(3):
            source_channel = 2 - rgb_channel if bgr else rgb_channel
            np.take(self._table[rgb_channel], crop[..., source_channel], out=out[0, rgb_channel])
        return out


def map_box_back(box_cxcywh_fraction, window: CropWindow) -> tuple[float, float, float, float]:
    """Box predicted as fractions of the search crop -> x, y, w, h in frame pixels."""
    cx, cy, w, h = (float(v) * window.side for v in box_cxcywh_fraction)
    half = 0.5 * window.side
    cx += window.center[0] - half
    cy += window.center[1] - half
    return (cx - 0.5 * w, cy - 0.5 * h, w, h)


def map_box_into(box_xywh, window: CropWindow, size: int) -> np.ndarray:
    """The inverse of ``map_box_back``: a frame box (x, y, w, h pixels) in the pixels of the
    ``size``-pixel crop cut from ``window``, relative to the window's requested centre, as the
    tracker maps predictions back (float32). Training labels are made with it."""
    scale = size / window.side
    left, top = window.center[0] - window.side / 2, window.center[1] - window.side / 2
    x, y, w, h = (float(v) for v in box_xywh)
    return np.array([(x - left) * scale, (y - top) * scale, w * scale, h * scale], np.float32)


def clip_box(box_xywh, height: int, width: int, margin: float = CLIP_MARGIN):
    """Keep the box inside the frame with sides of at least ``margin`` pixels.

    Same rule as the official tracker; the margin shrinks to the frame size for frames smaller
    than it, so the result always lies inside the frame.
    """
    margin = min(margin, float(width), float(height))
    x, y, w, h = (float(v) for v in box_xywh)
    x1 = min(max(0.0, x), width - margin)
    x2 = min(max(margin, x + w), float(width))
    y1 = min(max(0.0, y), height - margin)
    y2 = min(max(margin, y + h), float(height))
    return (x1, y1, max(margin, x2 - x1), max(margin, y2 - y1))
