"""mixformerv2-video: track an object through a video file or image folder and write an annotated
video (box, score, state and frame number drawn on every frame)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from mixformerv2_ros.tools.datasets import FrameSource

DESCRIPTION = """\
Track the object inside --box (x,y,w,h in pixels of the first frame used) through SOURCE, a video
file or a folder of images (sorted by name; a folder with an img/ subfolder also works), and
write OUT with the tracked box drawn in green while tracking and red while lost, plus the score,
the state and the frame number. OUT is written with the mp4v codec; if this OpenCV build cannot
write it, the video is written as Motion-JPEG to OUT with the suffix .avi instead. The path
actually written and the mean tracker step time are printed at the end.
"""

COLORS = {"tracking": (0, 200, 0), "lost": (0, 0, 255)}


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="mixformerv2-video",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("source", type=Path, help="video file or image folder")
    parser.add_argument("--box", required=True, help="initial box x,y,w,h in pixels of the first frame used")
    parser.add_argument(
        "--model", type=Path, required=True, help="official .pth.tar checkpoint or exported .onnx"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("tracked.mp4"), help="annotated video (default: tracked.mp4)"
    )
    parser.add_argument(
        "--backend",
        choices=("onnxruntime", "torch"),
        default="onnxruntime",
        help="inference backend (default: onnxruntime)",
    )
    parser.add_argument(
        "--device", choices=("cpu", "cuda", "auto"), default="cpu", help="device (default: cpu)"
    )
    parser.add_argument(
        "--start-frame", type=int, default=0, help="index of the first frame to use (default: 0)"
    )
    parser.add_argument("--max-frames", type=int, help="stop after this many frames")
    parser.add_argument("--fps", type=float, help="frame rate of the output (default: the source's, else 30)")
    args = parser.parse_args(argv)
    try:
        args.box = tuple(float(v) for v in args.box.split(","))
        if len(args.box) != 4:
            raise ValueError
    except ValueError:
        parser.error(f"--box expects x,y,w,h (4 numbers), got {args.box!r}")
    if args.start_frame < 0 or (args.max_frames is not None and args.max_frames < 1):
        parser.error("--start-frame must be >= 0 and --max-frames >= 1")
    return args


def annotate(frame: np.ndarray, box, score: float, state: str, index: int) -> None:
    """Draw the box and a status line onto ``frame`` in place."""
    x, y, w, h = box
    color = COLORS.get(state, (255, 255, 255))
    cv2.rectangle(frame, (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h))), color, 2)
    text = f"#{index} {state} score {score:.2f}"
    cv2.putText(frame, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(frame, text, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, color, 1, cv2.LINE_AA)


def open_writer(path: Path, fps: float, size) -> tuple[cv2.VideoWriter, Path]:
    """An opened writer for ``path`` (mp4v), or for ``path`` with suffix .avi (MJPG) as fallback."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for codec, target in (("mp4v", path), ("MJPG", path.with_suffix(".avi"))):
        writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*codec), fps, size)
        if writer.isOpened():
            return writer, target
        writer.release()
    raise RuntimeError(f"OpenCV cannot write {path} (mp4v) nor {path.with_suffix('.avi')} (MJPG)")


def main(argv=None) -> int:
    args = parse_args(argv)
    from mixformerv2_ros.tracker import InvalidInputError, Tracker

    try:
        source = FrameSource(args.source, args.start_frame)
        tracker = Tracker.from_checkpoint(args.model, backend=args.backend, device=args.device)
    except (ValueError, RuntimeError, FileNotFoundError) as error:
        print(f"mixformerv2-video: error: {error}", file=sys.stderr)
        return 2
    total = len(source)
    if args.max_frames:
        total = min(total, args.max_frames)
    writer, written, step_ms = None, None, []
    try:
        for index, frame in enumerate(tqdm(source, total=total or None, file=sys.stderr, desc="tracking")):
            if args.max_frames and index >= args.max_frames:
                break
            if index == 0:
                tracker.initialize(frame, args.box)
                box, score, state = tracker.box, 1.0, tracker.state
                height, width = frame.shape[:2]
                writer, written = open_writer(args.out, args.fps or source.fps or 30.0, (width, height))
            else:
                started = time.perf_counter()
                result = tracker.track(frame)
                step_ms.append((time.perf_counter() - started) * 1e3)
                box, score, state = result.box, result.score, result.state
            annotate(frame, box, score, state, index)
            writer.write(frame)
    except (InvalidInputError, RuntimeError, ValueError) as error:
        print(f"mixformerv2-video: error: {error}", file=sys.stderr)
        return 2
    finally:
        source.close()
        if writer is not None:
            writer.release()
    mean_ms = float(np.mean(step_ms)) if step_ms else float("nan")
    print(f"wrote {written} ({len(step_ms) + 1} frames); mean tracker step {mean_ms:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
