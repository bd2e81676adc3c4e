#!/usr/bin/env bash
# The ROS tests while every tracker node is frozen (SIGSTOP) for 1.2 s out of every 3.7 s: a far
# harsher version of the stalls a shared CI machine sometimes causes. The node tests must pass
# anyway (their thresholds allow for stalls; what they check does not depend on them).
#   scripts/stall_check.sh [kilted|jazzy] [-- extra pytest args]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
distro=${1:-kilted}
shift || true
[ "${1:-}" = "--" ] && shift

freeze_nodes() {
  local pids
  while true; do
    sleep 2.5
    pids=$(pgrep -f "lib/mixformerv2_ros/tracker_node") && kill -STOP $pids 2>/dev/null
    sleep 1.2
    [ -n "${pids:-}" ] && kill -CONT $pids 2>/dev/null
  done
}

freeze_nodes &
freezer=$!
trap 'kill $freezer 2>/dev/null; wait $freezer 2>/dev/null; pkill -CONT -f "lib/mixformerv2_ros/tracker_node"' EXIT
(
  # shellcheck disable=SC1091
  source "$here/ros_env.sh" "$distro" || exit 2
  cd "$here/.." || exit 2
  pytest -p no:cacheprovider -m ros "$@" test
)
