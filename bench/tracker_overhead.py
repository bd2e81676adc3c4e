"""Time spent by the tracker step outside the network, per frame, at 640x360 and 1280x720.

Runs ``Tracker.track`` over real clip frames with a real backend wrapped so that the time spent
inside the backend (``predict`` and ``set_templates``) is measured and subtracted: what remains
is cropping, normalisation, box mapping, the lost-target logic and online-template crops.
1280x720 frames are the clip frames upscaled (boxes scaled alike), so targets keep their
relative size. Usage (repository root, package importable, e.g. PYTHONPATH=.):
    python bench/tracker_overhead.py [--model M] [--frames N] [--clips a,b]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from mixformerv2_ros.tools.datasets import load_sequences
from mixformerv2_ros.tracker import Tracker
from mixformerv2_ros.tracker.backends import create_backend

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
RESOLUTIONS = ((640, 360), (1280, 720))


class TimedBackend:
    """Forwards to a real backend and adds up the time spent inside it."""

    def __init__(self, backend):
        self._backend = backend
        self.config = backend.config
        self.seconds = 0.0

    def set_templates(self, template, online_template):
        started = time.perf_counter()
        self._backend.set_templates(template, online_template)
        self.seconds += time.perf_counter() - started

    def predict(self, search):
        started = time.perf_counter()
        prediction = self._backend.predict(search)
        self.seconds += time.perf_counter() - started
        return prediction

    def close(self):
        self._backend.close()


def overhead_ms(tracker: Tracker, backend: TimedBackend, frames, box) -> np.ndarray:
    tracker.initialize(frames[0], box)
    times = []
    for frame in frames[1:]:
        backend.seconds = 0.0
        started = time.perf_counter()
        tracker.track(frame)
        times.append(time.perf_counter() - started - backend.seconds)
    return np.array(times) * 1e3


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=SHARED / "golden" / "mixformerv2_small_d1.pth.tar",
        help="model (.pth.tar or .onnx); default: the golden S checkpoint",
    )
    parser.add_argument("--frames", type=int, default=100, help="frames per clip (default 100)")
    parser.add_argument(
        "--clips", default="boat1,person12_1,truck4_1", help="uav_dev clips (big, medium, tiny target)"
    )
    args = parser.parse_args(argv)
    backend = TimedBackend(create_backend(args.model, backend="onnxruntime", device="cpu"))
    tracker = Tracker(backend)
    sequences = load_sequences(SHARED / "data" / "uav_dev", names=args.clips.split(","))
    print(f"{'clip':<12} {'frame':>9} {'median ms':>10} {'mean ms':>8} {'p95 ms':>7} {'max ms':>7}")
    worst_median = 0.0
    for sequence in sequences:
        originals = [cv2.imread(str(p)) for p in sequence.frames[: args.frames]]
        for width, height in RESOLUTIONS:
            scale = width / originals[0].shape[1]
            frames = [cv2.resize(f, (width, height)) for f in originals]
            times = overhead_ms(tracker, backend, frames, sequence.ground_truth[0] * scale)
            worst_median = max(worst_median, float(np.median(times)))
            print(
                f"{sequence.name:<12} {width:>4}x{height:<4} {np.median(times):10.3f} {times.mean():8.3f} "
                f"{np.percentile(times, 95):7.3f} {times.max():7.3f}"
            )
    print(f"worst median overhead: {worst_median:.3f} ms per frame (goal < 2 ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
