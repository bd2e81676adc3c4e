"""The shipped demo model really tracks: a real clip, a hidden target that is declared lost, and
its recovery when it shows again (the tracker core, no ROS; the node's version is in
test_node_demo_model.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from mixformerv2_ros.model.config import ModelConfig, demo_model_path, templates_path_for
from mixformerv2_ros.tools.datasets import load_sequences
from mixformerv2_ros.tools.metrics import iou
from mixformerv2_ros.training.model import DEMO_CONFIG

# An easy clip: one boat on open water, slow camera. It is one of the four clips the demo model
# was trained on (see models/MODEL_CARD.md); on unseen clips the demo model is far weaker.
EASY_CLIP = "boat1"
FRAMES = 150
HIDDEN = range(50, 90)  # frames on which the target is hidden


def hide_target(frame: np.ndarray, box, margin: float = 0.5) -> np.ndarray:
    """The frame with the target and a margin around it painted over with the frame's mean colour."""
    x, y, w, h = box
    x0, y0 = max(0, int(x - margin * w)), max(0, int(y - margin * h))
    x1, y1 = int(x + w + margin * w) + 1, int(y + h + margin * h) + 1
    out = frame.copy()
    out[y0:y1, x0:x1] = frame.reshape(-1, 3).mean(axis=0).astype(np.uint8)
    return out


def assert_lost_then_found(states, overlaps, tracking="tracking", lost="lost") -> int:
    """Checks a run over the clip's frames 1.. with the target hidden on HIDDEN: tracking before,
    lost on at least half of the hidden frames, tracking the target again within 20 frames after.
    Returns the index (in the frames after HIDDEN) where tracking resumed."""
    states = np.asarray(states)
    before = states[: HIDDEN.start - 1]
    hidden = states[HIDDEN.start - 1 : HIDDEN.stop - 1]
    after = states[HIDDEN.stop - 1 :]
    assert (before == tracking).all()
    declared_lost = int((hidden == lost).sum())
    assert declared_lost >= len(hidden) // 2, f"lost on {declared_lost} of {len(hidden)} hidden frames"
    assert tracking in after[:20], "not tracking again within 20 frames of the target showing again"
    recovered = int(np.argmax(after == tracking))
    assert np.mean(overlaps[HIDDEN.stop - 1 :][recovered:] > 0.5) > 0.7, "tracking, but not the target"
    return recovered


@pytest.fixture(scope="module")
def easy_clip(uav_dev_dir):
    (sequence,) = load_sequences(uav_dev_dir / EASY_CLIP, "uav_dev")
    frames = [cv2.imread(str(path)) for path in sequence.frames[:FRAMES]]
    return frames, sequence.ground_truth[:FRAMES]


@pytest.fixture()
def demo_tracker():
    from mixformerv2_ros.tracker import Tracker

    path = demo_model_path()
    assert path is not None, "the demo model must ship in mixformerv2_ros/models/"
    tracker = Tracker.from_checkpoint(path, threads=1)
    yield tracker
    tracker.close()


def test_demo_model_ships_small_with_its_card():
    import onnx

    step = Path(demo_model_path())
    templates = templates_path_for(step)
    assert templates.is_file() and (step.parent / "MODEL_CARD.md").is_file()
    assert step.stat().st_size + templates.stat().st_size < 20 * 2**20
    metadata = {p.key: p.value for p in onnx.load(str(step), load_external_data=False).metadata_props}
    config = ModelConfig.from_metadata(metadata)
    assert (config.template_size, config.search_size) == (DEMO_CONFIG.template_size, DEMO_CONFIG.search_size)


def test_tracks_the_target_of_a_real_clip(demo_tracker, easy_clip):
    frames, truth = easy_clip
    demo_tracker.initialize(frames[0], truth[0])
    results = [demo_tracker.track(frame) for frame in frames[1:]]
    overlaps = iou(np.array([r.box for r in results]), truth[1:])
    assert (overlaps > 0.5).mean() > 0.7, f"IoU > 0.5 on only {(overlaps > 0.5).mean():.0%} of the frames"
    assert all(r.state == "tracking" for r in results)


def test_a_hidden_target_is_lost_and_found_again(demo_tracker, easy_clip):
    frames, truth = easy_clip
    demo_tracker.initialize(frames[0], truth[0])
    states, boxes = [], []
    for index in range(1, FRAMES):
        frame = hide_target(frames[index], truth[index]) if index in HIDDEN else frames[index]
        result = demo_tracker.track(frame)
        states.append(result.state)
        boxes.append(result.box)
    states, overlaps = np.array(states), iou(np.array(boxes), truth[1:])
    recovered = assert_lost_then_found(states, overlaps)
    assert (states[HIDDEN.stop - 1 + recovered :] == "tracking").mean() > 0.9
