# Sourced by the other scripts: where this checkout's environments live.
# The venvs sit outside the source tree: CMake refuses generated interface targets whose include
# directories (numpy's, inside the venv) lie inside the package's source directory.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_checkout_id=$(printf '%s' "$root" | sha1sum | cut -c1-10)
venv_dir() {  # venv_dir DISTRO
  echo "${MIXFORMERV2_ROS_VENVS:-$HOME/.cache/mixformerv2_ros/venvs}/$(basename "$root")-$_checkout_id-$1"
}
# The colcon workspace of the ROS 2 pieces PyPI lacks (scripts/build_ros_extras.sh), built on
# top of the venv and tied to it, so it sits beside it.
extras_dir() {  # extras_dir DISTRO
  echo "$(venv_dir "$1")-ros-extras"
}
# Their pinned sources, when ../shared is beside the checkout (here and in CI).
extras_archive() {  # extras_archive DISTRO
  echo "${MIXFORMERV2_ROS_THIRD_PARTY:-$root/../shared/third_party/ros2}/$1.tar.gz"
}
# A venv at DIR whose pip works, made (or remade) with the system's python3. An interrupted
# `python3 -m venv` (Ctrl-C, a killed CI job: it happened here) leaves bin/python without pip, and
# every later install into it fails with "No module named pip"; so pip, not the interpreter, is
# what tells a finished venv, and an unfinished one is cleared and made again.
ensure_venv() {  # ensure_venv DIR
  if ! "$1/bin/python" -m pip --version >/dev/null 2>&1; then
    [ -e "$1" ] && echo "remaking the unfinished virtual environment $1 (it has no pip)" >&2
    mkdir -p "$(dirname "$1")"
    python3 -m venv --clear "$1"
  fi
}
check_distro() {
  case "$1" in kilted|jazzy) ;; *) echo "unknown ROS distro '$1' (kilted|jazzy)" >&2; return 2;; esac
}
