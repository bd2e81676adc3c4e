"""The MixFormerV2 tracker: one object, initialised on a box, followed frame by frame.

Per frame it cuts the search crop around the previous box (the *prior*), runs the network through
an inference backend, maps the predicted box back to the frame and clips it to the frame, as the
official ``MixFormerOnline`` tracker does (which also keeps every side at least 10 px; here that
floor holds for the search crop, while the box may be as small as ``min_box_side``). The online
template follows the official rule: every ``update_interval`` frames it becomes the best template
crop whose score exceeded ``online_score_threshold`` since the last replacement, or the first
template if none did. On top of that a lost-target state machine (``lost_target``) freezes the
templates and widens the search while the target is gone, a whole-frame re-acquisition
(``reacquire``) looks for it outside the local search region, the box's size changes only part of
the way to the network's each frame (``TrackerSettings.size_smoothing``), and the reported box's
size is corrected by the network's bias on the first frame (``TrackerSettings.size_calibration``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mixformerv2_ros.tracker.crop import (
    CLIP_MARGIN,
    CropExtractor,
    CropWindow,
    Normalizer,
    clip_box,
    crop_window,
    map_box_back,
)
from mixformerv2_ros.tracker.errors import InvalidInputError
from mixformerv2_ros.tracker.lost_target import LOST, TRACKING, LostTargetMonitor
from mixformerv2_ros.tracker.reacquire import WindowCycle
from mixformerv2_ros.tracker.settings import TrackerSettings

IDLE = "idle"
#: Bound on the first frame's size ratio (and so on the correction): a network that is off by
#: more than this on the frame it was initialised on is failing, not biased.
MAX_SIZE_RATIO = 2.0


@dataclass(frozen=True)
class TrackResult:
    """One tracked frame: ``box`` (x, y, w, h) in pixels, ``score`` in 0..1, ``state``
    ("tracking" or "lost"), ``frame_index`` (frames since ``initialize``, which is 0) and
    ``crops``, the search crops the network ran on (1, plus the re-acquisition windows while lost:
    the frame's cost in network steps). ``weak``: tracking, but scoring below ``lost_threshold``;
    the box is the network's guess, which the tracker does not follow (``lost_target``). While
    tracking, the box's size is smoothed (``size_smoothing``); the reported size is also corrected
    by ``size_calibration``, and the search follows ``Tracker.box``, smoothed but uncorrected
    (``Tracker.search_window``). Box sides are at least ``min_box_side``."""

    box: tuple[float, float, float, float]
    score: float
    state: str
    frame_index: int
    crops: int = 1
    weak: bool = False


class Tracker:
    """Single-object tracker on top of an ``InferenceBackend``.

    Images are H x W x 3 uint8 arrays in BGR order by default (as OpenCV and most camera drivers
    deliver them); pass ``color_order="rgb"`` for RGB images. Boxes are (x, y, w, h) in pixels,
    top-left corner first. A box partly outside the image is clamped to the image; a box wholly
    outside it, empty or non-finite raises ``InvalidInputError``.
    """

    def __init__(self, backend, settings: TrackerSettings | None = None):
        self._backend = backend
        config = backend.config
        self._search_size = int(config.search_size)
        self._template_size = int(config.template_size)
        self._model_factors = (float(config.search_factor), float(config.template_factor))
        self._requested = settings or TrackerSettings()
        self._settings = self._requested.resolved(*self._model_factors)
        self._normalize = Normalizer(config.mean, config.std)
        self._extract_crop = CropExtractor()
        self._windows = WindowCycle()
        self.reset()

    @classmethod
    def from_checkpoint(cls, path, backend: str = "onnxruntime", device: str = "cpu", **overrides):
        """Tracker for an official ``.pth.tar`` or an exported ``.onnx`` model.

        ``overrides`` that name ``TrackerSettings`` fields set those; the rest go to
        ``create_backend`` (for example ``threads``). With a ``.pth.tar`` and the onnxruntime
        backend the model is exported once and cached on disk, keyed by the checkpoint content.
        """
        from mixformerv2_ros.tracker.backends import create_backend

        setting_names = TrackerSettings.__dataclass_fields__.keys()
        settings = TrackerSettings().replace(**{k: v for k, v in overrides.items() if k in setting_names})
        backend_options = {k: v for k, v in overrides.items() if k not in setting_names}
        return cls(create_backend(path, backend=backend, device=device, **backend_options), settings)

    @property
    def settings(self) -> TrackerSettings:
        """The settings in force (factors resolved against the model)."""
        return self._settings

    def update_settings(self, **changes) -> TrackerSettings:
        """Apply ``changes`` from the next frame on; invalid ones raise ValueError, changing nothing.

        A factor set to ``None`` goes back to its default (the model's value; 4/3 of the search
        factor for ``lost_search_factor``).
        """
        requested = self._requested.replace(**changes)
        self._settings = requested.resolved(*self._model_factors)
        self._requested = requested
        return self._settings

    @property
    def state(self) -> str:
        """Either "idle" (before ``initialize``, after ``reset``), "tracking" or "lost"."""
        return IDLE if self._monitor is None else self._monitor.state

    @property
    def box(self) -> tuple[float, float, float, float] | None:
        """The prior: the box the next search region is centred on (None while idle)."""
        return self._prior

    @box.setter
    def box(self, box_xywh):
        if self._monitor is None:
            raise RuntimeError("the tracker is idle: call initialize() before setting its box")
        self._prior = _checked_box(box_xywh, self._frame_shape)
        self._monitor.move_prior(self._prior)

    @property
    def online_template_source(self) -> tuple[int, tuple[float, float, float, float]] | None:
        """(frame index since ``initialize``, box) the online template was cut from: (0, the
        initial box) until the first replacement; None while idle. What a training rollout records
        to cut the same template again (``training.rollouts``)."""
        return self._online_source

    @property
    def init_size_ratio(self) -> tuple[float, float]:
        """Predicted over true width and height on the initialisation frame, each within 1/2..2:
        the network's size bias for this target, which ``size_calibration`` takes out of the
        reported boxes. Measured by ``initialize`` (one network step) when ``size_calibration``
        is above 0 then; (1, 1) otherwise and while idle, so turning the calibration on takes
        effect from the next ``initialize``."""
        return self._init_size_ratio

    def search_window(self) -> CropWindow:
        """The ``CropWindow`` the next frame's search crop is cut from: around ``box`` (grown to
        10 px sides if smaller), ``search_factor`` times its size, or ``lost_search_factor`` while
        lost."""
        if self._monitor is None:
            raise RuntimeError("the tracker is idle: call initialize() first")
        settings = self._settings
        factor = settings.lost_search_factor if self._monitor.state == LOST else settings.search_factor
        return crop_window(_search_box(self._prior), factor)

    @property
    def backend(self):
        return self._backend

    def reset(self) -> None:
        """Forget the target; the tracker is idle until the next ``initialize``."""
        self._monitor = None
        self._prior = None
        self._frame_shape = None
        self._frame_index = 0
        self._template = None
        self._online_template = None
        self._static_source = self._online_source = None
        self._candidate = None
        self._candidate_source = None
        self._candidate_score = -1.0
        self._init_size_ratio = (1.0, 1.0)
        self._windows.reset()

    def close(self) -> None:
        """Release the backend's memory (GPU); the tracker cannot be used afterwards."""
        self._backend.close()

    def initialize(self, image: np.ndarray, box_xywh) -> None:
        """Start tracking the object inside ``box_xywh`` (x, y, w, h pixels) of ``image``."""
        image = _checked_image(image)
        box = _checked_box(box_xywh, image.shape[:2])
        template = self._template_input(image, box)
        self._backend.set_templates(template, template)
        self.reset()
        self._template = self._online_template = template
        self._static_source = self._online_source = (0, box)
        self._frame_shape = image.shape[:2]
        self._prior = box
        self._monitor = LostTargetMonitor(box)
        if self._settings.size_calibration > 0.0:  # off: no extra step, as the official tracker
            self._init_size_ratio = self._measure_size_ratio(image, box)

    def track(self, image: np.ndarray) -> TrackResult:
        """Find the target in the next frame."""
        if self._monitor is None:
            raise RuntimeError("the tracker is idle: call initialize() first")
        image = _checked_image(image)
        height, width = image.shape[:2]
        settings = self._settings
        lost = self._monitor.state == LOST
        window = self.search_window()
        search = self._normalize(self._extract_crop(image, window, self._search_size), self._bgr)
        prediction = _checked_prediction(self._backend.predict(search))
        score = float(prediction.score)
        box = map_box_back(prediction.box_cxcywh, window)
        if not lost:  # while lost, boxes are re-acquisition candidates, taken as they are
            box = self._size_smoothed(box, score, settings.size_smoothing)
        box = clip_box(box, height, width, settings.min_box_side)
        crops = 1
        if lost and settings.reacquire_windows:
            found_box, found_score, windows = self._search_whole_frame(image, settings)
            crops += windows
            if found_score > score and found_score >= settings.recover_threshold:
                box, score = found_box, found_score

        self._frame_index += 1
        self._frame_shape = (height, width)
        decision = self._monitor.step(score, box, settings)
        self._prior = decision.prior_box
        if decision.state == TRACKING:
            self._update_online_template(image, box, score, settings)
        elif decision.entered_lost:
            self._drop_candidate()
        reported = self._size_calibrated(decision.reported_box, settings.size_calibration, height, width)
        return TrackResult(reported, score, decision.state, self._frame_index, crops, decision.weak)

    def _measure_size_ratio(self, image, box) -> tuple[float, float]:
        """Run the network on the first frame's search crop, centred on the true box: its box's
        width and height over the true ones (unclipped, each clamped to 1/2..2)."""
        window = self.search_window()  # around ``box``: it is the prior of the first frame
        search = self._normalize(self._extract_crop(image, window, self._search_size), self._bgr)
        prediction = _checked_prediction(self._backend.predict(search))
        _, _, width, height = map_box_back(prediction.box_cxcywh, window)
        return tuple(float(np.clip(predicted / true, 1.0 / MAX_SIZE_RATIO, MAX_SIZE_RATIO))
                     for predicted, true in ((width, box[2]), (height, box[3])))

    def _size_smoothed(self, box, score: float, share: float):
        """``box`` with its width and height moved only ``(1 - share) * score`` of the way from the
        prior's (the box this frame's search crop was scaled from), about ``box``'s centre.

        Why: the next crop is scaled from this box, so an unsmoothed size error of one frame
        rescales the next search (``TrackerSettings.size_smoothing``)."""
        if share == 0.0:
            return box
        rate = (1.0 - share) * score
        _, _, prior_w, prior_h = self._prior
        return _resized(box, prior_w + rate * (box[2] - prior_w), prior_h + rate * (box[3] - prior_h))

    def _size_calibrated(self, box, share: float, height: int, width: int):
        """``box`` with its size divided by the first frame's ratio ** ``share``, about its centre."""
        if share == 0.0 or self._init_size_ratio == (1.0, 1.0):
            return box
        _, _, w, h = box
        return clip_box(_resized(box, w / self._init_size_ratio[0] ** share, h / self._init_size_ratio[1] ** share),
                        height, width, self._settings.min_box_side)

    def _search_whole_frame(self, image, settings):
        """(best box, its score, windows run) over the next re-acquisition windows of the frame."""
        height, width = image.shape[:2]
        windows = self._windows.next((height, width), _search_box(self._prior), settings.lost_search_factor,
                                     settings.reacquire_windows)
        crops = np.concatenate([self._normalize(self._extract_crop(image, w, self._search_size), self._bgr)
                                for w in windows])
        predictions = self._backend.predict_batch(crops)
        best = max(range(len(windows)), key=lambda i: predictions[i].score)
        box, score = _frame_box(predictions[best], windows[best], height, width, settings.min_box_side)
        return box, score, len(windows)

    @property
    def _bgr(self) -> bool:
        return self._settings.color_order == "bgr"

    def _template_input(self, image: np.ndarray, box) -> np.ndarray:
        window = crop_window(box, self._settings.template_factor)
        return self._normalize(self._extract_crop(image, window, self._template_size), self._bgr)

    def _update_online_template(self, image, box, score, settings) -> None:
        if score > settings.online_score_threshold and score > self._candidate_score:
            self._candidate = self._template_input(image, box)
            self._candidate_source = (self._frame_index, box)
            self._candidate_score = score
        if self._frame_index % settings.update_interval == 0:
            replacement = self._template if self._candidate is None else self._candidate
            if replacement is not self._online_template:
                self._online_template = replacement
                self._online_source = self._candidate_source if self._candidate is not None else self._static_source
                self._backend.set_templates(self._template, self._online_template)
            self._drop_candidate()

    def _drop_candidate(self) -> None:
        self._candidate = None
        self._candidate_source = None
        self._candidate_score = -1.0


def _search_box(box):
    """``box`` grown about its centre to sides of at least ``CLIP_MARGIN`` (10 px): the box the
    search crop (and a re-acquisition window) is cut around. The official tracker's boxes never get
    smaller than that, so its search region never does; the box itself may now be smaller
    (``TrackerSettings.min_box_side``), its search region may not: a crop cut around a 3 px box
    would show the network too little around the target to find it again."""
    _, _, w, h = box
    if w >= CLIP_MARGIN and h >= CLIP_MARGIN:
        return box
    return _resized(box, max(w, CLIP_MARGIN), max(h, CLIP_MARGIN))


def _resized(box, width: float, height: float):
    """``box`` (x, y, w, h) with the given size, about the same centre."""
    x, y, w, h = box
    return (x + 0.5 * (w - width), y + 0.5 * (h - height), width, height)


def _checked_prediction(prediction):
    """``prediction``, if its box and score are finite; RuntimeError otherwise."""
    if not (math.isfinite(float(prediction.score)) and np.all(np.isfinite(prediction.box_cxcywh))):
        raise RuntimeError("the inference backend returned a non-finite box or score")
    return prediction


def _frame_box(prediction, window, height: int, width: int, min_side: float):
    """(box in frame pixels, clipped to the frame with sides of at least ``min_side``; score) of one
    prediction."""
    _checked_prediction(prediction)
    return clip_box(map_box_back(prediction.box_cxcywh, window), height, width, min_side), float(prediction.score)


def _checked_image(image) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise InvalidInputError(f"image must be a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InvalidInputError(
            f"image must be uint8, got {image.dtype}; scale it to 0..255 and convert with astype(np.uint8)"
        )
    if image.ndim == 2:
        raise InvalidInputError(
            "image is single-channel (H x W); convert it with cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)"
        )
    if image.ndim != 3 or image.shape[2] != 3:
        hint = (
            " (drop alpha with cv2.cvtColor(image, cv2.COLOR_BGRA2BGR))"
            if image.ndim == 3 and image.shape[2] == 4
            else ""
        )
        raise InvalidInputError(f"image must be H x W x 3, got shape {image.shape}{hint}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise InvalidInputError(f"image is empty (shape {image.shape})")
    if image.strides[2] != 1 or image.strides[1] != 3 or image.strides[0] < 0:
        image = np.ascontiguousarray(image)
    return image


def _checked_box(box_xywh, frame_shape) -> tuple[float, float, float, float]:
    """Finite (x, y, w, h) with positive size, clamped to the frame; raises if nothing is left."""
    try:
        values = np.asarray(box_xywh, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as error:
        raise InvalidInputError(f"box must be 4 numbers (x, y, w, h), got {box_xywh!r}") from error
    if values.shape != (4,):
        raise InvalidInputError(f"box must be 4 numbers (x, y, w, h), got {values.size}")
    if not np.all(np.isfinite(values)):
        raise InvalidInputError(f"box has non-finite values: {values.tolist()}")
    x, y, w, h = values.tolist()
    if w <= 0 or h <= 0:
        raise InvalidInputError(f"box must have positive width and height, got w={w}, h={h}")
    height, width = frame_shape
    x1, y1 = max(x, 0.0), max(y, 0.0)
    x2, y2 = min(x + w, float(width)), min(y + h, float(height))
    if x2 <= x1 or y2 <= y1:
        raise InvalidInputError(f"box {values.tolist()} lies wholly outside the {width}x{height} image")
    if (x2 - x1) * (y2 - y1) <= 0:
        raise InvalidInputError(f"box {values.tolist()} is too small to crop")
    return (x1, y1, x2 - x1, y2 - y1)
