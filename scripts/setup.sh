#!/usr/bin/env bash
# Create the pinned virtual environment for one ROS 2 distro, build the ROS 2 extras where their
# sources are available (scripts/build_ros_extras.sh), and colcon-build the package.
#   scripts/setup.sh [kilted|jazzy]
# Idempotent: re-running only installs what changed and rebuilds (the extras only when their
# sources or the ROS wheels changed).
set -euo pipefail
distro=${1:-kilted}
# shellcheck source=scripts/common.sh
source "$(dirname "$0")/common.sh"
check_distro "$distro"
cd "$root"
venv=$(venv_dir "$distro")

ensure_venv "$venv"
printf '%s\n' "$root" >"$venv/checkout.txt"  # whose venv it is (scripts/prune_venvs.sh)
# The ROS 2 pieces PyPI lacks (launch, the ros2 CLI, vision_msgs, cv_bridge) are built from
# pinned sources where ../shared has them (here and in CI); elsewhere the package builds against
# its vision_msgs stand-in and the tests that need them skip, saying why.
archive=$(extras_archive "$distro")
extras_requirements=()
if [ -f "$archive" ]; then
  extras_requirements=(-r "requirements/ros-extras-$distro.txt")
fi
pip_log=$(mktemp)
if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check \
  -c "requirements/constraints-$distro.txt" \
  -r requirements/core.txt -r requirements/training.txt -r requirements/test.txt -r "requirements/$distro.txt" \
  "${extras_requirements[@]}" >"$pip_log" 2>&1; then
  grep -v "^WARNING: Location" "$pip_log" >&2; exit 1
fi
rm -f "$pip_log"

# The ROS wheels' CMake exports name include directories of the machine they were built on;
# CMake only checks that they exist (see the README, "Building here").
for d in /opt/python/cp311-cp311/include/python3.11 \
         /opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include; do
  [ -d "$d" ] || mkdir -p "$d"
done

if [ -f "$archive" ]; then
  "$root/scripts/build_ros_extras.sh" "$distro" "$archive"
else
  echo "setup: no $archive: building without the ROS 2 extras (vision_msgs stand-in; no ros2 CLI," \
       "launch or cv_bridge, so the tests that need them skip)"
fi

exec "$root/scripts/build.sh" "$distro"
