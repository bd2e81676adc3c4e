"""The first-frame size calibration (TrackerSettings.size_calibration): the network's size error
on the frame it was initialised on is measured once and divided out of the reported boxes,
while the search keeps following the network's own box."""

import math

import numpy as np
import pytest
from test_lost_target import ScriptedBackend, noise_frame  # noqa: F401 (a fixture)

from mixformerv2_ros.model.config import demo_model_path
from mixformerv2_ros.tracker import Tracker, TrackerSettings
from mixformerv2_ros.tracker.tracker import MAX_SIZE_RATIO
from node_test_utils import clip_frames

# car16_1 is held out of the demo model's training, and the model is off on its first frame (its
# box there is 1.14 times too wide and 0.78 times too high).
CLIP, FRAMES, SHARE = "car16_1", 40, 0.5


def test_reported_size_is_the_network_size_over_the_first_frame_ratio(uav_dev_dir):
    frames, boxes = clip_frames(uav_dev_dir, CLIP, FRAMES)
    calibrated = Tracker.from_checkpoint(demo_model_path(), size_calibration=SHARE, threads=1)
    raw = Tracker.from_checkpoint(demo_model_path(), size_calibration=0.0, threads=1)
    calibrated.initialize(frames[0], boxes[0])
    raw.initialize(frames[0], boxes[0])
    ratio = np.array(calibrated.init_size_ratio)
    assert raw.init_size_ratio == (1.0, 1.0)
    assert np.all((1 / MAX_SIZE_RATIO <= ratio) & (ratio <= MAX_SIZE_RATIO))
    assert np.max(np.abs(np.log(ratio))) > 0.1, "the test needs a clip the network is off on"
    height, width = frames[0].shape[:2]
    compared = 0
    for frame in frames[1:]:
        got, reference = calibrated.track(frame), raw.track(frame)
        assert got.score == pytest.approx(reference.score, abs=1e-6)
        assert np.allclose(calibrated.box, raw.box, atol=1e-6), "the search must not move"
        x, y, w, h = reference.box
        expected_w, expected_h = w / ratio[0] ** SHARE, h / ratio[1] ** SHARE
        cx, cy = x + w / 2, y + h / 2
        if not (cx - expected_w / 2 > 0 and cy - expected_h / 2 > 0
                and cx + expected_w / 2 < width and cy + expected_h / 2 < height):
            continue  # clipped at the frame's edge
        compared += 1
        gx, gy, gw, gh = got.box
        assert (gx + gw / 2, gy + gh / 2) == pytest.approx((cx, cy), abs=1e-6)
        assert (gw, gh) == pytest.approx((expected_w, expected_h), rel=1e-6)
    assert compared >= FRAMES // 2


def test_a_first_frame_ratio_beyond_the_bound_is_clamped(noise_frame):
    init_box = (300.0, 150.0, 40.0, 40.0)
    # the scripted network answers a box three times the target's size, centred, on every crop
    backend = ScriptedBackend([0.9] * 3, box_fraction=(0.5, 0.5, 3 / 4.5, 3 / 4.5))
    # size smoothing off: the boxes below are the scripted network's, divided by the ratio
    tracker = Tracker(backend, TrackerSettings(size_calibration=1.0, lost_threshold=0.0, size_smoothing=0.0))
    tracker.initialize(noise_frame, init_box)
    assert tracker.init_size_ratio == (MAX_SIZE_RATIO, MAX_SIZE_RATIO)
    x, y, w, h = tracker.track(noise_frame).box
    assert (w, h) == pytest.approx((120.0 / MAX_SIZE_RATIO, 120.0 / MAX_SIZE_RATIO))
    assert (x + w / 2, y + h / 2) == pytest.approx((320.0, 170.0))
    assert tracker.box[2:] == pytest.approx((120.0, 120.0))  # the search follows the network


def test_off_it_runs_no_extra_step_and_a_change_applies_from_the_next_initialize(noise_frame):
    backend = ScriptedBackend([0.9] * 4, box_fraction=(0.5, 0.5, 1.5 / 4.5, 1.5 / 4.5))
    tracker = Tracker(backend, TrackerSettings(size_calibration=0.0, lost_threshold=0.0, size_smoothing=0.0))
    tracker.initialize(noise_frame, (300.0, 150.0, 40.0, 40.0))
    assert len(backend.searches) == 0 and tracker.init_size_ratio == (1.0, 1.0)
    tracker.update_settings(size_calibration=1.0)
    assert tracker.track(noise_frame).box[2:] == pytest.approx((60.0, 60.0))  # nothing measured yet
    tracker.initialize(noise_frame, (300.0, 150.0, 40.0, 40.0))
    assert len(backend.searches) == 2 and tracker.init_size_ratio == pytest.approx((1.5, 1.5))
    assert tracker.track(noise_frame).box[2:] == pytest.approx((40.0, 40.0))


@pytest.mark.parametrize("share", [-0.1, 1.5, math.nan, "half"])
def test_the_share_must_lie_in_0_to_1(share):
    with pytest.raises(ValueError, match="size_calibration"):
        TrackerSettings(size_calibration=share)

