"""Run the package's installed ROS 2 executables in their own processes, safely.

Every ROS process started here keeps DDS discovery on this machine and uses a domain ID
reserved for this test run (a lock file per ID), so concurrent runs cannot hear each other
and nothing leaves localhost. Children get the environment explicitly, not only through the
shell. Waiting is done on conditions with timeouts, never with fixed sleeps.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

_LOCK_DIR = Path(tempfile.gettempdir()) / "mixformerv2_ros_domains"
_held_domain_lock = None


def reserve_domain_id() -> int:
    """Reserve a free ROS_DOMAIN_ID (1..100) for this process's lifetime via a lock file."""
    global _held_domain_lock
    if _held_domain_lock is not None:
        return _held_domain_lock[0]
    _LOCK_DIR.mkdir(exist_ok=True)
    start = os.getpid() % 100
    for offset in range(100):
        domain = 1 + (start + offset) % 100
        handle = open(_LOCK_DIR / f"{domain}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        _held_domain_lock = (domain, handle)
        return domain
    raise RuntimeError("no free ROS_DOMAIN_ID in 1..100 (100 concurrent test runs?)")


def ros_distro() -> str:
    """The ROS 2 distro of this environment ('kilted' or 'jazzy')."""
    distro = os.environ.get("MIXFORMERV2_ROS_DISTRO")
    if distro:
        return distro
    from importlib.metadata import version

    return "jazzy" if version("rclpy").startswith("7.") else "kilted"


def localhost_ros_env(domain_id: int) -> dict[str, str]:
    """The variables that confine ROS 2 discovery to this machine and to one domain."""
    env = {
        "ROS_DOMAIN_ID": str(domain_id),
        "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST",  # honoured by Kilted (and Jazzy)
        "RMW_IMPLEMENTATION": "rmw_fastrtps_cpp",
    }
    if ros_distro() == "jazzy":
        env["ROS_LOCALHOST_ONLY"] = "1"
    return env


def let_children_take_sigint() -> None:
    """Undo an inherited "ignore SIGINT" in this process, so that the commands it starts take
    Ctrl-C as they would from a terminal.

    A non-interactive shell starts a background job (``make test &`` in a script, ``( ... & )``)
    with SIGINT ignored, and an ignored signal stays ignored across fork and exec: every ``ros2
    launch`` started from here would then ignore the SIGINT that the tests send it (a fresh-clone
    CI run started that way failed the SIGINT test on both distros, the launch still running
    60 s later). A handler, unlike SIG_IGN, is reset to the default at exec, so Python's own
    KeyboardInterrupt handler here gives each child the default disposition."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def confine_this_process() -> dict[str, str]:
    """Apply the localhost/domain settings to os.environ (before rclpy.init) and return them."""
    env = localhost_ros_env(reserve_domain_id())
    os.environ.update(env)
    return env


def installed_executable(name: str, package: str = "mixformerv2_ros") -> Path:
    """Path of an executable installed by colcon (what `ros2 run package name` would run)."""
    from ament_index_python.packages import get_package_prefix

    path = Path(get_package_prefix(package)) / "lib" / package / name
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"{path} is not an installed executable (did `make build` run?)")
    return path


def write_params_file(params: dict, directory: Path) -> Path:
    """A ROS parameters YAML applying `params` to every node in the process."""
    import yaml

    path = Path(tempfile.mkstemp(suffix=".yaml", dir=directory)[1])
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": params}}))
    return path


class CommandProcess:
    """A started command (``ros2 launch ...``, an installed executable) in a process group of its
    own, as a terminal would start it; its combined output goes to a log file.

    Its own session means a signal can go to it alone (``os.kill``) or to everything it started
    (``stop``: the group), and a background ``&`` in a non-interactive shell, which would make
    it ignore SIGINT, is never needed (``let_children_take_sigint`` covers a test run that was
    itself started that way)."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], workdir: Path):
        self.name = name
        self.command = [str(c) for c in cmd]
        self.log_path = Path(tempfile.mkstemp(prefix=f"{name}-", suffix=".log", dir=workdir)[1])
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(self.command, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def environment(self, timeout: float = 10.0) -> dict[str, str]:
        """The environment the OS gave the process (read from /proc, not from our copy).

        Right after Popen the child may not have exec'd yet (its /proc entries are still the
        forked copy of ours) or may be inside execve (environ reads empty): wait until its
        command line names the executable and its environment is readable.
        """
        proc = Path(f"/proc/{self.pid}")
        executable = self.command[0].encode()
        raw = b""
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            try:
                if executable in (proc / "cmdline").read_bytes():
                    raw = (proc / "environ").read_bytes()
                    if raw:
                        break
            except OSError:
                pass
            time.sleep(0.01)
        if not raw:
            raise RuntimeError(f"{self.name}: no readable environment (exit code {self.process.poll()}):\n"
                               f"{self.log()}")
        return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)

    def stop(self, timeout: float = 10.0) -> int:
        """SIGINT (clean shutdown), then SIGTERM, then SIGKILL the whole process group, until no
        process of the group is left: the command may exit before what it started (``ros2
        launch`` giving up on a node that hangs in shutdown), and a node left running in the test
        run's domain would answer the next module's calls to a node of its name."""
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            if not self._group_alive():
                break
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while self._group_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
        self._log.close()
        return self.process.returncode

    def _group_alive(self) -> bool:
        """Whether a process of the group is left that has not exited. The leader is asked first
        (a look at the others could see it exit unreaped, as a zombie, and leave its exit code
        unread); once it is reaped the other members are looked for: a killed member stays a
        zombie until its parent (for an orphan, PID 1) reaps it, and a zombie needs no signal."""
        import psutil

        if self.process.poll() is None:
            return True
        for proc in psutil.process_iter(["status"]):
            try:
                if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == self.process.pid:
                    return True
            except (ProcessLookupError, psutil.Error):
                continue
        return False


class RosProcess(CommandProcess):
    """A started ROS executable of this package (what `ros2 run` would start)."""

    def __init__(self, name: str, args: list[str], params: dict | None, ros_args: list[str],
                 env: dict[str, str], workdir: Path):
        cmd = [str(installed_executable(name)), *args, "--ros-args"]
        if params:
            cmd += ["--params-file", str(write_params_file(params, workdir))]
        cmd += list(ros_args)
        super().__init__(name, cmd, env, workdir)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.01, message: str = "") -> None:
    """Poll `predicate` until it is truthy; raise TimeoutError with `message` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(message or f"condition not met within {timeout} s")
        time.sleep(interval)


class SpinningNode:
    """An rclpy node in the test process, spun in a background thread (``BackgroundSpinner``:
    closing it cannot race a callback in flight). Its entities share the node's default,
    mutually exclusive, callback group, so one spinning thread loses nothing."""

    def __init__(self, name: str):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        from mixformerv2_ros.ros.background_spin import BackgroundSpinner

        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        executor = SingleThreadedExecutor(context=self.context)
        executor.add_node(self.node)
        self._spinner = BackgroundSpinner(executor)

    def call(self, client, request, timeout: float = 10.0, retry_after: float | None = None):
        """Call a service and wait for the response (the executor thread does the spinning).

        `retry_after` (for idempotent services) sends the request again when no response came in
        that many seconds: a service being available means only that our requests reach it, and
        a response sent before the server has matched our response reader is lost (seen when a
        process was stalled just after discovery)."""
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"service {client.srv_name} not available within {timeout} s")
        futures = []

        def one_try():  # send, then wait retry_after (or the whole timeout) for any answer
            futures.append(client.call_async(request))
            try:
                wait_until(lambda: any(f.done() for f in futures), retry_after or timeout)
            except TimeoutError:
                return False
            return True

        wait_until(one_try, timeout, interval=0.0, message=f"no response from {client.srv_name} in {timeout} s")
        return next(f for f in futures if f.done()).result()

    def close(self):
        import rclpy

        self._spinner.stop()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
