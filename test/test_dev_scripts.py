"""The developer scripts' housekeeping: whose environments ``scripts/prune_venvs.sh`` removes, and how
``scripts/setup.sh`` makes (or remakes) one."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _make_venv(venvs: Path, name: str, checkout: Path | None) -> Path:
    venv = venvs / name
    (venv / "bin").mkdir(parents=True)
    (venvs / f"{name}-ros-extras" / "install").mkdir(parents=True)
    if checkout is not None:
        (venv / "checkout.txt").write_text(f"{checkout}\n")
    return venv


def _prune(venvs: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MIXFORMERV2_ROS_VENVS": str(venvs)}
    return subprocess.run(["bash", "scripts/prune_venvs.sh", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_prune_removes_only_the_environments_of_deleted_checkouts(tmp_path):
    venvs = tmp_path / "venvs"
    living = tmp_path / "living_clone"
    (living / "scripts").mkdir(parents=True)
    (living / "scripts" / "common.sh").write_text("# a checkout\n")
    deleted = tmp_path / "deleted_clone"  # never created: its clone is gone
    orphan = _make_venv(venvs, "deleted_clone-0123456789-kilted", deleted)
    orphan_jazzy = _make_venv(venvs, "deleted_clone-0123456789-jazzy", deleted)
    kept = _make_venv(venvs, "living_clone-abcdefabcd-kilted", living)
    unknown = _make_venv(venvs, "old-fedcba9876-kilted", None)

    dry = _prune(venvs, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "2 environment(s) of deleted checkouts found" in dry.stdout, dry.stdout
    assert orphan.is_dir() and orphan_jazzy.is_dir(), "a dry run removed something"

    done = _prune(venvs)
    assert done.returncode == 0, done.stderr
    assert not orphan.exists() and not Path(f"{orphan}-ros-extras").exists()
    assert not orphan_jazzy.exists() and not Path(f"{orphan_jazzy}-ros-extras").exists()
    assert kept.is_dir() and Path(f"{kept}-ros-extras").is_dir(), "removed a living checkout's venv"
    assert unknown.is_dir() and Path(f"{unknown}-ros-extras").is_dir(), "removed a venv of unknown owner"
    assert f"kept {unknown} (no checkout.txt" in done.stdout, done.stdout
    assert "2 environment(s) of deleted checkouts removed" in done.stdout, done.stdout


def test_prune_refuses_an_unknown_option(tmp_path):
    done = _prune(tmp_path / "venvs", "--all")
    assert done.returncode == 2 and "usage" in done.stderr


def test_setup_records_the_checkout_in_its_venv():
    """``scripts/setup.sh`` writes ``checkout.txt`` into the venv it made, naming this checkout,
    so that pruning can tell whose the venv is."""
    distros = [d for d in ("kilted", "jazzy")
               if subprocess.run(["bash", "-c", f"source scripts/common.sh && venv_dir {d}"], cwd=REPO,
                                 capture_output=True, text=True, check=True).stdout.strip() == sys.prefix]
    if not distros:
        pytest.skip(f"not running in a venv made by scripts/setup.sh for this checkout ({sys.prefix})")
    assert (Path(sys.prefix) / "checkout.txt").read_text().strip() == str(REPO)


def _ensure_venv(venv: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", 'source scripts/common.sh && ensure_venv "$1"', "ensure_venv", str(venv)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def _pip_works(venv: Path) -> bool:
    return subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "--version"],
                          capture_output=True, timeout=60).returncode == 0


def test_setup_remakes_a_venv_whose_creation_was_interrupted(tmp_path):
    """A ``python3 -m venv`` cut short leaves ``bin/python`` without pip (a killed CI run left one
    here, and every later ``make setup`` of that checkout failed with "No module named pip"):
    ``ensure_venv``, which ``scripts/setup.sh`` calls, remakes it; a finished venv is kept as it is."""
    venv = tmp_path / "venv"
    subprocess.run(["python3", "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    assert (venv / "bin" / "python").exists() and not _pip_works(venv)

    done = _ensure_venv(venv)
    assert done.returncode == 0, done.stderr
    assert "remaking the unfinished virtual environment" in done.stderr
    assert _pip_works(venv)

    (venv / "marker.txt").write_text("kept\n")
    again = _ensure_venv(venv)
    assert again.returncode == 0 and again.stderr == ""
    assert (venv / "marker.txt").read_text() == "kept\n"


def test_setup_makes_a_missing_venv(tmp_path):
    venv = tmp_path / "venvs" / "new"
    done = _ensure_venv(venv)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and _pip_works(venv)
