"""Does latency-compensated prediction bring the box closer to where the target is *now*?

Runs the tracker core (default: the package's demo model) over real clips once, stamping frame k
with t_k = k / fps. A result is used L ms after its image was taken (transport, the step, the
controller), so it is judged against the ground truth at t_k + L, linearly interpolated between
the annotated frames. Two answers are compared on every frame the tracker reports as tracking:

* raw: the tracker's box of frame k, as ``~/detection`` carries it;
* predicted: ``MotionFilter`` (fed with the boxes and stamps so far) extrapolated to t_k + L,
  as ``~/predicted`` carries it.

Printed per clip and latency: mean centre error (px) of both, and the same with the filter fed the
ground-truth boxes instead of the tracker's (what prediction gains when the measurements are
exact, i.e. the part of the error that is latency, not tracking). Nothing is asserted: the numbers
are the result. Usage (repository root; ROS environment or PYTHONPATH=.):

    python bench/prediction_gain.py [--clips boat1,car16_1] [--latency-ms 50,100] [--fps 10]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from mixformerv2_ros.model.config import demo_model_path
from mixformerv2_ros.tools.datasets import load_sequences
from mixformerv2_ros.tracker import Tracker
from mixformerv2_ros.tracker.motion import MotionFilter

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def centres(boxes) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    return boxes[:, :2] + boxes[:, 2:] / 2.0


def truth_at(truth_centres: np.ndarray, t: float, fps: float) -> np.ndarray | None:
    """Ground-truth centre at time t (s), linear between annotated frames; None past the clip."""
    position = t * fps
    k = int(np.floor(position))
    if k + 1 >= len(truth_centres):
        return None
    a = position - k
    return (1.0 - a) * truth_centres[k] + a * truth_centres[k + 1]


def run_tracker(model: str, sequence, frames: int | None, threads: int):
    tracker = Tracker.from_checkpoint(model, threads=threads)
    paths = sequence.frames[:frames] if frames else sequence.frames
    tracker.initialize(cv2.imread(str(paths[0])), sequence.ground_truth[0])
    boxes, states = [tuple(sequence.ground_truth[0])], ["tracking"]
    for path in paths[1:]:
        result = tracker.track(cv2.imread(str(path)))
        boxes.append(result.box)
        states.append(result.state)
    tracker.close()
    return np.asarray(boxes), states


def prediction_errors(boxes, states, truth_centres, latency_s: float, fps: float, filter_options: dict):
    """(raw, predicted) centre errors (px) against the truth at t_k + latency, on tracked frames."""
    motion = MotionFilter(**filter_options)
    raw, predicted = [], []
    for k, (box, state) in enumerate(zip(boxes, states)):
        t = k / fps
        if state != "tracking":
            motion.reset()  # as the node does: the filter restarts after a loss
            continue
        motion.update(t, box)
        target = truth_at(truth_centres, t + latency_s, fps)
        if target is None:
            continue
        raw.append(np.linalg.norm(centres([box])[0] - target))
        predicted.append(np.linalg.norm(centres([motion.predict(t + latency_s)])[0] - target))
    return np.asarray(raw), np.asarray(predicted)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=demo_model_path(), help="model (default: the demo model)")
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "uav_dev")
    parser.add_argument("--clips", default="boat1,car16_1")
    parser.add_argument("--latency-ms", default="50,100")
    parser.add_argument("--fps", type=float, default=10.0, help="frame rate of the clips")
    parser.add_argument("--frames", type=int, default=0, help="first N frames only (0: all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--measurement-noise", type=float, default=None)
    parser.add_argument("--acceleration-noise", type=float, default=None)
    args = parser.parse_args()
    filter_options = {k: v for k, v in (("measurement_noise", args.measurement_noise),
                                        ("acceleration_noise", args.acceleration_noise)) if v is not None}
    latencies = [float(v) / 1e3 for v in args.latency_ms.split(",")]
    probe = MotionFilter(**filter_options)
    print(f"model {args.model}; clips at {args.fps:g} fps; filter: measurement_noise "
          f"{probe.measurement_noise}, acceleration_noise {probe.acceleration_noise}")
    print(f"{'clip':<12} {'L ms':>5} {'frames':>6} | {'tracker: raw':>12} {'predicted':>9} {'gain':>6} | "
          f"{'truth-fed: raw':>14} {'predicted':>9}")
    totals: dict[float, list] = {latency: [] for latency in latencies}
    for clip in args.clips.split(","):
        (sequence,) = load_sequences(args.data / clip, "uav_dev")
        boxes, states = run_tracker(args.model, sequence, args.frames, args.threads)
        truth = np.asarray(sequence.ground_truth[: len(boxes)], dtype=np.float64)
        truth_centres = centres(truth)
        for latency in latencies:
            raw, predicted = prediction_errors(boxes, states, truth_centres, latency, args.fps, filter_options)
            ideal_raw, ideal_predicted = prediction_errors(truth, ["tracking"] * len(truth), truth_centres,
                                                           latency, args.fps, filter_options)
            totals[latency].append((raw, predicted))
            print(f"{clip:<12} {latency * 1e3:>5.0f} {len(raw):>6} | {raw.mean():>12.2f} {predicted.mean():>9.2f} "
                  f"{raw.mean() - predicted.mean():>+6.2f} | {ideal_raw.mean():>14.2f} {ideal_predicted.mean():>9.2f}")
    for latency, rows in totals.items():
        raw = np.concatenate([r for r, _ in rows])
        predicted = np.concatenate([p for _, p in rows])
        print(f"{'all':<12} {latency * 1e3:>5.0f} {len(raw):>6} | {raw.mean():>12.2f} {predicted.mean():>9.2f} "
              f"{raw.mean() - predicted.mean():>+6.2f} |  (mean centre error, px, over tracked frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
