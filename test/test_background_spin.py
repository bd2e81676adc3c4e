"""BackgroundSpinner: a node spun in a thread stops without racing a callback in flight.

rclpy's own ``executor.shutdown()`` from another thread destroys the guard condition that a
callback in flight still triggers, and rclpy later prints "The following exception was never
retrieved: cannot use Destroyable because destruction was requested" (seen after the Jazzy
suite; reproduced here with many fast timers). Real rclpy, own context, no other process.
"""

import gc
import threading
import time

import pytest

pytestmark = pytest.mark.ros


def test_closing_a_busy_test_node_leaves_no_unretrieved_callback_error(capfd):
    """The harness's SpinningNode (every ROS test's client node) over BackgroundSpinner: twenty
    1 kHz timers keep callbacks always ready, so each close lands on one in flight. With the
    harness's former MultiThreadedExecutor and ``executor.shutdown()`` this printed the error
    about five times per close (1000 callbacks each)."""
    from ros_harness import SpinningNode

    for attempt in range(10):
        spinning = SpinningNode(f"background_spin_{attempt}")
        calls = []
        for _ in range(20):
            spinning.node.create_timer(0.001, lambda: calls.append(threading.get_ident()))
        deadline = time.monotonic() + 10.0
        while len(calls) < 1000 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert len(calls) >= 1000, "the timers did not run in the background"
        assert threading.get_ident() not in calls  # they ran in the spinning thread
        spinning.close()
        closed_at = len(calls)
        time.sleep(0.02)  # twenty timer periods
        assert len(calls) == closed_at, "a callback ran after close() returned"
    gc.collect()  # rclpy prints an unretrieved task error when the task is collected
    assert "never retrieved" not in capfd.readouterr().err


def test_executor_whose_callbacks_it_cannot_wait_for_is_refused():
    import rclpy
    from rclpy.executors import MultiThreadedExecutor

    from mixformerv2_ros.ros.background_spin import BackgroundSpinner

    context = rclpy.Context()
    rclpy.init(context=context)
    executor = MultiThreadedExecutor(num_threads=2, context=context)
    try:
        with pytest.raises(TypeError, match="SingleThreadedExecutor.*could not wait for"):
            BackgroundSpinner(executor)
    finally:
        executor.shutdown()
        rclpy.shutdown(context=context)


# The thread's exception is also printed (threading.excepthook) when it happens; pytest reports that as a warning.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_callback_error_stops_the_spinning_and_is_raised_by_stop():
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from mixformerv2_ros.ros.background_spin import BackgroundSpinner

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("background_spin_error", context=context)
    calls = []

    def failing():
        calls.append(1)
        raise ValueError("callback bug")

    node.create_timer(0.001, failing)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        spinner = BackgroundSpinner(executor)
        deadline = time.monotonic() + 10.0
        while not calls and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(0.02)
        assert len(calls) == 1  # the first error ended the loop
        with pytest.raises(RuntimeError, match="callback raised.*callback bug"):
            spinner.stop()
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)
