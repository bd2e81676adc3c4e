"""Tracking benchmark measures with the pytracking definitions used to report MixFormerV2.

Per frame: IoU overlap, centre error in pixels and centre error normalised by the ground-truth
size. Curves: success (IoU > t for 21 thresholds 0, 0.05, .., 1; its mean is the AUC), precision
(centre error <= t for t = 0..50 px; reported at 20 px) and normalised precision (normalised
error <= t for t = 0, 0.01, .., 0.5; reported at 0.2). Every frame counts in the denominator.

Frames without a usable ground truth (NaN or non-positive size, or marked invisible such as
LaSOT's full occlusion / out of view) are handled as pytracking does: they never count as a
success for the IoU curve; for the centre-error curves they count as successes (error -1) on
UAV123 and as failures on LaSOT (and, for pixel precision, elsewhere). Predictions of zero size
are replaced by the previous frame's, and frame 0 is taken as the ground truth.

One more measure, not pytracking's: the **size ratio**, the median over a run's frames (frame 0
left out) of sqrt(predicted area / true area). AUC mixes a box in the wrong place with a box of
the wrong size; the size ratio says which (1.0: sizes right; 0.7: boxes too small). Over several
runs it is their geometric mean, each run weighing the same; and the **size factor**, the
geometric mean of max(ratio, 1 / ratio), says how many times too big or too small a run's boxes
typically are (a run twice too big and one half too small: ratio 1.0, factor 2.0).

And the **box fit**, the width and height apart, on the frames where the tracker is on its
target (IoU at least 0.3, frame 0 left out): the median of predicted / true width, and of
height. The size ratio counts every frame, so a box lost on the background and a box around two
cars of a queue move it as much as a box that is 10 % too narrow on its target; the fit leaves
those out and says whether the boxes that did find the target enclose it (1.0) or only its core
(below 1). Over several runs the median is over all their frames on target together.
"""

from __future__ import annotations

import numpy as np

OVERLAP_THRESHOLDS = np.linspace(0.0, 1.0, 21)
CENTER_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
NORM_CENTER_THRESHOLDS = np.arange(0, 51, dtype=np.float64) / 100.0
PRECISION_PIXELS = 20.0
NORM_PRECISION_THRESHOLD = 0.2


def iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU of (N, 4) x, y, w, h boxes, row by row."""
    left = np.maximum(pred[:, 0], gt[:, 0])
    top = np.maximum(pred[:, 1], gt[:, 1])
    right = np.minimum(pred[:, 0] + pred[:, 2], gt[:, 0] + gt[:, 2])
    bottom = np.minimum(pred[:, 1] + pred[:, 3], gt[:, 1] + gt[:, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    union = pred[:, 2] * pred[:, 3] + gt[:, 2] * gt[:, 3] - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        # rounding can push equal boxes a hair above 1, where "IoU > 1" would then count
        return np.where(union > 0, np.minimum(inter / union, 1.0), 0.0)


def center_error(pred: np.ndarray, gt: np.ndarray, normalized: bool = False) -> np.ndarray:
    """Distance between box centres; with ``normalized`` each axis is divided by the gt size."""
    delta = (pred[:, :2] + 0.5 * pred[:, 2:]) - (gt[:, :2] + 0.5 * gt[:, 2:])
    if normalized:
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = delta / gt[:, 2:]
    return np.sqrt((delta**2).sum(axis=1))


def size_ratio(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """sqrt(predicted area / true area) of (N, 4) x, y, w, h boxes, row by row (NaN without a true area)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        gt_area = gt[:, 2] * gt[:, 3]
        return np.where(gt_area > 0, np.sqrt(pred[:, 2] * pred[:, 3] / gt_area), np.nan)


def run_size_ratio(errors: dict[str, np.ndarray]) -> float | None:
    """A run's size ratio: the median over its valid frames after frame 0 (None if it has none)."""
    ratios = errors["size"][1:][errors["valid"][1:]]
    return float(np.median(ratios)) if len(ratios) else None


def mean_size_ratio(ratios) -> float | None:
    """Geometric mean of runs' size ratios (a box twice too big and one half too small cancel)."""
    ratios = [r for r in ratios if r is not None and r > 0]
    return float(np.exp(np.mean(np.log(ratios)))) if ratios else None


def size_factor(ratios) -> float | None:
    """Geometric mean of max(r, 1 / r) over runs' size ratios: how far off sizes are, either way."""
    ratios = [r for r in ratios if r is not None and r > 0]
    return float(np.exp(np.mean(np.abs(np.log(ratios))))) if ratios else None


#: IoU from which a frame counts as "on target" for the box fit.
FIT_MIN_OVERLAP = 0.3


def fit_log_ratios(pred, gt, overlap) -> tuple[np.ndarray, np.ndarray]:
    """log(predicted / true) width and height of the frames on target (``overlap`` at least
    ``FIT_MIN_OVERLAP``; frame 0, the given box, left out), from (N, 4) x, y, w, h boxes and the
    per-frame overlap of ``frame_errors`` (-1 where the frame has no usable ground truth)."""
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    overlap = np.asarray(overlap, dtype=np.float64)
    count = min(len(pred), len(gt), len(overlap))
    on_target = np.zeros(count, dtype=bool)
    on_target[1:] = overlap[1:count] >= FIT_MIN_OVERLAP
    # a zero-size prediction scores the previous frame's overlap (frame_errors); it has no fit
    on_target &= (pred[:count, 2] > 0) & (pred[:count, 3] > 0)
    pred, gt = pred[:count][on_target], gt[:count][on_target]
    return np.log(pred[:, 2] / gt[:, 2]), np.log(pred[:, 3] / gt[:, 3])


def median_ratio(log_ratios) -> float | None:
    """exp(median) of log ratios (None if there are none)."""
    log_ratios = np.asarray(log_ratios, dtype=np.float64)
    return float(np.exp(np.median(log_ratios))) if len(log_ratios) else None


def box_fit(runs) -> dict[str, float | None]:
    """``width_fit`` and ``height_fit`` over ``runs``, each a (boxes, ground truth, overlap)
    triple: the median ratio over all their frames on target together."""
    widths, heights = [], []
    for boxes, gt, overlap in runs:
        width, height = fit_log_ratios(boxes, gt, overlap)
        widths.append(width)
        heights.append(height)
    return {"width_fit": median_ratio(np.concatenate(widths) if widths else []),
            "height_fit": median_ratio(np.concatenate(heights) if heights else [])}


def frame_errors(pred, gt, visible=None, dataset: str = "") -> dict[str, np.ndarray]:
    """Per-frame ``overlap``, ``center``, ``norm_center`` errors and ``size`` ratio, plus the ``valid`` mask.

    ``dataset`` selects pytracking's handling of frames without ground truth ("uav", "lasot" or
    anything else; see the module docstring). ``pred`` shorter than ``gt`` is padded with empty
    boxes (counted as failures), longer is cut.
    """
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)[: len(gt)].copy()
    if np.isnan(pred).any() or (pred[:, 2:] < 0).any():
        raise ValueError("predicted boxes contain NaN or negative sizes")
    gt_known = ~np.isnan(gt).any(axis=1)
    for i in range(1, len(pred)):
        if (pred[i, 2:] == 0).any() and gt_known[i]:
            pred[i] = pred[i - 1]
    if len(pred) < len(gt):
        pred = np.vstack([pred, np.zeros((len(gt) - len(pred), 4))])
    pred[0] = gt[0]
    with np.errstate(invalid="ignore"):
        valid = (gt[:, 2] > 0) & (gt[:, 3] > 0)
    if visible is not None:
        visible = np.asarray(visible, dtype=bool)
        valid &= visible
    overlap = iou(pred, gt)
    center = center_error(pred, gt)
    norm_center = center_error(pred, gt, normalized=True)
    size = size_ratio(pred, gt)
    size[~valid] = np.nan
    overlap[~valid] = -1.0
    center[~valid] = -1.0 if dataset == "uav" else np.inf
    norm_center[~valid] = -1.0
    if dataset == "lasot" and visible is not None:
        center[~visible] = np.inf
        norm_center[~visible] = np.inf
    return {"overlap": overlap, "center": center, "norm_center": norm_center, "size": size, "valid": valid}


def curves(errors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Success, precision and normalised-precision curves of one sequence."""
    count = len(errors["overlap"])
    return {
        "success": (errors["overlap"][:, None] > OVERLAP_THRESHOLDS[None]).sum(0) / count,
        "precision": (errors["center"][:, None] <= CENTER_THRESHOLDS[None]).sum(0) / count,
        "norm_precision": (errors["norm_center"][:, None] <= NORM_CENTER_THRESHOLDS[None]).sum(0) / count,
    }


def scores(curve: dict[str, np.ndarray]) -> dict[str, float]:
    """Headline numbers of (mean) curves: success AUC, precision@20px, normalised precision@0.2."""
    return {
        "auc": float(np.mean(curve["success"])),
        "precision": float(curve["precision"][int(PRECISION_PIXELS)]),
        "norm_precision": float(curve["norm_precision"][int(round(NORM_PRECISION_THRESHOLD * 100))]),
    }
