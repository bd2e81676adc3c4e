"""Deciding when the target is lost and when it is found again.

The network's confidence score alone is a poor signal: it dips for a frame or two under motion
blur or partial occlusion, and it can flash high on a distractor while the target is hidden.
So the tracker runs a small state machine with hysteresis on it:

* **tracking -> lost** after ``lost_frames`` consecutive frames scoring below ``lost_threshold``.
  One frame at or above the threshold resets the count, so short dips change nothing.
* **A weak frame does not steer the search.** While tracking, a frame scoring below
  ``lost_threshold`` is reported as predicted (with its low score), but the next search stays on
  the last confident box. Following weak predictions, as the official tracker does, walks the
  search region onto whatever the network half-saw: with the target hidden, the first weak
  frame's guess lies on a nearby look-alike (a white post beside a hidden white boat), the next
  crop is centred on it, and there the look-alike scores as high as the target did, so the loss
  is never declared. Centred on the target's last place, the same network scores the look-alike
  low (``test_demo_model.py`` hides the boat of ``boat1``).
* **While lost**
  - the search region stays on the *last confident box* (the last one that scored at least
    ``lost_threshold``) instead of following low-score predictions onto the background, and is
    widened from ``search_factor`` to ``lost_search_factor`` to re-acquire a target that moved;
  - a frame scoring at least ``recover_threshold`` is a re-acquisition candidate: the search
    region moves onto its box, so the following frames look there;
  - the online template is frozen (no crop is collected and no replacement happens), so frames
    of background cannot become the template; a candidate collected before the target was lost
    is dropped;
  - the reported box is the one the search region is centred on (last confident box or newest
    candidate), and the state is "lost".
* **lost -> tracking** after ``recover_frames`` consecutive frames scoring at least
  ``recover_threshold`` (>= ``lost_threshold``); one frame below it resets the count. From the
  recovering frame on, it tracks as it did before the loss.

``lost_threshold = 0`` disables the machine (no score is below 0): the tracker is then exactly the
official one. The thresholds and counts may change at run time; the counts already accumulated
are kept and compared with the new values on the next frame.
"""

from __future__ import annotations

from dataclasses import dataclass

TRACKING = "tracking"
LOST = "lost"


@dataclass(frozen=True)
class Decision:
    """Outcome of one frame: the state, where to search next (``prior_box``), and the box to
    report (``reported_box``: the prediction while tracking, the search prior while lost).
    ``weak``: tracking, but the score is below ``lost_threshold``, so the prediction is reported
    and not followed."""

    state: str
    prior_box: tuple[float, float, float, float]
    entered_lost: bool
    reported_box: tuple[float, float, float, float]
    weak: bool = False


class LostTargetMonitor:
    """The state machine described in the module docstring, fed one score per frame."""

    def __init__(self, initial_box):
        self.state = TRACKING
        self._last_confident_box = tuple(initial_box)
        self._prior_box = tuple(initial_box)
        self._low_run = 0
        self._high_run = 0

    def step(self, score: float, predicted_box, settings) -> Decision:
        """Update with this frame's ``score`` and predicted box; ``settings`` holds thresholds."""
        predicted_box = tuple(predicted_box)
        if self.state == TRACKING:
            if score >= settings.lost_threshold:
                self._low_run = 0
                self._last_confident_box = predicted_box
                self._prior_box = predicted_box
            else:
                self._low_run += 1
                self._prior_box = self._last_confident_box
                if self._low_run >= settings.lost_frames:
                    self.state = LOST
                    self._high_run = 0
                    return Decision(LOST, self._prior_box, True, self._prior_box)
            return Decision(TRACKING, self._prior_box, False, predicted_box, weak=score < settings.lost_threshold)

        if score >= settings.recover_threshold:
            self._high_run += 1
            self._prior_box = predicted_box
            self._last_confident_box = predicted_box
            if self._high_run >= settings.recover_frames:
                self.state = TRACKING
                self._low_run = 0
                return Decision(TRACKING, predicted_box, False, predicted_box)
        else:
            self._high_run = 0
        return Decision(LOST, self._prior_box, False, self._prior_box)

    def move_prior(self, box):
        """An external correction of the search region (``Tracker.box``): trust it as confident."""
        self._prior_box = tuple(box)
        self._last_confident_box = tuple(box)
