"""Frame intake of the tracker node: the newest-frame slot, the stamp buffer, enable gating.

Freshness is the point. The image callback (``offer``) only replaces the frame in a one-slot
*newest* holder; the worker thread takes whatever is newest when it is ready (``take_newest``).
So under overload frames are skipped, never queued, and a result is never older than one
processing step plus transport. A short buffer of recent frames, looked up by stamp (``find``),
serves init requests for a box drawn on an older frame.

Gating (``admit``) decides, just before a frame is tracked, whether it may be: not while output
is disabled, not the frame the track was initialised on (the tracker starts from it; tracking it
again would count it twice), and not frames that arrived while disabled.

Every received frame is accounted for in ``NodeStats``: replaced before the worker took it, or
refused by the gate, it is *skipped*; the node counts it *processed* or *rejected* otherwise.

No rclpy here (message types only): the whole class is testable without DDS.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass

import numpy as np
from sensor_msgs.msg import CompressedImage, Image

from mixformerv2_ros.ros.image_conversion import check_image, compressed_to_bgr, image_to_bgr
from mixformerv2_ros.ros.node_stats import NodeStats


def stamp_ns(stamp) -> int:
    """A builtin_interfaces/Time as integer nanoseconds (0: the sender did not stamp)."""
    return stamp.sec * 1_000_000_000 + stamp.nanosec


@dataclass(frozen=True)
class Frame:
    """A received image message, as received, and its stamp in nanoseconds."""

    msg: object  # sensor_msgs Image or CompressedImage
    stamp_ns: int

    @property
    def header(self):
        return self.msg.header

    def decode(self) -> np.ndarray:
        """The frame as a BGR array; ImageConversionError says why not (corrupt JPEG, ...)."""
        if isinstance(self.msg, CompressedImage):
            return compressed_to_bgr(self.msg)
        return image_to_bgr(self.msg)


class FrameIntake:
    """Newest-frame slot + stamp buffer + enable gate, shared by the image callback, the worker
    and the service handlers (one condition variable guards all of it)."""

    def __init__(self, stats: NodeStats, buffer_length: int = 30):
        self._stats = stats
        self._cond = threading.Condition()
        self._newest: Frame | None = None
        self._buffer: collections.deque[Frame] = collections.deque(maxlen=buffer_length)
        self._enabled = True
        self._skip_until_ns = -1  # frames stamped at or before this are not tracked

    def resize(self, buffer_length: int) -> None:
        """Keep ``buffer_length`` recent frames from now on (the buffer starts empty)."""
        if buffer_length < 1:
            raise ValueError(f"buffer_length must be >= 1, got {buffer_length}")
        with self._cond:
            self._buffer = collections.deque(maxlen=int(buffer_length))
            self._newest = None

    # ---- image callback -------------------------------------------------------------------
    def offer(self, msg) -> Frame:
        """Take a received message as the newest frame (and into the stamp buffer).

        A raw Image is checked first (O(1), header fields only): a malformed one raises
        ImageConversionError and never displaces a good frame; the caller counts it rejected.
        """
        self._stats.frame_received()
        if isinstance(msg, Image):
            check_image(msg)
        frame = Frame(msg, stamp_ns(msg.header.stamp))
        with self._cond:
            if self._newest is not None:
                self._stats.count("skipped")  # replaced before the worker took it
            self._newest = frame
            self._buffer.append(frame)
            self._cond.notify()
        return frame

    # ---- worker ---------------------------------------------------------------------------
    def take_newest(self, stop: threading.Event, poll_s: float = 0.5) -> Frame | None:
        """Wait for a frame and take it (the slot is empty afterwards); None once ``stop`` is set."""
        with self._cond:
            while self._newest is None and not stop.is_set():
                self._cond.wait(poll_s)
            frame, self._newest = self._newest, None
            return frame

    def wake(self) -> None:
        """Wake a worker waiting in ``take_newest`` (to see its stop event)."""
        with self._cond:
            self._cond.notify_all()

    def admit(self, frame: Frame) -> bool:
        """Whether the worker may track ``frame`` now; a refused frame is counted skipped.

        Refused: while disabled; the init frame and anything stamped at or before it, or before
        re-enabling. The first newer frame lifts that mark, so stamps may then go anywhere again
        (a recording that loops).
        """
        with self._cond:
            if not self._enabled or frame.stamp_ns <= self._skip_until_ns:
                self._stats.count("skipped")
                return False
            self._skip_until_ns = -1
            return True

    # ---- services -------------------------------------------------------------------------
    def find(self, wanted_ns: int) -> tuple[Frame | None, bool]:
        """(frame, exact): the buffered frame stamped ``wanted_ns`` (exact=True), else the newest
        buffered frame (exact=False; None before any frame). ``wanted_ns`` 0 asks for the newest."""
        with self._cond:
            if wanted_ns:
                for frame in reversed(self._buffer):
                    if frame.stamp_ns == wanted_ns:
                        return frame, True
            return (self._buffer[-1] if self._buffer else None), False

    def skip_through(self, stamp: int) -> None:
        """Do not track frames stamped at or before ``stamp`` (ns): the track starts on that one."""
        with self._cond:
            self._skip_until_ns = stamp

    def set_enabled(self, enabled: bool) -> None:
        """Gate the worker. On re-enabling, frames that arrived while disabled stay unprocessed,
        even the pending newest one: output resumes with the next frame that arrives."""
        with self._cond:
            if enabled and not self._enabled and self._buffer:
                self._skip_until_ns = max(self._skip_until_ns, self._buffer[-1].stamp_ns)
                if self._newest is not None:  # arrived while disabled: skipped, and counted so
                    self._newest = None
                    self._stats.count("skipped")
            self._enabled = bool(enabled)

    @property
    def enabled(self) -> bool:
        return self._enabled

    def clear(self) -> None:
        """Forget every frame (cleanup: the buffered messages can be large)."""
        with self._cond:
            self._buffer.clear()
            self._newest = None
