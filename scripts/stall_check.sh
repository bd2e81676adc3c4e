#!/usr/bin/env bash
# The ROS tests on a machine that freezes processes: every 3.7 s, for 1.2 s, either every node
# the tests started (tracker, video publisher, ...) or the test process itself is stopped
# (SIGSTOP), in turn. A far harsher version of what a shared CI machine sometimes does. The tests
# must pass anyway: what they check does not depend on such stalls.
#   scripts/stall_check.sh [kilted|jazzy] [-- extra pytest args]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
distro=${1:-kilted}
shift || true
[ "${1:-}" = "--" ] && shift

nodes="lib/mixformerv2_ros/"
tests="bin/pytest -p no:cacheprovider -m ros"

freeze() {
  local turn=0 pattern pids
  while true; do
    sleep 2.5
    if [ $((turn++ % 2)) = 0 ]; then pattern=$nodes; else pattern=$tests; fi
    pids=$(pgrep -f "$pattern") && kill -STOP $pids 2>/dev/null
    sleep 1.2
    [ -n "$pids" ] && kill -CONT $pids 2>/dev/null
  done
}

freeze &
freezer=$!
trap 'kill $freezer 2>/dev/null; wait $freezer 2>/dev/null; pkill -CONT -f "$nodes"; pkill -CONT -f "$tests"' EXIT
# Left out: the frame-transport test (test_demo_launch.py) counts every frame of a 15 Hz stream at
# the node, whose image subscription keeps one frame (it never queues): a node frozen for 1.2 s
# loses the frames sent meanwhile by design, whatever the transport.
"$here/run_tests.sh" "$distro" -- -m ros --deselect \
  test/test_demo_launch.py::test_every_1280x720_frame_at_15_hz_reaches_the_node "$@"
