"""The real ROS 2 command line (``ros2 ...``) for the tests, and the guard that keeps it from
being skipped where it should exist.

PyPI has no ``ros2`` CLI, ``launch`` or ``launch_ros``; set-up builds them from
../shared/third_party/ros2/<distro>.tar.gz where that archive exists (scripts/build_ros_extras.sh).
Tests that need them call ``require_ros2_cli()``: it skips, saying why, on a machine without the
archive, and fails where the archive exists but the tools are missing, so that a CI run whose
set-up silently failed to build them cannot pass by skipping.

Every command runs with the harness's environment (discovery on localhost, the run's own domain)
in a session of its own; ``ros2`` starts a daemon for its domain on the first call, which
``stop_daemon`` ends.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from ros_harness import CommandProcess, ros_distro

REPO = Path(__file__).resolve().parents[1]
#: Printed by every rclpy process on Jazzy while ROS_LOCALHOST_ONLY=1 is set (the harness sets it
#: on Jazzy to keep discovery on this machine): expected, not a problem.
JAZZY_LOCALHOST_WARNING = "ROS_LOCALHOST_ONLY is deprecated"


def extras_archive() -> Path:
    """Where set-up looks for the pinned sources of the ROS 2 extras (as scripts/common.sh)."""
    third_party = os.environ.get("MIXFORMERV2_ROS_THIRD_PARTY") or REPO.parent / "shared" / "third_party" / "ros2"
    return Path(third_party) / f"{ros_distro()}.tar.gz"


def missing_extras() -> list[str]:
    """The pieces of the ROS 2 extras this environment lacks (empty: all there)."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    missing = [] if shutil.which("ros2") else ["the ros2 command"]
    for package in ("ros2launch", "launch_ros", "ros2lifecycle", "ros2param", "ros2interface", "vision_msgs"):
        try:
            get_package_prefix(package)
        except PackageNotFoundError:
            missing.append(package)
    return missing


def require_ros2_cli() -> None:
    """Skip (no extras on this machine) or fail (set-up should have built them) unless present."""
    import pytest

    missing = missing_extras()
    if not missing:
        return
    archive = extras_archive()
    if archive.is_file():
        pytest.fail(f"{archive} exists, so set-up (scripts/build_ros_extras.sh) must have built the ROS 2 "
                    f"extras, but this environment lacks {', '.join(missing)}: run scripts/setup.sh "
                    f"{ros_distro()} and read its output", pytrace=False)
    pytest.skip(f"no ROS 2 command line/launch here (this environment lacks {', '.join(missing)}): PyPI "
                f"has none, and set-up builds them only from {archive}, which this machine lacks")


def unexpected_stderr(stderr: str) -> str:
    """stderr without the lines every rclpy process prints on Jazzy."""
    return "\n".join(line for line in stderr.splitlines() if JAZZY_LOCALHOST_WARNING not in line).strip()


class Ros2:
    """Runs ``ros2 <verb> ...`` as a user would in a terminal, with the test run's environment."""

    def __init__(self, env: dict[str, str], workdir: Path):
        self.env = dict(env)
        self.workdir = workdir
        self.executable = shutil.which("ros2", path=self.env.get("PATH"))
        if self.executable is None:
            raise FileNotFoundError("no ros2 command on PATH")

    def run(self, *args, timeout: float = 60.0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run once; the result's stdout/stderr are text. A command that hangs is killed (what it
        printed until then is in the exception: the harness's environment runs Python unbuffered)."""
        return subprocess.run([self.executable, *map(str, args)], env=env or self.env, capture_output=True,
                              text=True, timeout=timeout, stdin=subprocess.DEVNULL, start_new_session=True)

    def until(self, args, accept, timeout: float = 60.0, attempt_timeout: float = 30.0) -> subprocess.CompletedProcess:
        """Run until ``accept(result)`` holds: for calls whose target discovery may not have found
        yet (the daemon's view of a just-started node, a service's first response)."""
        start = time.monotonic()
        deadline = start + timeout
        last = None
        attempts: list[list] = []  # [first began, last began, count, how it ended]: repeats merged
        while True:
            began = time.monotonic() - start
            try:
                last = self.run(*args, timeout=min(attempt_timeout, max(1.0, deadline - time.monotonic())))
                if accept(last):
                    return last
                ended = f"exit {last.returncode}, not accepted: {_answer(last.stdout)}"
            except subprocess.TimeoutExpired as timed_out:
                last = timed_out
                ended = f"killed after {timed_out.timeout:.0f} s, having printed: {_answer(timed_out.stdout)}"
            if attempts and attempts[-1][3] == ended:
                attempts[-1][1:3] = [began, attempts[-1][2] + 1]
            else:
                attempts.append([began, began, 1, ended])
            if time.monotonic() > deadline:
                detail = (f"exit {last.returncode}\nstdout:\n{last.stdout}\nstderr:\n{last.stderr}"
                          if isinstance(last, subprocess.CompletedProcess) else f"timed out: {last}")
                tries = "\n".join(f"{first:.1f} s: {ended}" if count == 1 else
                                   f"{first:.1f}-{final:.1f} s, {count} tries: {ended}"
                                   for first, final, count, ended in attempts)
                raise AssertionError(f"`ros2 {' '.join(map(str, args))}` not as expected within {timeout} s; "
                                     f"tries:\n{tries}\nlast try: {detail}")
            time.sleep(0.5)

    def on_node(self, *args, timeout: float = 30.0) -> subprocess.CompletedProcess:
        """Run a command addressed to a node (``param``, ``lifecycle``), again while it answers
        "Node not found": the ros2 daemon it asks may not have discovered the node yet (seen on
        Jazzy right after the daemon started)."""
        return self.until(args, lambda r: "Node not found" not in r.stdout + r.stderr, timeout=timeout)

    def start(self, name: str, *args, env: dict[str, str] | None = None) -> CommandProcess:
        """Start a long-running ``ros2 ...`` (``launch``) in a process group of its own."""
        return CommandProcess(name, [self.executable, *map(str, args)], env or self.env, self.workdir)

    def stop_daemon(self) -> None:
        """End the daemon the CLI calls started for this domain (it would outlive the tests)."""
        try:
            self.run("daemon", "stop", timeout=30.0)
        except subprocess.TimeoutExpired:
            pass


def printed(output: str | bytes | None) -> str:
    """What a command printed, as text (a TimeoutExpired keeps it as bytes, or None)."""
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def _one_line(output: str | bytes | None) -> str:
    """A command's output on one line."""
    return " ".join(printed(output).split())


def _answer(output: str | bytes | None, limit: int = 200) -> str:
    """What a try printed, in one line of at most ``limit`` characters: from ``response:`` on where
    there is one (a service's answer says why it refused near its start: its tail is the empty
    detection), else the tail (``waiting for service...``, a lifecycle state)."""
    line = _one_line(output)
    at = line.find("response:")
    if at >= 0:
        head = line[at:]
        return head if len(head) <= limit else head[:limit] + "..."
    return line if len(line) <= limit else "..." + line[-limit:]


def shm_profile_env() -> dict[str, str]:
    """The environment that gives a process the package's shared-memory Fast DDS profile, as the
    launch files set it: Jazzy's Fast DDS 2 reads only FASTRTPS_DEFAULT_PROFILES_FILE; Kilted's
    Fast DDS 3 reads FASTDDS_DEFAULT_PROFILES_FILE and warns that the old name is deprecated."""
    from ament_index_python.packages import get_package_share_directory

    profile = str(Path(get_package_share_directory("mixformerv2_ros")) / "config" / "fastdds_shm.xml")
    env = {"FASTDDS_DEFAULT_PROFILES_FILE": profile}
    if ros_distro() == "jazzy":
        env["FASTRTPS_DEFAULT_PROFILES_FILE"] = profile
    return env
