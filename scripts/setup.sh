#!/usr/bin/env bash
# Create the pinned virtual environment for one ROS 2 distro and colcon-build the package.
#   scripts/setup.sh [kilted|jazzy]
# Idempotent: re-running only installs what changed and rebuilds.
set -euo pipefail
distro=${1:-kilted}
# shellcheck source=scripts/common.sh
source "$(dirname "$0")/common.sh"
check_distro "$distro"
cd "$root"
venv=$(venv_dir "$distro")

if [ ! -x "$venv/bin/python" ]; then
  mkdir -p "$(dirname "$venv")"
  python3 -m venv "$venv"
fi
pip_log=$(mktemp)
if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check \
  -c "requirements/constraints-$distro.txt" \
  -r requirements/core.txt -r requirements/training.txt -r requirements/test.txt -r "requirements/$distro.txt" \
  >"$pip_log" 2>&1; then
  grep -v "^WARNING: Location" "$pip_log" >&2; exit 1
fi
rm -f "$pip_log"

# The ROS wheels' CMake exports name include directories of the machine they were built on;
# CMake only checks that they exist (see the README, "Building here").
for d in /opt/python/cp311-cp311/include/python3.11 \
         /opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include; do
  [ -d "$d" ] || mkdir -p "$d"
done

exec "$root/scripts/build.sh" "$distro"
