"""Run-time settings of the tracker, validated in one place.

Every setting can change between frames (``Tracker.update_settings``), so they live in a frozen
dataclass that is replaced as a whole: a half-applied change can never be observed, and a refused
change leaves the old settings in force.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass

COLOR_ORDERS = ("bgr", "rgb")
#: Default widening of the search region while lost (4.5 -> 6 for the official models).
LOST_SEARCH_SCALE = 4.0 / 3.0
#: The settings that switch off every rule the official tracker does not have (the lost state,
#: the size calibration, the size smoothing, the box smaller than its 10 px clip): with these the
#: tracker is the official one (``TrackerSettings.official``). One place, so a new rule is added
#: here and every caller that wants the official tracker gets it.
OFFICIAL_RULES = {"lost_threshold": 0.0, "size_calibration": 0.0, "size_smoothing": 0.0, "min_box_side": 10.0}


@dataclass(frozen=True)
class TrackerSettings:
    """What the tracker does besides running the network.

    ``search_factor`` / ``template_factor``: side of the square search / template crop relative to
    ``sqrt(w*h)`` of the box; ``None`` takes the model's values (official: 4.5 and 2.0).
    ``update_interval``: every that many frames the online template is replaced by the best crop
    whose score exceeded ``online_score_threshold`` since the last replacement (or by the first
    template when none did). 25, as the official video demo (``tracking/run_video_demo.sh``); the
    official test configs use 10 or 25 on short-term benchmarks and 200 on long-term ones (LaSOT).
    With the demo model 25 tracks the held-out clips better than 200 or 10 (README, "The demo
    model", has the figures and the command).
    ``color_order``: channel order of the images given to the tracker ("bgr" as OpenCV and most
    cameras deliver, or "rgb").
    Lost-target settings (see ``lost_target``): ``lost_threshold`` and ``lost_frames`` (enter
    "lost"), ``recover_threshold`` and ``recover_frames`` (leave it), ``lost_search_factor``
    (search factor while lost; ``None``: 4/3 of ``search_factor``). ``lost_threshold=0`` turns
    the lost state off, which gives the official tracker's behaviour exactly.
    ``reacquire_windows``: while lost, this many windows of a tiling of the whole frame are
    searched per frame besides the local region (``reacquire``); 0 (the default) turns it off.
    It bounds the extra cost per lost frame to that many network steps (run as one batch); 4
    finds a target that left the local region within one sweep of the frame. It trusts the
    score, and the demo model's still flashes high on look-alikes: on the held-out clips 4
    windows do not raise its AUC (README, "The demo model"), so it is off unless asked for.
    ``size_calibration``: the share (0..1) of the network's box-size bias for this target that is
    taken out of every reported box. At ``initialize`` the network runs once on the first frame,
    whose true box is known; its predicted width and height over the true ones (each clamped to
    1/2..2) measure that bias, and each reported box is divided by ratio ** size_calibration about
    its centre. Why: a network can be consistently wrong about one target's extent (the demo
    model's boxes were 1.5 times too wide on a small car in a queue of cars, and 0.78 times too
    small on a biker, at each of five starts per clip), and the first frame is the one place where that is
    measurable. One frame is a noisy measure, hence the half share by default: on the demo
    model's held-out clips it raised AUC and cost nothing on its training clips, where full
    correction did (README, "The demo model"). The search itself keeps following the network's
    own box (``Tracker.box``). 0 turns it off. The ratio is measured only if the share is above
    0 at ``initialize``.
    ``size_smoothing`` (0 <= s < 1): how much of its size the tracked box keeps from one frame to
    the next. While tracking, each frame moves the box's width and height only ``(1 - s) * score``
    of the way from the previous box's to the network's; the centre is the network's. Why: the
    demo model's size jitters from frame to frame (most on small, blurred targets, where it
    overshoots), and each error is amplified, since the next search crop is scaled from the box: a
    box that balloons for one frame shrinks the target in the next crop and drags the search onto
    the background. A low-score frame barely changes the size. SiamRPN and NanoTrack damp the size
    the same way (their learning rate times score). 0.7 was the best share on the demo model's
    training clips (0.3, 0.5, 0.7, 0.85 tried) and raised its AUC on the held-out clips too (README,
    "Size smoothing"). 0 turns it off (the network's size as it is).
    ``min_box_side`` (pixels, > 0): the smallest width and height of the tracked and reported
    box. The official tracker clips every box to at least 10 px (its clip margin), which caps the
    IoU of a 5 x 5 px target at 0.25 however well the network finds it; drone footage is full of
    such targets (cars and people from altitude). Only the box has the floor lowered: the search
    crop is still cut around a box of at least 10 px sides (``crop.CLIP_MARGIN``), so the search
    region, and with it the network's input, never shrinks below the official one. The default,
    1 px, keeps a box from vanishing and nothing more; on 13 of the demo model's training clips it
    raised AUC from 0.623 to 0.657 (three starts; targets of 4-8 px: ``truck4_1``, ``wakeboard10``,
    the end of ``S1606``), and it cannot change a box that never gets smaller than 10 px, as on the
    held-out clips (README, "Small targets"). 10 gives the official clip.
    With ``lost_threshold=0``, ``size_calibration=0``, ``size_smoothing=0`` and ``min_box_side=10``
    (``OFFICIAL_RULES``, ``TrackerSettings.official()``) the tracker is the official one exactly
    (for an initial box of at least 10 x 10 px; a smaller one is searched as a 10 px box from the
    first frame on, where the official tracker searches a smaller region on the first frame only).
    """

    search_factor: float | None = None
    template_factor: float | None = None
    update_interval: int = 25
    online_score_threshold: float = 0.5
    color_order: str = "bgr"
    lost_threshold: float = 0.3
    lost_frames: int = 5
    recover_threshold: float = 0.5
    recover_frames: int = 3
    lost_search_factor: float | None = None
    reacquire_windows: int = 0
    size_calibration: float = 0.5
    size_smoothing: float = 0.7
    min_box_side: float = 1.0

    def __post_init__(self):
        for name in ("search_factor", "template_factor", "lost_search_factor"):
            if getattr(self, name) is not None:
                self._coerce_float(name, low=0.0, low_inclusive=False)
        for name in ("online_score_threshold", "lost_threshold", "recover_threshold", "size_calibration"):
            self._coerce_float(name, low=0.0, high=1.0)
        self._coerce_float("size_smoothing", low=0.0, high=1.0, high_inclusive=False)  # 1 would freeze the size
        self._coerce_float("min_box_side", low=0.0, low_inclusive=False)
        for name in ("update_interval", "lost_frames", "recover_frames"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
            object.__setattr__(self, name, int(value))
        windows = self.reacquire_windows
        if isinstance(windows, bool) or not isinstance(windows, numbers.Integral) or not 0 <= windows <= 64:
            raise ValueError(f"reacquire_windows must be an integer in [0, 64] (0: off), got {windows!r}")
        object.__setattr__(self, "reacquire_windows", int(windows))
        if self.color_order not in COLOR_ORDERS:
            raise ValueError(f"color_order must be one of {COLOR_ORDERS}, got {self.color_order!r}")
        if self.recover_threshold < self.lost_threshold:
            raise ValueError(
                f"recover_threshold ({self.recover_threshold}) must be >= lost_threshold "
                f"({self.lost_threshold}): the gap between them is the hysteresis"
            )
        both_known = None not in (self.search_factor, self.lost_search_factor)
        if both_known and self.lost_search_factor < self.search_factor:
            raise ValueError(
                f"lost_search_factor ({self.lost_search_factor}) must be >= search_factor "
                f"({self.search_factor}): the search region widens while the target is lost"
            )

    def _coerce_float(self, name, low, high=math.inf, low_inclusive=True, high_inclusive=True):
        value = getattr(self, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be a number, got {value!r}")
        value = float(value)
        above_low = value >= low if low_inclusive else value > low
        below_high = value <= high if high_inclusive else value < high
        if not (math.isfinite(value) and above_low and below_high):
            bounds = f"{'[' if low_inclusive else '('}{low}, {high}{']' if high_inclusive else ')'}"
            raise ValueError(f"{name} must be a finite number in {bounds}, got {value!r}")
        object.__setattr__(self, name, value)

    @classmethod
    def official(cls, **changes) -> TrackerSettings:
        """The official tracker's settings (``OFFICIAL_RULES`` over the defaults), with ``changes``."""
        return cls().replace(**{**OFFICIAL_RULES, **changes})

    def replace(self, **changes) -> TrackerSettings:
        """A copy with ``changes`` applied; unknown names and invalid values raise ValueError."""
        known = {field.name for field in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown tracker setting(s) {unknown}; known: {sorted(known)}")
        return dataclasses.replace(self, **changes)

    def resolved(self, search_factor: float, template_factor: float) -> TrackerSettings:
        """The settings in force: factors left as ``None`` take the model's values."""
        search = search_factor if self.search_factor is None else self.search_factor
        return self.replace(
            search_factor=search,
            template_factor=template_factor if self.template_factor is None else self.template_factor,
            lost_search_factor=(
                search * LOST_SEARCH_SCALE if self.lost_search_factor is None else self.lost_search_factor
            ),
        )
