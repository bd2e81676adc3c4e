"""mixformerv2-eval: run the tracker (and optionally OpenCV's CSRT and TrackerNano) on benchmark sequences.

Writes one JSON per tracker and sequence (boxes, scores, states, step times, measures), a
``summary.json`` and a success plot, and prints a summary table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from mixformerv2_ros.model.config import shared_path
from mixformerv2_ros.tools import metrics
from mixformerv2_ros.tools.datasets import LAYOUTS, Sequence, load_sequences
from mixformerv2_ros.tracker.settings import TrackerSettings

DESCRIPTION = """\
Evaluate MixFormerV2 on tracking sequences: success AUC (IoU thresholds 0..1, 21 steps),
precision at 20 px, normalised precision at 0.2 (pytracking definitions), the size ratio (median
sqrt(predicted / true box area): below 1, boxes too small; above, too big), the size factor
(how many times too big or too small, either way; "size x" in the table), the box fit (median
predicted / true width and height on the frames where IoU >= 0.3: "w fit", "h fit") and speed
(time of the tracker step per frame, image decoding excluded; FPS = 1000 / mean step ms). The
tracker starts from the first frame's ground-truth box; with --starts N it is also restarted N-1
times further into each sequence, and every run counts as one sequence in the means. Frames whose
ground truth is NaN, empty or marked invisible are handled as the benchmark toolkits do (see
mixformerv2_ros.tools.metrics).

Sequence layouts (detected automatically, or --layout):
  uav_dev  DATA/<seq>/img/*.jpg + DATA/<seq>/groundtruth.txt (or DATA is one such sequence)
  lasot    DATA/<class>/<seq>/img/*.jpg + groundtruth.txt, full_occlusion.txt, out_of_view.txt
  got10k   DATA/<seq>/*.jpg + DATA/<seq>/groundtruth.txt
  otb      DATA/<seq>/img/*.jpg + DATA/<seq>/groundtruth_rect.txt
  uav123   DATA/data_seq/UAV123/<seq>/*.jpg + DATA/anno/UAV123/<seq>.txt

Output (--out): <tracker>/<sequence>.json per run, summary.json (per tracker: mean curves,
headline numbers, per-sequence numbers) and success_plot.png.
"""


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="mixformerv2-eval", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("data", type=Path, nargs="+",
                        help="folder(s) holding the sequences (see layouts above); several are read in turn")
    parser.add_argument(
        "--model", type=Path, required=True, help="official .pth.tar checkpoint or exported .onnx"
    )
    parser.add_argument(
        "--backend",
        choices=("onnxruntime", "torch"),
        default="onnxruntime",
        help="inference backend (default: onnxruntime; a .pth.tar is exported once and cached)",
    )
    parser.add_argument(
        "--device", choices=("cpu", "cuda", "auto"), default="cpu", help="device (default: cpu)"
    )
    parser.add_argument(
        "--threads", type=int, help="CPU threads of the backend (default: all cores available)"
    )
    parser.add_argument(
        "--precision",
        choices=("fp32", "auto", "int8", "int8-static", "openvino-fp32", "openvino-bf16", "openvino-int8", "fp16",
                 "bf16"),
        default="fp32",
        help="numeric path (default: fp32; auto: the accuracy gate's choice, as the node's default)",
    )
    parser.add_argument(
        "--layout", choices=("auto",) + LAYOUTS, default="auto", help="sequence layout (default: auto)"
    )
    parser.add_argument("--sequences", help="comma-separated sequence names to run (default: all)")
    parser.add_argument("--max-frames", type=int, help="use only the first N frames of each sequence (of each run)")
    parser.add_argument(
        "--starts", type=int, default=1,
        help="runs per sequence (default: 1, from frame 0): with N > 1 the tracker is also restarted at 1/N, "
        "2/N, ... of each sequence on its ground truth (OTB's TRE); every run weighs the same in the means",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("eval_results"), help="output folder (default: eval_results)"
    )
    parser.add_argument(
        "--baseline",
        action="append",
        choices=BASELINES,
        default=[],
        help="also run this OpenCV tracker on the same frames, repeatable: csrt (CSRT, opencv-contrib) "
        "or nano (TrackerNano, NanoTrack v2, ONNX files from --nano-dir)",
    )
    parser.add_argument(
        "--nano-dir",
        type=Path,
        default=DEFAULT_NANO_DIR,
        help="folder with nanotrack_backbone_sim.onnx and nanotrack_head_sim.onnx for --baseline nano "
        "(default: ../shared/models/nanotrack_v2 beside the checkout)",
    )
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="tracker setting, repeatable (e.g. --set update_interval=10 --set lost_threshold=0); "
        f"names: {', '.join(TrackerSettings.__dataclass_fields__)}",
    )
    args = parser.parse_args(argv)
    if args.max_frames is not None and args.max_frames < 2:
        parser.error("--max-frames must be at least 2 (the first frame only initialises)")
    if args.starts < 1:
        parser.error("--starts must be at least 1")
    try:
        args.settings = dict(_parse_setting(item) for item in args.settings)
        TrackerSettings().replace(**args.settings)
    except ValueError as error:
        parser.error(str(error))
    return args


BASELINES = ("csrt", "nano")
DEFAULT_NANO_DIR = shared_path("models", "nanotrack_v2")


def _parse_setting(item: str):
    name, sep, text = item.partition("=")
    if not sep:
        raise ValueError(f"--set expects NAME=VALUE, got {item!r}")
    for convert in (int, float):
        try:
            return name.strip(), convert(text)
        except ValueError:
            pass
    return name.strip(), None if text.strip().lower() == "none" else text.strip()


class MixFormerRunner:
    name = "mixformerv2"

    def __init__(self, args):
        from mixformerv2_ros.tracker import Tracker

        options = {"threads": args.threads} if args.threads else {}
        self.tracker = Tracker.from_checkpoint(
            args.model, backend=args.backend, device=args.device, precision=args.precision, **options,
            **args.settings
        )

    def start(self, image, box):
        self.tracker.initialize(image, box)

    def step(self, image):
        result = self.tracker.track(image)
        return result.box, result.score, result.state


class OpenCvRunner:
    """An OpenCV tracker (``init``/``update``): keeps the last box it found, reports "lost" when
    ``update`` finds nothing. Subclasses say how to create one and what its score is."""

    name = "opencv"

    def _create(self):
        raise NotImplementedError

    def _score(self):
        return None

    def start(self, image, box):
        self._tracker = self._create()
        self._box = tuple(float(v) for v in box)
        self._tracker.init(image, tuple(int(round(v)) for v in box))

    def step(self, image):
        found, box = self._tracker.update(image)
        if found:
            self._box = tuple(float(v) for v in box)
        return self._box, self._score(), "tracking" if found else "lost"


class CsrtRunner(OpenCvRunner):
    name = "csrt"

    def __init__(self):
        create = getattr(cv2, "TrackerCSRT_create", None) or getattr(
            getattr(cv2, "TrackerCSRT", None), "create", None
        )
        if create is None:
            raise RuntimeError(
                f"OpenCV {cv2.__version__} has no CSRT tracker: install opencv-contrib-python-headless "
                "(same version) instead of opencv-python-headless to use --baseline csrt"
            )
        self._create = create


class NanoRunner(OpenCvRunner):
    """OpenCV's TrackerNano (NanoTrack v2): what a robotics user can pick today for fast CPU tracking."""

    name = "nanotrack"
    FILES = ("nanotrack_backbone_sim.onnx", "nanotrack_head_sim.onnx")

    def __init__(self, model_dir: Path):
        missing = [name for name in self.FILES if not (Path(model_dir) / name).is_file()]
        if missing:
            raise FileNotFoundError(f"--baseline nano: {', '.join(missing)} not found in {model_dir} (--nano-dir)")
        self._params = cv2.TrackerNano_Params()
        self._params.backbone = str(Path(model_dir) / self.FILES[0])
        self._params.neckhead = str(Path(model_dir) / self.FILES[1])

    def _create(self):
        return cv2.TrackerNano_create(self._params)

    def _score(self):
        return float(self._tracker.getTrackingScore())


def make_baseline(name: str, args):
    return CsrtRunner() if name == "csrt" else NanoRunner(args.nano_dir)


#: Fewest frames a restarted run (``--starts``) must have left, the initialising one included.
MIN_RUN_FRAMES = 10


def _frame_count(sequence: Sequence) -> int:
    """Frames that have both an image and a ground-truth box."""
    return min(len(sequence.frames), len(sequence.ground_truth))


def _usable(box) -> bool:
    return bool(np.all(np.isfinite(box)) and box[2] > 0 and box[3] > 0)


def start_frames(sequence: Sequence, starts: int) -> list[int]:
    """First frames of the runs on ``sequence``: frame 0 and, with ``starts`` > 1, the frames
    i/starts of the way through (i = 1 .. starts-1), each moved on to the next frame with a usable
    ground-truth box on a visible target, as OTB's temporal robustness evaluation (TRE) restarts a
    tracker. Why: a tracker's run is chaotic (one early slip decides the rest), so one run per clip
    is a single sample; restarts give several per clip. Restarts with fewer than
    ``MIN_RUN_FRAMES`` frames left are dropped. Frame 0 is always the first start (an unusable box
    there is ``run_sequence``'s error, as without restarts)."""
    count = _frame_count(sequence)
    visible = sequence.visible
    firsts = [0]
    for i in range(1, starts):
        first = (i * count) // starts
        while first < count and not (_usable(sequence.ground_truth[first]) and (visible is None or visible[first])):
            first += 1
        if count - first >= MIN_RUN_FRAMES and first not in firsts:
            firsts.append(first)
    return firsts


def run_sequence(runner, sequence: Sequence, max_frames, start: int = 0) -> dict:
    """Track one sequence from frame ``start`` (default 0), which initialises on the ground truth.
    A run that does not start at frame 0 is named ``<sequence>@<start>``."""
    count = _frame_count(sequence)
    if start == 0 and (count != len(sequence.frames) or count != len(sequence.ground_truth)):
        tqdm.write(
            f"warning: {sequence.name}: {len(sequence.frames)} frames but {len(sequence.ground_truth)} "
            f"boxes; using the first {count}",
            file=sys.stderr,
        )
    if max_frames:
        count = min(count, start + max_frames)
    name = f"{sequence.name}@{start}" if start else sequence.name
    gt = sequence.ground_truth[start:count]
    if not _usable(gt[0]):
        raise ValueError(f"{name}: the first frame has no usable ground-truth box {gt[0].tolist()}")
    boxes, scores, states, step_ms = [gt[0].tolist()], [1.0], ["tracking"], []
    frames = tqdm(
        sequence.frames[start:count], desc=f"{runner.name} {name}", leave=False, file=sys.stderr
    )
    for index, path in enumerate(frames):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"{path}: cannot be read as an image")
        if index == 0:
            runner.start(image, gt[0])
            continue
        started = time.perf_counter()
        box, score, state = runner.step(image)
        step_ms.append((time.perf_counter() - started) * 1e3)
        boxes.append(list(box))
        scores.append(score)
        states.append(state)
    visible = None if sequence.visible is None else sequence.visible[start:count]
    errors = metrics.frame_errors(np.array(boxes), gt, visible, sequence.kind)
    curve = metrics.curves(errors)
    mean_ms = float(np.mean(step_ms))
    return {
        "sequence": name,
        "tracker": runner.name,
        "start_frame": start,
        "frames": count - start,
        "measures": {**metrics.scores(curve), "size_ratio": metrics.run_size_ratio(errors),
                     **metrics.box_fit([(boxes, gt, errors["overlap"])]),
                     "mean_step_ms": mean_ms, "fps": 1000.0 / mean_ms},
        "curves": {name: values.tolist() for name, values in curve.items()},
        "boxes": boxes,
        "scores": scores,
        "states": states,
        "step_ms": step_ms,
        "ground_truth": gt.tolist(),
        "iou": errors["overlap"].tolist(),
    }


def summarize(results: list[dict]) -> dict:
    """Mean curves over sequences (each sequence weighs the same, as in pytracking)."""
    mean_curve = {
        name: np.mean([r["curves"][name] for r in results], axis=0) for name in results[0]["curves"]
    }
    step_ms = np.concatenate([r["step_ms"] for r in results])
    return {
        "sequences": len(results),
        "frames": int(sum(r["frames"] for r in results)),
        "measures": {
            **metrics.scores(mean_curve),
            "size_ratio": metrics.mean_size_ratio([r["measures"]["size_ratio"] for r in results]),
            "size_factor": metrics.size_factor([r["measures"]["size_ratio"] for r in results]),
            **metrics.box_fit([(r["boxes"], r["ground_truth"], r["iou"]) for r in results]),
            "mean_step_ms": float(step_ms.mean()),
            "median_step_ms": float(np.median(step_ms)),
            "fps": float(1000.0 / step_ms.mean()),
        },
        "curves": {name: values.tolist() for name, values in mean_curve.items()},
        "per_sequence": {r["sequence"]: {**r["measures"], "frames": r["frames"]} for r in results},
    }


def plot_success(summary: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    for name, tracker in summary.items():
        axes.plot(
            metrics.OVERLAP_THRESHOLDS,
            tracker["curves"]["success"],
            label=f"{name} [AUC {100 * tracker['measures']['auc']:.1f}]",
        )
    axes.set(
        xlabel="overlap threshold", ylabel="success rate", xlim=(0, 1), ylim=(0, 1.01), title="Success plot"
    )
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left")
    figure.savefig(path, dpi=100)


def print_table(summary: dict) -> None:
    columns = (("frames", 6), ("AUC", 6), ("P@20", 6), ("NP@0.2", 7), ("size", 6), ("size x", 6), ("w fit", 6),
               ("h fit", 6), ("step ms", 8), ("FPS", 7))
    print(f"{'tracker':<12} {'sequence':<16} " + " ".join(f"{name:>{width}}" for name, width in columns))
    for name, tracker in summary.items():
        rows = list(tracker["per_sequence"].items()) + [
            ("ALL", {**tracker["measures"], "frames": tracker["frames"]})
        ]
        for sequence, m in rows:
            factor = m.get("size_factor", metrics.size_factor([m["size_ratio"]]))
            print(
                f"{name:<12} {sequence:<16} {m['frames']:>6} {m['auc']:6.3f} {m['precision']:6.3f} "
                f"{m['norm_precision']:7.3f} {_ratio(m['size_ratio']):>6} {_ratio(factor):>6} "
                f"{_ratio(m['width_fit']):>6} {_ratio(m['height_fit']):>6} "
                f"{m['mean_step_ms']:8.2f} {m['fps']:7.1f}"
            )


def _ratio(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        names = [n.strip() for n in args.sequences.split(",") if n.strip()] if args.sequences else None
        layout = None if args.layout == "auto" else args.layout
        available = {}
        for folder in args.data:
            for sequence in load_sequences(folder, layout):
                if sequence.name in available:
                    raise ValueError(f"sequence {sequence.name} is in more than one data folder")
                available[sequence.name] = sequence
        unknown = [n for n in names or () if n not in available]
        if unknown:
            raise ValueError(f"sequence(s) {unknown} not found in {', '.join(map(str, args.data))}; "
                             f"available: {sorted(available)}")
        sequences = [available[n] for n in names] if names else list(available.values())
        if args.threads:
            cv2.setNumThreads(args.threads)  # the OpenCV baselines get the same CPU budget
        baselines = [make_baseline(name, args) for name in dict.fromkeys(args.baseline)]  # before the model: fail fast
        runners = [MixFormerRunner(args)] + baselines
    except (ValueError, RuntimeError, FileNotFoundError) as error:
        print(f"mixformerv2-eval: error: {error}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for runner in runners:
        (args.out / runner.name).mkdir(exist_ok=True)
        results = []
        for sequence in tqdm(sequences, desc=runner.name, file=sys.stderr):
            for start in start_frames(sequence, args.starts):
                try:
                    result = run_sequence(runner, sequence, args.max_frames, start)
                except ValueError as error:
                    print(f"mixformerv2-eval: error: {error}", file=sys.stderr)
                    return 2
                (args.out / runner.name / f"{result['sequence']}.json").write_text(json.dumps(result))
                results.append(result)
        summary[runner.name] = summarize(results)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    plot_success(summary, args.out / "success_plot.png")
    print_table(summary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
