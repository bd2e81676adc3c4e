# Source me:  source scripts/ros_env.sh [kilted|jazzy]
# Activates this checkout's venv for the distro, sources the colcon install, and keeps ROS 2
# discovery on this machine (mandatory here: no DDS traffic may leave localhost).
# colcon's setup scripts read unset variables: relax `set -u` while sourcing them.
case $- in *u*) _restore_u=1; set +u ;; *) _restore_u=0 ;; esac
_distro=${1:-${MIXFORMERV2_ROS_DISTRO:-kilted}}
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
check_distro "$_distro" || { [ "$_restore_u" = 1 ] && set -u; return 2; }
_venv=$(venv_dir "$_distro")
if [ ! -f "$root/install/$_distro/setup.bash" ]; then
  echo "ros_env: $root/install/$_distro is missing: run scripts/setup.sh $_distro" >&2
  [ "$_restore_u" = 1 ] && set -u
  return 2
fi
# shellcheck disable=SC1091
source "$_venv/bin/activate"
export AMENT_PREFIX_PATH="$_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
# The ROS 2 extras (ros2 CLI, launch, vision_msgs, cv_bridge; scripts/build_ros_extras.sh), where
# set-up built them, go under the package's install: the package was built against them.
_extras=$(extras_dir "$_distro")
if [ -f "$_extras/built-from.txt" ] && [ -f "$_extras/install/setup.bash" ]; then
  # shellcheck disable=SC1091
  source "$_extras/install/setup.bash"
  export MIXFORMERV2_ROS_EXTRAS=$_extras/install
else
  unset MIXFORMERV2_ROS_EXTRAS
fi
# shellcheck disable=SC1091
source "$root/install/$_distro/setup.bash"
export MIXFORMERV2_ROS_DISTRO=$_distro
export ROS_DISTRO=$_distro   # as a ROS install's setup.bash does (the launch files read it)
export RMW_IMPLEMENTATION=rmw_fastrtps_cpp
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST   # Kilted (and Jazzy)
[ "$_distro" = jazzy ] && export ROS_LOCALHOST_ONLY=1   # Jazzy honours it; Kilted ignores it
# A domain of its own, unless one is set: the first free one from a random start, held while
# this shell lives (flock on a file it keeps open), from the lock files the tests reserve theirs
# in (test/ros_harness.py), so a demo or benchmark started while tests run never shares their
# domain, where two nodes of the same name would both answer a service call.
if [ -z "${ROS_DOMAIN_ID:-}" ]; then
  _locks=${TMPDIR:-/tmp}/mixformerv2_ros_domains
  _start=$RANDOM
  if command -v flock >/dev/null && mkdir -p "$_locks"; then
    for _i in $(seq 0 99); do
      _d=$(( (_start + _i) % 100 + 1 ))
      exec {_fd}>>"$_locks/$_d.lock"
      if flock -n "$_fd"; then export ROS_DOMAIN_ID=$_d; break; fi
      exec {_fd}>&-
    done
  fi
  export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( _start % 100 + 1 ))}   # no flock, or all 100 held
  unset _locks _start _i _d _fd
fi
[ "$_restore_u" = 1 ] && set -u
unset _distro _venv _extras _restore_u
