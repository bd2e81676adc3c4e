"""The test harness's process handling: what the ROS tests rely on to leave nothing running in the
run's domain between modules."""

import os
import signal
import subprocess
import sys
import time

from ros_harness import CommandProcess

SIGINT_PROOF_CHILD = "(trap '' INT; sleep 60) & wait"  # a shell that exits on SIGINT before its child


def _live_members(pgid: int) -> list[str]:
    """The group's processes that have not exited, as ``ps`` sees them (independent of the
    harness's own look at the group)."""
    listing = subprocess.run(["ps", "-e", "-o", "pid=,pgid=,stat="], capture_output=True, text=True).stdout
    rows = [line.split() for line in listing.splitlines()]
    return [pid for pid, group, stat in rows if int(group) == pgid and not stat.startswith("Z")]


def test_stop_leaves_no_process_of_the_group_when_the_leader_exits_first(tmp_path):
    """The leader exits on SIGINT, its child ignores SIGINT: stop goes on (SIGTERM) until the child
    is gone too, and returns the leader's exit code (killed by SIGINT)."""
    process = CommandProcess("leader_first", ["bash", "-c", SIGINT_PROOF_CHILD], dict(os.environ), tmp_path)
    deadline = time.monotonic() + 10.0
    while len(_live_members(process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_live_members(process.pid)) == 2, "the shell and its child"
    assert process.stop(timeout=2.0) == -signal.SIGINT
    assert _live_members(process.pid) == []


def test_stop_returns_the_exit_code_of_a_clean_shutdown(tmp_path):
    """A process that takes a moment to shut down on SIGINT and exits 0: stop reports 0, every
    time (its exit is never mistaken for a vanished group with the code unread)."""
    script = ("import sys, time\ntry:\n    print('up', flush=True); time.sleep(60)\n"
              "except KeyboardInterrupt:\n    time.sleep(0.2); sys.exit(0)\n")
    for _ in range(5):
        process = CommandProcess("clean", [sys.executable, "-c", script], dict(os.environ), tmp_path)
        deadline = time.monotonic() + 10.0
        while "up" not in process.log() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process.stop(timeout=5.0) == 0, process.log()
