"""The box floor (TrackerSettings.min_box_side): the tracked and reported box may be smaller than
the official tracker's 10 px, while the search crop is still cut around a box of at least 10 px."""

import numpy as np
import pytest
from test_lost_target import ScriptedBackend, noise_frame, normalized_crop  # noqa: F401 (a fixture)

from mixformerv2_ros.model.config import demo_model_path
from mixformerv2_ros.tools.metrics import iou as box_iou
from mixformerv2_ros.tracker import Tracker, TrackerSettings
from mixformerv2_ros.tracker.crop import CLIP_MARGIN, crop_window
from node_test_utils import clip_frames

START = (300.0, 160.0, 20.0, 20.0)
TARGET_SIDE = 4.0


def shrinking_tracker(min_box_side):
    """A tracker whose network says: a TARGET_SIDE px square at the crop's centre, on the first
    frame's crop (4.5 x 20 px, rounded up); the official tracker but for the floor, so the box is
    the network's."""
    side = crop_window(START, 4.5).side
    backend = ScriptedBackend([0.9] * 3, box_fraction=(0.5, 0.5, TARGET_SIDE / side, TARGET_SIDE / side))
    settings = TrackerSettings.official(min_box_side=min_box_side)
    return Tracker(backend, settings)


@pytest.mark.parametrize("min_box_side, reported", [(1.0, TARGET_SIDE), (CLIP_MARGIN, CLIP_MARGIN)])
def test_the_box_shrinks_to_the_floor_and_the_search_stays_official(noise_frame, min_box_side, reported):
    tracker = shrinking_tracker(min_box_side)
    tracker.initialize(noise_frame, START)
    result = tracker.track(noise_frame)
    assert result.box[2:] == pytest.approx((reported, reported))
    # the network's box starts where it did (its centre minus 2 px); the official clip grows a box
    # that is too small to the right and down, from its top-left corner
    corner = (START[0] + START[2] / 2 - TARGET_SIDE / 2, START[1] + START[3] / 2 - TARGET_SIDE / 2)
    assert result.box[:2] == pytest.approx(corner, abs=0.6)
    # whatever the floor, the next search is cut around a 10 px box (ceil(4.5 x 10) = 45 px), the
    # official tracker's smallest, not around a 4 px one (18 px)
    window = tracker.search_window()
    assert window.side == crop_window((0, 0, CLIP_MARGIN, CLIP_MARGIN), 4.5).side == 45
    x, y, w, h = result.box
    search_box = (x + w / 2 - CLIP_MARGIN / 2, y + h / 2 - CLIP_MARGIN / 2, CLIP_MARGIN, CLIP_MARGIN)
    tracker.track(noise_frame)
    expected = normalized_crop(noise_frame, search_box, 4.5, tracker.backend.config.search_size)
    assert np.array_equal(tracker.backend.searches[-1], expected), "the network saw that window"


@pytest.mark.parametrize("side", [0.0, -1.0, float("nan"), float("inf"), "one"])
def test_a_floor_that_is_not_a_positive_number_is_refused(side):
    with pytest.raises(ValueError, match="min_box_side"):
        TrackerSettings(min_box_side=side)


def test_the_demo_model_follows_a_truck_smaller_than_10_px(uav_dev_dir):
    """truck4_1's truck is 5-8 px wide and 4-6 px high: with the official 10 px floor no box can
    overlap it by more than about a third. (A clip the demo model was trained on: this checks the
    floor's mechanism, not how the model generalises.)"""
    frames, boxes = clip_frames(uav_dev_dir, "truck4_1", 60)
    truth = np.array(boxes[1:])
    assert truth[:, 2:].max() < CLIP_MARGIN
    iou, widths = {}, {}
    for side in (CLIP_MARGIN, TrackerSettings().min_box_side):
        tracker = Tracker.from_checkpoint(demo_model_path(), min_box_side=side, threads=1)
        tracker.initialize(frames[0], boxes[0])
        tracked = np.array([tracker.track(frame).box for frame in frames[1:]])
        iou[side] = float(np.mean(box_iou(tracked, truth)))
        widths[side] = float(np.median(tracked[:, 2]))
    print(f"mean IoU: {iou}; median box width: {widths}")
    default = TrackerSettings().min_box_side
    assert widths[CLIP_MARGIN] >= CLIP_MARGIN and widths[default] < CLIP_MARGIN
    assert iou[default] > iou[CLIP_MARGIN] + 0.1
