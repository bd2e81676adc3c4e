"""Degenerate images and boxes give a clear InvalidInputError (or documented clamping), never a
crash inside numpy/OpenCV or a NaN result. Uses the real onnxruntime backend of the golden S model;
the last test checks that this ONNX path of the public API imports neither torch nor rclpy."""

import math
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import mixformerv2_ros
from mixformerv2_ros.tracker import InvalidInputError, Tracker
from mixformerv2_ros.tracker.backends import exported_onnx_for

BOX = (245.0, 117.5, 17.0, 42.5)


@pytest.fixture(scope="module")
def tracker(golden_dir):
    tracker = Tracker.from_checkpoint(golden_dir / "mixformerv2_small_d1.pth.tar")
    yield tracker
    tracker.close()


@pytest.fixture(scope="module")
def frames(uav_dev_dir):
    return [cv2.imread(str(p)) for p in sorted((uav_dev_dir / "person12_1" / "img").glob("*.jpg"))[:3]]


def assert_sane(result, height, width):
    x, y, w, h = result.box
    assert all(math.isfinite(v) for v in result.box) and 0 <= result.score <= 1
    assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= width + 1e-9 and y + h <= height + 1e-9


@pytest.mark.parametrize(
    "box, message",
    [
        ((10, 10, 0, 20), "positive width and height"),
        ((10, 10, 20, -5), "positive width and height"),
        ((np.nan, 10, 20, 20), "non-finite"),
        ((10, 10, np.inf, 20), "non-finite"),
        ((10, 10, 20), "4 numbers"),
        (("a", 1, 2, 3), "4 numbers"),
        ((700, 10, 20, 20), "wholly outside"),
        ((-50, -50, 20, 20), "wholly outside"),
        ((640, 0, 5, 5), "wholly outside"),
    ],
)
def test_bad_boxes_are_refused_with_a_reason(tracker, frames, box, message):
    with pytest.raises(InvalidInputError, match=message):
        tracker.initialize(frames[0], box)
    tracker.initialize(frames[0], BOX)
    with pytest.raises(InvalidInputError, match=message):
        tracker.box = box
    assert tracker.box == BOX  # a refused box changes nothing


def test_boxes_partly_outside_are_clamped_to_the_image(tracker, frames):
    tracker.initialize(frames[0], (-10.0, 340.0, 30.0, 40.0))
    assert tracker.box == (0.0, 340.0, 20.0, 20.0)
    assert_sane(tracker.track(frames[1]), 360, 640)
    tracker.box = (630.0, -5.0, 20.0, 20.0)
    assert tracker.box == (630.0, 0.0, 10.0, 15.0)
    assert_sane(tracker.track(frames[2]), 360, 640)


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((360, 640), np.uint8), "COLOR_GRAY2BGR"),
        (np.zeros((360, 640, 4), np.uint8), "COLOR_BGRA2BGR"),
        (np.zeros((360, 640, 1), np.uint8), "H x W x 3"),
        (np.zeros((360, 640, 3), np.float32), "uint8"),
        (np.zeros((360, 640, 3), np.uint16), "uint8"),
        (np.zeros((0, 640, 3), np.uint8), "empty"),
        (np.zeros((2, 360, 640, 3), np.uint8), "H x W x 3"),
        ([[[0, 0, 0]]], "numpy array"),
    ],
)
def test_bad_images_are_refused_with_a_reason(tracker, frames, image, message):
    with pytest.raises(InvalidInputError, match=message):
        tracker.initialize(image, BOX)
    tracker.initialize(frames[0], BOX)
    with pytest.raises(InvalidInputError, match=message):
        tracker.track(image)
    assert tracker.state == "tracking" and tracker.box == BOX
    assert_sane(tracker.track(frames[1]), 360, 640)


@pytest.mark.parametrize("shape", [(1, 1, 3), (5, 3, 3), (3, 5, 3)])
def test_tiny_images_track_without_errors(tracker, shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    height, width = shape[:2]
    tracker.initialize(image, (0, 0, width, height))
    for _ in range(3):
        assert_sane(tracker.track(image), height, width)


def test_errors_are_value_errors_and_the_idle_tracker_refuses_to_track(tracker, frames):
    assert issubclass(InvalidInputError, ValueError)
    tracker.reset()
    assert tracker.state == "idle" and tracker.box is None
    with pytest.raises(RuntimeError, match="initialize"):
        tracker.track(frames[0])
    with pytest.raises(RuntimeError, match="initialize"):
        tracker.box = BOX


def test_views_and_rgb_input_give_the_same_result(tracker, frames):
    tracker.update_settings(update_interval=2)
    tracker.initialize(frames[0], BOX)
    expected = [tracker.track(f) for f in frames[1:]]

    padded = [np.pad(f, ((3, 3), (5, 5), (0, 0)))[3:-3, 5:-5] for f in frames]  # strided views
    assert not padded[0].flags.c_contiguous
    tracker.initialize(padded[0], BOX)
    assert [tracker.track(f) for f in padded[1:]] == expected

    tracker.update_settings(color_order="rgb")
    rgb = [cv2.cvtColor(f, cv2.COLOR_BGR2RGB) for f in frames]
    tracker.initialize(rgb[0], BOX)
    assert [tracker.track(f) for f in rgb[1:]] == expected
    tracker.update_settings(color_order="bgr", update_interval=200)
    with pytest.raises(ValueError, match="color_order"):
        tracker.update_settings(color_order="bgra")


def test_onnx_tracking_imports_neither_torch_nor_ros(golden_dir, uav_dev_dir, tmp_path):
    """The public API on an exported model, in a fresh interpreter: no torch, no rclpy."""
    onnx_path = exported_onnx_for(golden_dir / "mixformerv2_small_d1.pth.tar")
    frame = uav_dev_dir / "person12_1" / "img" / "00000002.jpg"
    script = (
        "import sys, cv2\n"
        "from mixformerv2_ros.tracker import Tracker\n"
        f"tracker = Tracker.from_checkpoint({str(onnx_path)!r})\n"
        f"image = cv2.imread({str(frame)!r})\n"
        f"tracker.initialize(image, {BOX!r})\n"
        "result = tracker.track(image)\n"
        "assert result.state == 'tracking' and 0 <= result.score <= 1, result\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'rclpy')))\n"
    )
    package_root = str(Path(mixformerv2_ros.__file__).resolve().parents[1])
    completed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": package_root},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
