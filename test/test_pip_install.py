"""`pip install .` in a clean venv without ROS gives the core library and its tools."""

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def _tracked_copy(dest: Path) -> Path:
    """Copy the committed/tracked files only, so the build sees what a clone would."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, check=True,
                           capture_output=True, text=True).stdout.split("\n")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _clean_env() -> dict:
    """This process's environment without the ROS/venv paths that would leak packages in."""
    drop = {"PYTHONPATH", "AMENT_PREFIX_PATH", "CMAKE_PREFIX_PATH", "COLCON_PREFIX_PATH",
            "LD_LIBRARY_PATH", "VIRTUAL_ENV", "PYTHONHOME"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if "/venvs/" not in p and "/install/" not in p)
    return env


def test_pip_install_gives_core_without_ros(tmp_path):
    src = _tracked_copy(tmp_path / "src")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "-c", str(REPO / "requirements" / "constraints-kilted.txt"), str(src)],
                   check=True, timeout=900, env=_clean_env())
    probe = subprocess.run(
        [str(py), "-c",
         "import sys, importlib.util\n"
         "import mixformerv2_ros, mixformerv2_ros.model, mixformerv2_ros.tracker\n"
         "from mixformerv2_ros.tracker import Tracker\n"
         "from mixformerv2_ros.model import load_checkpoint\n"
         "assert 'rclpy' not in sys.modules, 'importing the core imported rclpy'\n"
         "assert importlib.util.find_spec('rclpy') is None, 'the clean venv has ROS in it'\n"
         "from mixformerv2_ros.model.config import demo_model_path\n"
         "Tracker.from_checkpoint(demo_model_path())  # the demo model comes with the package\n"
         "print(mixformerv2_ros.__file__)\n"],
        capture_output=True, text=True, cwd=tmp_path, env=_clean_env())
    assert probe.returncode == 0, probe.stderr
    assert str(env_dir) in probe.stdout  # the installed copy, not a source tree
    for tool in ("mixformerv2-export", "mixformerv2-bench", "mixformerv2-eval", "mixformerv2-video"):
        out = subprocess.run([str(env_dir / "bin" / tool), "--help"], capture_output=True, text=True,
                             env=_clean_env())
        assert out.returncode == 0, f"{tool} --help failed: {out.stderr}"
        assert "usage:" in out.stdout


def test_importing_the_core_does_not_import_rclpy_or_torch():
    probe = subprocess.run(
        [sys.executable, "-c",
         "import sys, mixformerv2_ros, mixformerv2_ros.tracker\n"
         "bad = [m for m in ('rclpy', 'torch') if m in sys.modules]\n"
         "assert not bad, bad\n"],
        capture_output=True, text=True, cwd=REPO.parent)
    assert probe.returncode == 0, probe.stderr
