"""What the tracker node counts and measures, for /diagnostics: one owner, one lock.

The image callback, the worker thread, the service handlers and the diagnostics timer all touch
these numbers from different threads. They live here, behind one lock, and are changed only
through the methods below, so a snapshot is always consistent and the account holds: every
received frame ends up processed, skipped or rejected (once none is pending).

No rclpy here; the node turns ``diagnostic()`` into a DiagnosticArray (see ``messages``).
"""

from __future__ import annotations

import collections
import math
import re
import threading
import time

from mixformerv2_ros.tracker.tracker import IDLE
from mixformerv2_ros.tracker.lost_target import LOST

COUNTERS = ("received", "processed", "skipped", "rejected", "inits_refused")
#: Diagnostic levels (diagnostic_msgs/DiagnosticStatus: OK=0, WARN=1).
OK, WARN = 0, 1
#: An active node that has had no image for this long says so (WARN): a camera that stopped, a
#: wrong topic, or frames lost on the way look the same from here, and a control loop fed by the
#: node's output must hear of it. Cameras for tracking run at 5 Hz or more.
NO_IMAGE_WARN_S = 2.0


class NodeStats:
    """Counters, the newest per-frame measurements, the processing rate and log throttling."""

    def __init__(self, rate_window: int = 60, recent: int = 100, log_interval_s: float = 2.0):
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._last_error = ""
        self._processing_ms = self._latency_ms = self._score = 0.0
        self._state = IDLE
        self._processed_at: collections.deque[float] = collections.deque(maxlen=rate_window)
        self._recent: collections.deque[tuple] = collections.deque(maxlen=recent)  # (processing, step, latency) ms
        self._log_interval_s = log_interval_s
        self._last_logged: dict[str, float] = {}
        self._waiting_since: float | None = None  # the activation or the newest frame, the later
        self._image_since_activation = False

    # ---- recording ------------------------------------------------------------------------
    def count(self, counter: str) -> None:
        with self._lock:
            self._counts[counter] += 1

    def activated(self, now: float | None = None) -> None:
        """The node (re)activated: from now on it waits for images."""
        with self._lock:
            self._waiting_since = time.monotonic() if now is None else now
            self._image_since_activation = False

    def frame_received(self, now: float | None = None) -> None:
        """An image arrived (counted received; it ends the wait for one)."""
        with self._lock:
            self._counts["received"] += 1
            self._waiting_since = time.monotonic() if now is None else now
            self._image_since_activation = True

    def reject(self, reason: str, counter: str = "rejected") -> bool:
        """Count a rejection (a frame, or with counter "inits_refused" an init request) and keep
        its reason; returns whether to log it: each kind of reason at most every ``log_interval_s``."""
        with self._lock:
            self._counts[counter] += 1
            self._last_error = reason
        return self.should_log(reason)

    def should_log(self, reason: str) -> bool:
        """Throttling by kind: reasons that differ only in numbers are one kind."""
        kind = re.sub(r"[0-9.,x()\-]+", "#", reason)[:48]
        now = time.monotonic()
        with self._lock:
            if now - self._last_logged.get(kind, -math.inf) < self._log_interval_s:
                return False
            if len(self._last_logged) >= 256:  # hostile input can make endless distinct reasons
                self._last_logged.clear()
            self._last_logged[kind] = now
        return True

    def status_published(self, latency_ms: float, score: float, state: str) -> None:
        """The newest status (also those of init, stop and deactivate)."""
        with self._lock:
            self._latency_ms, self._score, self._state = latency_ms, score, state

    def frame_processed(self, processing_ms: float, step_ms: float | None, latency_ms: float, score: float,
                        state: str) -> None:
        """One frame went through the worker; ``step_ms`` is None when nothing was tracked (idle)."""
        with self._lock:
            self._counts["processed"] += 1
            self._processed_at.append(time.monotonic())
            self._processing_ms = processing_ms
            self._latency_ms, self._score, self._state = latency_ms, score, state
            if step_ms is not None:
                self._recent.append((processing_ms, step_ms, latency_ms))

    # ---- reading --------------------------------------------------------------------------
    @property
    def processing_ms(self) -> float:
        with self._lock:
            return self._processing_ms

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def diagnostic(self, active: bool, enabled: bool, track_id: str,
                   now: float | None = None) -> tuple[int, str, dict[str, str]]:
        """(level, message, key -> value) of the node's diagnostic status."""
        now = time.monotonic() if now is None else now
        with self._lock:
            window = list(self._processed_at)
            counts, recent = dict(self._counts), list(self._recent)
            state, latency, processing, score = self._state, self._latency_ms, self._processing_ms, self._score
            last_error = self._last_error
            waited = None if self._waiting_since is None else now - self._waiting_since
            seen = self._image_since_activation
        rate = (len(window) - 1) / (window[-1] - window[0]) if len(window) > 1 and window[-1] > window[0] else 0.0
        if not active:
            level, message = WARN, "inactive"
        elif waited is not None and waited > NO_IMAGE_WARN_S:
            level, message = WARN, (f"no image for {waited:.1f} s" if seen else
                                    f"no image since the activation, {waited:.1f} s ago")
        elif state == LOST:
            level, message = WARN, "target lost"
        else:
            level, message = OK, state if enabled else "disabled"
        values = {"rate_hz": f"{rate:.2f}", "latency_ms": f"{latency:.2f}", "processing_ms": f"{processing:.2f}",
                  "score": f"{score:.3f}", "state": state, "enabled": str(enabled), "track_id": track_id,
                  # received = processed + skipped + rejected, once no frame is pending
                  "frames_received": str(counts["received"]), "frames_processed": str(counts["processed"]),
                  "frames_skipped": str(counts["skipped"]), "frames_rejected": str(counts["rejected"]),
                  "inits_refused": str(counts["inits_refused"]), "last_rejection": last_error,
                  "seconds_without_image": f"{waited:.1f}" if active and waited is not None else ""}
        if recent:  # means over the last tracked frames: where the time goes
            processing_mean, step, latency_mean = (sum(column) / len(recent) for column in zip(*recent))
            values.update(mean_processing_ms=f"{processing_mean:.3f}", mean_step_ms=f"{step:.3f}",
                          mean_node_overhead_ms=f"{processing_mean - step:.3f}",
                          mean_latency_ms=f"{latency_mean:.3f}")
        return level, message, values
