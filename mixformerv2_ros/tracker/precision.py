"""``precision: auto``: the fastest CPU path that keeps this model's tracking, else fp32.

Low precision is judged by what it does to tracking, on real frames, for the model actually
loaded: a random-weight network magnifies rounding until its boxes wander off, a trained one
usually does not care. So every candidate path (ONNX Runtime dynamic int8 and static QDQ int8
calibrated on the same frames; OpenVINO fp32, bf16, and int8 on the QDQ graph) tracks the gate
clip that ships with the package (33 frames of Big Buck Bunny, (c) Blender Foundation, CC-BY 3.0)
from the same box as fp32, and passes when

* the median IoU of its boxes against fp32's boxes is at least ``MIN_MEDIAN_IOU`` and the
  10th percentile at least ``MIN_P10_IOU`` (the track stays together, not just on average), and
* its scores stay within ``MAX_MEAN_SCORE_DIFF`` of fp32's on average (the lost-target rule
  reads the score).

Among the paths that pass, the fastest measured step wins, if it beats fp32 by at least
``MIN_SPEEDUP``; otherwise fp32 runs. The verdict, with every candidate's figures and reason, is
cached on disk keyed by the model's bytes, the candidate set, the gate's tracker settings, this
machine's CPU (model and vector extensions: the same CPU name comes with and without AVX-512 or
VNNI) and the thread count, so a node starts in milliseconds the second time. The tracks run
with the lost-target rule and the size smoothing off (``lost_threshold=0``, ``size_smoothing=0``):
they compare networks, not state machines or filters that hide a network's drift.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mixformerv2_ros.model.config import DEMO_MODEL
from mixformerv2_ros.tracker.settings import TrackerSettings

GATE_VERSION = 3
#: The gate's tracker: the defaults, lost-target rule and size smoothing off (it compares
#: networks; the smoothing damps a drifting network's boxes enough to let the random-weight
#: model's int8 graph pass). Part of the cache key: a new default (the online-template interval,
#: say) changes the tracks compared, so the verdict is measured again.
GATE_SETTINGS = TrackerSettings(lost_threshold=0.0, size_smoothing=0.0)
#: The gate clip: frames of Big Buck Bunny at 640x360 and the rabbit's box in the first one.
GATE_CLIP = DEMO_MODEL.with_name("gate_clip.mp4")
GATE_INIT_BOX = (118.0, 128.0, 140.0, 147.0)
MIN_MEDIAN_IOU = 0.9
MIN_P10_IOU = 0.7
MAX_MEAN_SCORE_DIFF = 0.05
MIN_SPEEDUP = 1.1
#: Candidate CPU paths (``backends.CPU_PATHS`` but the fp32 reference), in the order they are tried.
CANDIDATES = ("int8", "int8-static", "openvino-fp32", "openvino-bf16", "openvino-int8")
PRECISIONS = ("fp32",) + CANDIDATES
#: The paths that compute in fp32 (ONNX Runtime's, the reference, and OpenVINO's kernels).
FP32_PATHS = ("fp32", "openvino-fp32")


@dataclass(frozen=True)
class PathReport:
    """How one path did at the gate."""

    precision: str
    passed: bool
    step_ms: float | None  # None: the path could not be built here (see reason)
    median_iou: float = 1.0
    p10_iou: float = 1.0
    mean_score_diff: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class PrecisionChoice:
    """The path ``auto`` chose, why, and what every path measured."""

    precision: str
    step_ms: float
    reason: str
    reports: tuple = field(default_factory=tuple)
    cached: bool = False

    def summary(self) -> str:
        parts = [f"{r.precision}: {r.reason}" if r.step_ms is None else
                 f"{r.precision}: {'pass' if r.passed else 'refused'}, {r.step_ms:.2f} ms"
                 + (f", median IoU {r.median_iou:.3f}, p10 IoU {r.p10_iou:.3f}, score diff "
                    f"{r.mean_score_diff:.3f}" if r.precision != "fp32" else "")
                 for r in self.reports]
        return f"precision auto -> {self.precision} ({self.reason}); " + "; ".join(parts)


def read_gate_clip(path=GATE_CLIP) -> list[np.ndarray]:
    """The gate clip's frames (BGR)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if len(frames) < 10:
        raise RuntimeError(f"gate clip {path} gave {len(frames)} frames (expected 33); is it installed?")
    return frames


def track_clip(backend, frames, box=GATE_INIT_BOX):
    """Boxes and scores of the tracker (lost-target rule off) along ``frames``."""
    from mixformerv2_ros.tracker.tracker import Tracker

    tracker = Tracker(backend, GATE_SETTINGS)
    tracker.initialize(frames[0], box)
    results = [tracker.track(frame) for frame in frames[1:]]
    return [r.box for r in results], np.array([r.score for r in results])


def time_step(backend, repeats: int = 30) -> float:
    """Median milliseconds of one ``predict`` on a fixed crop (templates set)."""
    config = backend.config
    rng = np.random.default_rng(0)
    template = rng.standard_normal((1, 3, config.template_size, config.template_size)).astype(np.float32)
    search = rng.standard_normal((1, 3, config.search_size, config.search_size)).astype(np.float32)
    backend.set_templates(template, template)
    for _ in range(3):
        backend.predict(search)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        backend.predict(search)
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


def compare(reference, candidate) -> tuple[float, float, float]:
    """(median IoU, 10th-percentile IoU, mean |score difference|) of a track against fp32's."""
    (ref_boxes, ref_scores), (boxes, scores) = reference, candidate
    from mixformerv2_ros.tools.metrics import iou  # the evaluation's IoU (numpy only), one definition

    ious = iou(np.asarray(ref_boxes, dtype=float), np.asarray(boxes, dtype=float))
    return float(np.median(ious)), float(np.percentile(ious, 10)), float(np.mean(np.abs(ref_scores - scores)))


def judge(precision, reference, candidate, step_ms) -> PathReport:
    median_iou, p10_iou, score_diff = compare(reference, candidate)
    failures = []
    if median_iou < MIN_MEDIAN_IOU:
        failures.append(f"median IoU {median_iou:.3f} < {MIN_MEDIAN_IOU}")
    if p10_iou < MIN_P10_IOU:
        failures.append(f"p10 IoU {p10_iou:.3f} < {MIN_P10_IOU}")
    if score_diff > MAX_MEAN_SCORE_DIFF:
        failures.append(f"mean score difference {score_diff:.3f} > {MAX_MEAN_SCORE_DIFF}")
    reason = ("its track drifts from fp32's on the gate clip: " + ", ".join(failures)) if failures \
        else "tracks the gate clip like fp32"
    return PathReport(precision, not failures, step_ms, median_iou, p10_iou, score_diff, reason)


def _cache_file(step_path, threads) -> Path:
    from mixformerv2_ros.tracker.backends import cache_dir, cpu_description

    digest = hashlib.sha256(Path(step_path).read_bytes())
    digest.update(json.dumps([GATE_VERSION, CANDIDATES, MIN_MEDIAN_IOU, MIN_P10_IOU, MAX_MEAN_SCORE_DIFF,
                              MIN_SPEEDUP, asdict(GATE_SETTINGS), cpu_description(), threads]).encode())
    return cache_dir().parent / "precision_gate" / f"{digest.hexdigest()[:32]}.json"


def choose_precision(step_path, threads: int | None = None, log=None) -> PrecisionChoice:
    """Gate every candidate path of this exported model and pick the fastest that passes.

    The result is cached (see the module docstring); ``log`` receives progress lines.
    """
    from mixformerv2_ros.tracker.backends import OnnxRuntimeBackend, cpu_path_backend

    cache = _cache_file(step_path, threads)
    if cache.is_file():
        try:
            data = json.loads(cache.read_text())
            reports = tuple(PathReport(**r) for r in data["reports"])
            return PrecisionChoice(data["precision"], data["step_ms"], data["reason"], reports, cached=True)
        except (ValueError, KeyError, TypeError):
            pass  # an unreadable cache is measured again
    frames = read_gate_clip()
    fp32 = OnnxRuntimeBackend(step_path, threads=threads)
    reference = track_clip(fp32, frames)
    fp32_ms = time_step(fp32)
    fp32.close()
    reports = [PathReport("fp32", True, fp32_ms, reason="reference")]
    for precision in CANDIDATES:
        if log:
            log(f"precision gate: trying {precision}")
        try:
            backend = cpu_path_backend(step_path, precision, threads, frames)
        except Exception as exc:  # a quantiser failure refuses the path, it does not stop the node
            reports.append(PathReport(precision, False, None, 0.0, 0.0, 1.0, f"could not be built: {exc}"))
            continue
        track = track_clip(backend, frames)
        reports.append(judge(precision, reference, track, time_step(backend)))
        backend.close()
    passed = [r for r in reports[1:] if r.passed]
    fastest = min(passed, key=lambda r: r.step_ms, default=None)
    if fastest is None:
        choice = PrecisionChoice("fp32", fp32_ms, "no low-precision path passed the accuracy gate", tuple(reports))
    elif fp32_ms < MIN_SPEEDUP * fastest.step_ms:
        choice = PrecisionChoice("fp32", fp32_ms, f"{fastest.precision} passed but is not {MIN_SPEEDUP}x faster",
                                 tuple(reports))
    else:
        choice = PrecisionChoice(fastest.precision, fastest.step_ms,
                                 f"fastest path that passed the accuracy gate, {fp32_ms / fastest.step_ms:.1f}x fp32",
                                 tuple(reports))
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"precision": choice.precision, "step_ms": choice.step_ms, "reason": choice.reason,
                               "reports": [asdict(r) for r in reports]}, indent=1))
    tmp.replace(cache)
    return choice
