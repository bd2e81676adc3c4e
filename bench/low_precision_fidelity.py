"""IoU of the lower-precision CPU paths against fp32 on the golden tracker clips (sequential runs).

int8: ONNX Runtime with dynamic int8 quantisation; bf16: PyTorch in bfloat16 on the CPU.

    PYTHONPATH=. python bench/low_precision_fidelity.py
"""

import sys
from pathlib import Path

import cv2
import numpy as np

from mixformerv2_ros.tools.metrics import iou
from mixformerv2_ros.tracker import Tracker

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> int:
    for variant, clip in (("small", "person12_1"), ("base", "boat1")):
        golden = np.load(SHARED / "golden" / f"tracker_{variant}_d1_{clip}.npz")
        frames = [cv2.imread(str(SHARED / "data" / "uav_dev" / clip / "img" / str(f))) for f in golden["frames"]]
        runs = {}
        for name, backend, precision in (("fp32", "onnxruntime", "fp32"), ("int8", "onnxruntime", "int8"),
                                         ("bf16", "torch", "bf16")):
            tracker = Tracker.from_checkpoint(SHARED / "golden" / f"mixformerv2_{variant}_d1.pth.tar",
                                              backend=backend, precision=precision, lost_threshold=0.0,
                                              update_interval=int(golden["update_interval"]))
            tracker.initialize(frames[0], golden["gt"][0])
            runs[name] = [tracker.track(f).box for f in frames[1:]]
        for name in ("int8", "bf16"):
            ious = iou(np.asarray(runs["fp32"], float), np.asarray(runs[name], float))
            print(f"{variant:5} {clip:11} {name} vs fp32 IoU over {len(ious)} frames: min {min(ious):.4f}, "
                  f"mean {np.mean(ious):.4f}, frames below 0.99: {sum(i < 0.99 for i in ious)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
