"""The public Tracker against the official tracker's trajectories (../shared/golden/tracker_*.npz).

Frames are read with cv2.imread (BGR, the default colour order); the official tracker was fed the
same frames in RGB. The lost-target machine, the size calibration and the size smoothing are
switched off and the box keeps the official 10 px floor (OFFICIAL_RULES: lost_threshold=0,
size_calibration=0, size_smoothing=0, min_box_side=10): the golden runs are the official tracker,
which has none of them.
"""

import cv2
import numpy as np
import pytest

from mixformerv2_ros.tracker import Tracker, crop
from mixformerv2_ros.tracker.settings import OFFICIAL_RULES

CASES = {
    "small": ("mixformerv2_small_d1.pth.tar", "tracker_small_d1_person12_1.npz", "person12_1"),
    "base": ("mixformerv2_base_d1.pth.tar", "tracker_base_d1_boat1.npz", "boat1"),
}
BACKENDS = ("onnxruntime", "torch")


@pytest.fixture(
    scope="module", params=[(v, b) for v in CASES for b in BACKENDS], ids=lambda p: f"{p[0]}-{p[1]}"
)
def golden_run(request, golden_dir, uav_dev_dir):
    variant, backend = request.param
    checkpoint, trajectory, clip = CASES[variant]
    data = np.load(golden_dir / trajectory)
    frames = [cv2.imread(str(uav_dev_dir / clip / "img" / name)) for name in data["frames"]]
    tracker = Tracker.from_checkpoint(
        golden_dir / checkpoint, backend=backend, device="cpu", **OFFICIAL_RULES
    )
    yield tracker, data, frames
    tracker.close()


def test_settings_follow_the_official_configuration(golden_run):
    tracker, data, _ = golden_run
    assert tracker.settings.search_factor == data["search_factor"]
    assert tracker.settings.template_factor == data["template_factor"]
    assert tracker.backend.config.search_size == data["search_size"]
    assert tracker.backend.config.template_size == data["template_size"]


def test_independent_steps_match_the_official_tracker(golden_run):
    tracker, data, frames = golden_run
    tracker.update_settings(update_interval=10**6)  # template from frame 0 only
    tracker.initialize(frames[0], data["gt"][0])
    box_errors, score_errors = [], []
    for t in range(1, len(frames)):
        tracker.box = data["step_state_in"][t - 1]
        result = tracker.track(frames[t])
        box_errors.append(np.abs(np.array(result.box) - data["step_state_out"][t - 1]).max())
        score_errors.append(abs(result.score - data["step_score"][t - 1]))
    print(
        f"independent steps: max box error {max(box_errors):.2e} px, max score error {max(score_errors):.2e}"
    )
    assert max(box_errors) < 0.5
    assert max(score_errors) < 1e-3


def run_sequence(tracker, data, frames):
    """Sequential run from gt[0] with online updates; max box and score errors over the frames."""
    tracker.update_settings(update_interval=int(data["update_interval"]))
    tracker.initialize(frames[0], data["gt"][0])
    assert tracker.box == pytest.approx(tuple(data["seq_state"][0]))
    box_errors, score_errors = [], []
    for t in range(1, len(frames)):
        result = tracker.track(frames[t])
        assert result.frame_index == t and result.state == "tracking"
        box_errors.append(np.abs(np.array(result.box) - data["seq_state"][t]).max())
        score_errors.append(abs(result.score - data["seq_score"][t]))
    return max(box_errors), max(score_errors)


def test_sequential_run_with_online_updates_matches_the_official_tracker(golden_run):
    tracker, data, frames = golden_run
    box_error, score_error = run_sequence(tracker, data, frames)
    print(f"sequential run: max box error {box_error:.2e} px, max score error {score_error:.2e}")
    assert box_error < 1.0
    assert score_error < 1e-3


def test_crops_sampled_from_the_frame_keep_the_base_run_official(golden_dir, uav_dev_dir, monkeypatch):
    """boat1's search squares (~500 px) are shrunk to 288: force them through FrameSampler."""
    checkpoint, trajectory, clip = CASES["base"]
    data = np.load(golden_dir / trajectory)
    frames = [cv2.imread(str(uav_dev_dir / clip / "img" / name)) for name in data["frames"]]
    monkeypatch.setattr(crop, "PADDED_SQUARE_LIMIT", 1)
    used = []
    monkeypatch.setattr(crop.FrameSampler, "__call__", _recording(crop.FrameSampler.__call__, used))
    tracker = Tracker.from_checkpoint(golden_dir / checkpoint, **OFFICIAL_RULES)
    box_error, score_error = run_sequence(tracker, data, frames)
    tracker.close()
    print(
        f"sequential run, sampled crops: max box error {box_error:.2e} px, max score error {score_error:.2e}"
    )
    assert len(used) >= 20  # every crop larger than its output went through the sampler
    assert box_error < 1.0
    assert score_error < 1e-3


def _recording(method, calls):
    def wrapper(self, *args):
        calls.append(args[1])
        return method(self, *args)

    return wrapper
