"""Train as you track: the tracker's own runs on training clips, recorded for training pairs.

Why: a synthesised pair's search crop is cut around the truth moved by random jitter, but at run
time it is cut around the tracker's previous estimate. After a few weak frames that estimate is
too large for a small target, off centre, or on a look-alike, and the online template may have
been cut around a wrong box: states the jitter rarely makes and the network never learned to come
back from. A rollout runs the tracker, with its default settings, from several starts of each
training clip and records per frame what it held: the search window it cut, where its static and
online templates came from, and the truth. ``PairSynthesizer`` (``rollout_share``) cuts the same
crops again and labels them with the truth; where the truth lies outside the crop (the tracker
had lost the target) the pair is a negative, so the score learns to say so. Frames where the
tracker was off (IoU under ``FAILURE_IOU``, or lost) are drawn ``FAILURE_WEIGHT`` times as often.

    python -m mixformerv2_ros.training.rollouts --extra-dir CLIPS --out rollouts.json

A record is a JSON object: ``clip`` (its folder), ``template`` and ``online`` ([frame, box]: the
frame of the clip and the box each template was cut around), ``search`` (the frame),
``window`` ([x1, y1, side, [cx, cy]]: ``tracker.crop.CropWindow``), ``truth`` (its box, or null
where the clip has none), and, to weight and report, ``iou``, ``state`` and ``score``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import cv2
import numpy as np

from mixformerv2_ros.tools.datasets import load_sequences
from mixformerv2_ros.tools.metrics import iou
from mixformerv2_ros.tracker.crop import CropWindow, map_box_into

#: Starts per clip, as fractions of its length (the evaluation's restarts do the same).
START_FRACTIONS = (0.0, 0.2, 0.4, 0.6, 0.8)
#: Frames tracked from each start: long enough to drift, short enough that a clip's starts overlap
#: little.
ROLLOUT_LENGTH = 250
#: Init boxes of every start but the clip's first are moved by this share of the target's size
#: (normal noise on each of x, y, w, h), as a user's box is never the annotation.
INIT_NOISE = 0.05
#: A start this close to the clip's end is skipped.
MIN_FRAMES = 5
FAILURE_IOU = 0.5
FAILURE_WEIGHT = 3.0


def record_rollouts(tracker, clip_dirs, start_fractions=START_FRACTIONS, length=ROLLOUT_LENGTH,
                    init_noise=INIT_NOISE, seed=5, log=print) -> list[dict]:
    """Run ``tracker`` over each clip from each start and return one record per tracked frame."""
    rng = np.random.default_rng(seed)
    records = []
    for clip in clip_dirs:
        (sequence,) = load_sequences(Path(clip), "uav_dev")
        truth = np.asarray(sequence.ground_truth, float)
        usable = np.all(np.isfinite(truth), axis=1) & (truth[:, 2] > 1) & (truth[:, 3] > 1)
        count = len(sequence.frames)
        starts = sorted({int(count * fraction) for fraction in start_fractions})
        for first in starts:
            start = first
            while start < count and not usable[start]:
                start += 1
            if start >= count - MIN_FRAMES:
                continue
            box = truth[start].copy()
            if first != starts[0]:
                box += rng.normal(0.0, init_noise, 4) * math.sqrt(box[2] * box[3])
                box[2:] = np.maximum(box[2:], 2.0)
            tracker.initialize(cv2.imread(str(sequence.frames[start])), box)
            template = [start, [float(v) for v in tracker.online_template_source[1]]]
            overlaps = []
            for index in range(start + 1, min(count, start + length)):
                window = tracker.search_window()
                online_frame, online_box = tracker.online_template_source
                result = tracker.track(cv2.imread(str(sequence.frames[index])))
                overlap = float(iou(np.array([result.box]), truth[index:index + 1])[0]) if usable[index] else -1.0
                overlaps.append(overlap)
                records.append({
                    "clip": str(clip), "template": template,
                    "online": [start + online_frame, [float(v) for v in online_box]],
                    "search": index, "window": [window.x1, window.y1, window.side, list(window.center)],
                    "truth": truth[index].tolist() if usable[index] else None,
                    "iou": overlap, "state": result.state, "score": result.score})
            seen = [o for o in overlaps if o >= 0]
            log(f"{Path(clip).name} from frame {start}: {len(overlaps)} frames, mean IoU "
                f"{np.mean(seen) if seen else float('nan'):.2f}")
    return records


def off_target(record) -> bool:
    """The tracker was off on this frame: IoU under ``FAILURE_IOU`` (or no truth to measure), or lost."""
    return record["iou"] < FAILURE_IOU or record["state"] != "tracking"


def record_weights(records) -> np.ndarray:
    """Sampling probabilities: frames where the tracker was off count ``FAILURE_WEIGHT`` times."""
    weights = np.array([FAILURE_WEIGHT if off_target(r) else 1.0 for r in records])
    return weights / weights.sum()


def record_window(record) -> CropWindow:
    x1, y1, side, (cx, cy) = record["window"]
    return CropWindow(int(x1), int(y1), int(side), (float(cx), float(cy)))


def truth_in_crop(record, size: int):
    """The record's true box in its search crop of ``size`` pixels, (x, y, w, h) pixels, mapped as
    the tracker maps predictions back (relative to the window's centre); None when there is no
    truth or its centre lies outside the crop (the tracker had lost the target)."""
    if record["truth"] is None:
        return None
    box = map_box_into(record["truth"], record_window(record), size)
    centre_x, centre_y = box[0] + box[2] / 2, box[1] + box[3] / 2
    if not (0 <= centre_x < size and 0 <= centre_y < size) or min(box[2], box[3]) <= 1:
        return None
    return box


def main(argv=None) -> int:
    from mixformerv2_ros.model.config import demo_model_path
    from mixformerv2_ros.tracker import Tracker
    from mixformerv2_ros.training.train import add_data_arguments, training_clips

    parser = argparse.ArgumentParser(prog="python -m mixformerv2_ros.training.rollouts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    parser.add_argument("--model", type=Path, help="model the tracker runs (default: the shipped demo model)")
    parser.add_argument("--out", type=Path, required=True, help="JSON file of the records")
    parser.add_argument("--length", type=int, default=ROLLOUT_LENGTH,
                        help=f"frames tracked from each start (default: {ROLLOUT_LENGTH})")
    parser.add_argument("--seed", type=int, default=5, help="random seed of the init-box noise (default: 5)")
    args = parser.parse_args(argv)
    tracker = Tracker.from_checkpoint(args.model or demo_model_path())
    clips = training_clips(args)
    records = record_rollouts(tracker, clips, length=args.length, seed=args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(records))
    failing = float(np.mean([off_target(r) for r in records]))
    print(f"{len(records)} records from {len(clips)} clips, {failing:.0%} off target or lost: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
