"""Spin an rclpy executor in a background thread and stop it without a teardown race.

A process that keeps its main thread for its own work (the demo recorder, the tests' client
node) spins in a thread. Stopping that with ``executor.shutdown()`` from the main thread races
the callbacks already handed out: in Jazzy and Kilted, ``Executor.shutdown`` does not wait for
them (it tests ``_is_shutdown`` right after setting it) and destroys its guard condition, which
a callback in flight then triggers. The callback's task keeps the ``InvalidHandle`` ("cannot use
Destroyable because destruction was requested"), nothing retrieves it, and rclpy prints it when
the task is collected: about five times per stop with twenty 1 kHz timers here
(`test_background_spin.py`).

``BackgroundSpinner`` runs its own ``spin_once`` loop instead, so ``stop`` can end the loop,
join the thread and only then shut the executor down. That is only sound when callbacks run in
the spinning thread, as a ``SingleThreadedExecutor``'s do; a ``MultiThreadedExecutor`` hands
them to a worker pool that nothing public lets us wait for, so it is refused.
"""

from __future__ import annotations

import threading

from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor


class BackgroundSpinner:
    """Spins ``executor`` in a daemon thread from construction until ``stop``."""

    def __init__(self, executor: SingleThreadedExecutor, poll_period_s: float = 0.05):
        if not isinstance(executor, SingleThreadedExecutor):
            raise TypeError(f"BackgroundSpinner needs a SingleThreadedExecutor, got {type(executor).__name__}: "
                            "other executors run callbacks in threads that stop() could not wait for")
        self.executor = executor
        self._poll_period_s = poll_period_s  # how long stop() may wait for an idle loop to notice
        self._stopping = threading.Event()
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._spin, name="background_spin", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            while not self._stopping.is_set():
                self.executor.spin_once(timeout_sec=self._poll_period_s)
        except ExternalShutdownException:  # the context was shut down under us: nothing to spin
            pass
        except Exception as error:  # a callback failed: printed now (threading.excepthook), raised by stop()
            self._error = error
            raise

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the loop, wait until no callback runs, then shut the executor down.

        Raises RuntimeError if a callback is still running after ``timeout_s`` (destroying the
        node under it would be the race this class exists to avoid), or if a callback raised
        and so ended the spinning early."""
        self._stopping.set()
        self._thread.join(timeout=timeout_s)
        if self._thread.is_alive():
            raise RuntimeError(f"the spinning thread did not stop within {timeout_s} s (a callback still runs)")
        self.executor.shutdown()
        if self._error is not None:
            raise RuntimeError(f"a callback raised in the spinning thread, which stopped: {self._error!r}") \
                from self._error
