"""Motion of the tracked box in the image, and where it is at a later time.

By the time a controller acts on a tracker result, the image it came from is tens of
milliseconds old (exposure, transport, the network step, the controller's own transport). A
target crossing the image at 300 px/s has moved 15 px in 50 ms. ``MotionFilter`` estimates the
box's velocity from the sequence of tracked boxes and their image stamps, so the box can be
extrapolated to the time the result is used (``predict(t)``).

The model is a constant-velocity Kalman filter on the box centre and size (cx, cy, w, h), each
coordinate with its own (position, rate) state, fed with the image stamps (seconds). Noise scales
with the box: the tracker's jitter and the target's plausible accelerations in pixels both grow
with its size in the image, so measurement and acceleration noise are given relative to the box
scale ``s = sqrt(w * h)``:

* ``measurement_noise``: standard deviation of a measured coordinate, in units of ``s``;
* ``acceleration_noise``: white-noise acceleration, in ``s`` per second squared (times sqrt(s)):
  how quickly the velocity may change. Larger values follow manoeuvres faster, smaller values
  smooth the velocity more;
* ``initial_velocity_std``: the prior on the velocity at the first box of a track, in ``s`` per
  second (the first box says nothing about motion).

It is an observer only: nothing here feeds back into the tracker or changes the search region.

Stamps must increase. A measurement whose stamp equals or precedes the last one is ignored (a
repeated frame, or one delivered out of order, carries no new information about the motion; using
it would divide by zero or run the filter backwards); ``update`` then returns False and
``last_ignored`` says why. A gap longer than ``max_gap_s`` restarts the filter from the new
measurement: a velocity estimated before the gap says little about the motion after it, and
extrapolating it over the gap would throw the box far off. So does a jump back in time by more
than ``max_gap_s`` (a recording that loops, a clock that was reset): that is a new timeline, not
a late frame.

Tuning. The defaults (measurement noise 0.1, acceleration noise 1.0) were chosen with
``bench/prediction_gain.py`` on the demo model's boxes, which jitter by several percent of the box
from frame to frame: they smooth strongly, and with them the prediction beat the raw box on 11 of
12 clip/latency pairs of uav_dev. A steadier tracker (the official weights) wants less smoothing
and follows manoeuvres with less lag, e.g. measurement noise 0.03-0.05 and acceleration noise
1.5-3 (fed the ground-truth boxes, 0.05/1.5 beat the raw box on all 12 pairs; 0.1/1.0 lagged on
the fast car).

No ROS here: the node feeds it with image stamps and publishes ``predict(now)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Smallest width/height (px) a prediction reports: a shrinking box extrapolated far enough
#: would otherwise reach zero or negative size.
MIN_SIZE = 1.0


@dataclass(frozen=True)
class MotionEstimate:
    """The filter's estimate at the stamp of its last measurement; immutable, so it can be
    extrapolated (``predict``) by another thread while the filter moves on.

    ``centre_size``: filtered (cx, cy, w, h) px; ``velocity``: (vx, vy) of the box centre, px/s,
    x right, y down; ``size_velocity``: (dw/dt, dh/dt) px/s; ``time``: stamp (s);
    ``measurements``: boxes used since the last (re)start.
    """

    centre_size: tuple[float, float, float, float]
    velocity: tuple[float, float]
    size_velocity: tuple[float, float]
    time: float
    measurements: int

    @property
    def valid(self) -> bool:
        """Whether the velocity rests on at least two measurements (with one it is the prior, 0)."""
        return self.measurements >= 2

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The filtered box (x, y, w, h) px at ``time``."""
        return self.predict(self.time)

    @property
    def size_rate(self) -> float:
        """d/dt of the box scale sqrt(w * h), px/s: positive while the box grows (e.g. the target
        comes closer)."""
        w, h = (max(v, MIN_SIZE) for v in self.centre_size[2:])
        vw, vh = self.size_velocity
        return (h * vw + w * vh) / (2.0 * math.sqrt(w * h))

    def predict(self, t: float) -> tuple[float, float, float, float]:
        """The box (x, y, w, h px) extrapolated to time ``t`` (s) at constant velocity.

        ``t`` may lie anywhere (before ``time`` too: that extrapolates backwards); width and
        height are kept at least ``MIN_SIZE``.
        """
        t = float(t)
        if not math.isfinite(t):
            raise ValueError(f"time must be finite, got {t!r}")
        dt = t - self.time
        cx, cy, w, h = self.centre_size
        (vx, vy), (vw, vh) = self.velocity, self.size_velocity
        cx, cy = cx + dt * vx, cy + dt * vy
        w, h = max(w + dt * vw, MIN_SIZE), max(h + dt * vh, MIN_SIZE)
        return (cx - w / 2.0, cy - h / 2.0, w, h)


class MotionFilter:
    """Constant-velocity Kalman filter on (cx, cy, w, h); see the module docstring."""

    def __init__(self, measurement_noise: float = 0.1, acceleration_noise: float = 1.0,
                 initial_velocity_std: float = 3.0, max_gap_s: float = 1.0):
        for name, value in (("measurement_noise", measurement_noise), ("acceleration_noise", acceleration_noise),
                            ("initial_velocity_std", initial_velocity_std), ("max_gap_s", max_gap_s)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                    math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
        self.measurement_noise = float(measurement_noise)
        self.acceleration_noise = float(acceleration_noise)
        self.initial_velocity_std = float(initial_velocity_std)
        self.max_gap_s = float(max_gap_s)
        self.last_ignored = ""
        self.reset()

    def reset(self) -> None:
        """Forget the motion (a new track, or the target was lost); the next box starts afresh."""
        self._mean = np.zeros((4, 2))  # per coordinate (cx, cy, w, h): (value, rate)
        self._cov = np.zeros((4, 2, 2))
        self._time: float | None = None
        self._count = 0

    @property
    def initialized(self) -> bool:
        return self._time is not None

    def update(self, t: float, box_xywh) -> bool:
        """Add the box (x, y, w, h px) measured on the image stamped ``t`` (s).

        Returns False, changing nothing, when ``t`` is not later than the last stamp
        (``last_ignored`` says why). Non-finite values or an empty box raise ValueError.
        """
        t = float(t)
        z = _centre_size(box_xywh)
        if not math.isfinite(t):
            raise ValueError(f"stamp must be finite, got {t!r}")
        scale = math.sqrt(z[2] * z[3])
        r = (self.measurement_noise * scale) ** 2
        if self._time is not None and self._time - self.max_gap_s <= t <= self._time:
            self.last_ignored = (f"stamp {t:.6f} s is {'equal to' if t == self._time else 'before'} the last one "
                                 f"({self._time:.6f} s): repeated or out-of-order frame")
            return False
        if self._time is not None and abs(t - self._time) > self.max_gap_s:
            self.reset()  # a stale velocity would throw the box far off; start again here
        if self._time is None:
            self._mean[:, 0], self._mean[:, 1] = z, 0.0
            velocity_var = (self.initial_velocity_std * scale) ** 2
            self._cov[:] = np.array([[r, 0.0], [0.0, velocity_var]])
        else:
            self._propagate(t - self._time, scale)
            innovation_var = self._cov[:, 0, 0] + r  # H = [1, 0]
            gain = self._cov[:, :, 0] / innovation_var[:, None]
            self._mean += gain * (z - self._mean[:, 0])[:, None]
            self._cov -= gain[:, :, None] * self._cov[:, 0, :][:, None, :]
            self._cov = 0.5 * (self._cov + self._cov.transpose(0, 2, 1))  # keep it symmetric
        self._time = t
        self._count += 1
        self.last_ignored = ""
        return True

    def _propagate(self, dt: float, scale: float) -> None:
        q = (self.acceleration_noise * scale) ** 2
        process = q * np.array([[dt ** 3 / 3.0, dt ** 2 / 2.0], [dt ** 2 / 2.0, dt]])
        transition = np.array([[1.0, dt], [0.0, 1.0]])
        self._mean = self._mean @ transition.T
        self._cov = transition @ self._cov @ transition.T + process

    def estimate(self) -> MotionEstimate | None:
        """The estimate at the last measurement's stamp (None before the first box)."""
        if self._time is None:
            return None
        (cx, vx), (cy, vy), (w, vw), (h, vh) = (tuple(float(v) for v in row) for row in self._mean)
        return MotionEstimate((cx, cy, w, h), (vx, vy), (vw, vh), self._time, self._count)

    def predict(self, t: float) -> tuple[float, float, float, float]:
        """The box (x, y, w, h px) extrapolated to time ``t`` (s); see ``MotionEstimate.predict``.
        Raises RuntimeError before the first box."""
        estimate = self.estimate()
        if estimate is None:
            raise RuntimeError("no motion estimate yet: call update() with a box first")
        return estimate.predict(t)


def _centre_size(box_xywh) -> np.ndarray:
    try:
        values = np.asarray(box_xywh, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as error:
        raise ValueError(f"box must be 4 numbers (x, y, w, h), got {box_xywh!r}") from error
    if values.shape != (4,) or not np.all(np.isfinite(values)):
        raise ValueError(f"box must be 4 finite numbers (x, y, w, h), got {box_xywh!r}")
    x, y, w, h = values
    if w <= 0 or h <= 0:
        raise ValueError(f"box must have positive width and height, got w={w}, h={h}")
    return np.array([x + w / 2.0, y + h / 2.0, w, h])
