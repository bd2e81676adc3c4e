"""The size smoothing (TrackerSettings.size_smoothing): while tracking, each frame moves the box's
width and height (1 - share) * score of the way from the previous box's to the network's, about
the network's centre."""

import numpy as np
import pytest
from test_lost_target import ScriptedBackend, noise_frame  # noqa: F401 (a fixture)

from mixformerv2_ros.model.config import demo_model_path
from mixformerv2_ros.tools.metrics import iou as box_iou
from mixformerv2_ros.tracker import Tracker, TrackerSettings
from mixformerv2_ros.tracker.crop import crop_window
from node_test_utils import clip_frames

START = (300.0, 160.0, 20.0, 30.0)
GROWTH = 2.0


def scripted_tracker(scores, share):
    """A tracker whose network always says: a square of GROWTH / 4.5 of the crop's side, at the
    centre of the crop (the crop's side is 4.5 times sqrt(w * h) of the previous box)."""
    backend = ScriptedBackend(scores, box_fraction=(0.5, 0.5, GROWTH / 4.5, GROWTH / 4.5))
    settings = TrackerSettings(size_smoothing=share, size_calibration=0.0, lost_threshold=0.0)
    return Tracker(backend, settings)


@pytest.mark.parametrize("share, score", [(0.5, 0.8), (0.8, 0.99), (0.5, 0.02), (0.0, 0.7)])
def test_each_frame_moves_the_size_part_of_the_way(noise_frame, share, score):
    frames = 3
    tracker = scripted_tracker([score] * frames, share)
    tracker.initialize(noise_frame, START)
    previous = START
    for _ in range(frames):
        result = tracker.track(noise_frame)
        x, y, w, h = result.box
        # the network's box: a square of GROWTH / 4.5 of the crop; the box goes (1 - share) * score
        # of the way from the previous size to it
        network = GROWTH / 4.5 * crop_window(previous, 4.5).side
        rate = 1.0 if share == 0.0 else (1.0 - share) * score
        expected = [side + rate * (network - side) for side in previous[2:]]
        assert (w, h) == pytest.approx(expected, rel=1e-9)
        px, py, pw, ph = previous
        assert (x + w / 2, y + h / 2) == pytest.approx((px + pw / 2, py + ph / 2), abs=0.6), \
            "the centre is the network's (the crop's, up to its whole-pixel corner)"
        assert tracker.box == result.box, "the next search is cut around the smoothed box"
        previous = result.box


def test_a_low_score_frame_barely_changes_the_size(noise_frame):
    confident, doubtful = scripted_tracker([0.95], 0.5), scripted_tracker([0.05], 0.5)
    for tracker in (confident, doubtful):
        tracker.initialize(noise_frame, START)
    network = GROWTH / 4.5 * crop_window(START, 4.5).side - START[2]  # the network's width change
    grown = confident.track(noise_frame).box[2] - START[2]
    barely = doubtful.track(noise_frame).box[2] - START[2]
    assert grown == pytest.approx(0.475 * network)
    assert barely == pytest.approx(0.025 * network)


@pytest.mark.parametrize("share", [1.0, -0.1, float("nan"), "half"])
def test_a_share_outside_0_to_1_is_refused(share):
    with pytest.raises(ValueError, match="size_smoothing"):
        TrackerSettings(size_smoothing=share)


def test_the_demo_model_box_jitters_less_on_a_real_clip(uav_dev_dir):
    """car16_1 is held out of the demo model's training: a small car among others, where the
    network's box size jumps from frame to frame."""
    frames, boxes = clip_frames(uav_dev_dir, "car16_1", 60)
    jitter, iou = {}, {}
    default = TrackerSettings().size_smoothing
    for share in (0.0, default):
        tracker = Tracker.from_checkpoint(demo_model_path(), size_smoothing=share, threads=1)
        tracker.initialize(frames[0], boxes[0])
        tracked = np.array([tracker.track(frame).box for frame in frames[1:]])
        areas = tracked[:, 2] * tracked[:, 3]
        jitter[share] = float(np.mean(np.abs(np.diff(np.log(areas)))))
        iou[share] = float(np.mean(box_iou(tracked, np.array(boxes[1:]))))
    print(f"mean |log area change| per frame: {jitter}; mean IoU: {iou}")
    assert jitter[default] < 0.7 * jitter[0.0]
    assert iou[default] > 0.5, "the smoothed box still follows the car"

