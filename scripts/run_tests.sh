#!/usr/bin/env bash
# The whole test suite: `make test` runs this after `scripts/setup.sh` for each distro.
#   scripts/run_tests.sh kilted jazzy [-- extra pytest args]
# The first distro runs everything (core + ROS); later distros run the ROS tests (marker `ros`):
# the core does not depend on the distro (same pinned torch/onnxruntime/numpy in every venv).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
distros=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do distros+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#distros[@]} -gt 0 ] || distros=(kilted)
status=0
first=1
for distro in "${distros[@]}"; do
  start=$(date +%s)
  if [ $first = 1 ]; then selection=(); else selection=(-m ros); fi
  echo "=== tests on ROS 2 $distro ${selection[*]:+(${selection[*]})}"
  (
    # shellcheck disable=SC1091
    source "$here/ros_env.sh" "$distro" || exit 2
    cd "$here/.." || exit 2
    # Fast DDS's own tool removes the shared-memory files of dead processes (killed nodes leave
    # them in /dev/shm; hundreds had piled up here); files in use are left alone.
    timeout 60 fastdds shm clean > /dev/null 2>&1 || true
    # The `pytest` script (not `python -m pytest`) keeps the source tree off sys.path, so the
    # tests import the colcon-installed package, generated messages included.
    pytest -p no:cacheprovider "${selection[@]}" "$@" test
  )
  rc=$?
  echo "=== ROS 2 $distro: exit $rc, $(( $(date +%s) - start )) s"
  [ $rc = 0 ] || status=$rc
  first=0
done
exit $status
