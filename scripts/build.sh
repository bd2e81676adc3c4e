#!/usr/bin/env bash
# colcon-build the package into build/<distro> and install/<distro>, against the real vision_msgs
# where it is installed (the ROS 2 extras workspace of scripts/build_ros_extras.sh, or a ROS
# install), else against the stand-in in standins/vision_msgs. Says which one it used.
set -euo pipefail
distro=${1:-kilted}
# shellcheck source=scripts/common.sh
source "$(dirname "$0")/common.sh"
check_distro "$distro"
cd "$root"
venv=$(venv_dir "$distro")
[ -x "$venv/bin/python" ] || { echo "build: no venv for $distro: run scripts/setup.sh $distro" >&2; exit 2; }
# shellcheck disable=SC1091
source "$venv/bin/activate"
# Keep an underlay the caller sourced (a ROS install), but not this checkout's own install trees
# (a shell that sourced ros_env.sh has them): their stand-in would pass for a real vision_msgs.
underlay=()
IFS=: read -r -a prefixes <<<"${AMENT_PREFIX_PATH:-}"
for p in "${prefixes[@]}"; do
  case $p in ""|"$root"/install/*|"$venv") ;; *) underlay+=("$p") ;; esac
done
AMENT_PREFIX_PATH=$venv
for p in "${underlay[@]}"; do AMENT_PREFIX_PATH+=":$p"; done
export AMENT_PREFIX_PATH
unset COLCON_PREFIX_PATH
extras=$(extras_dir "$distro")
if [ -f "$extras/built-from.txt" ] && [ -f "$extras/install/setup.bash" ]; then
  # colcon's setup scripts read unset variables.
  set +u
  # shellcheck disable=SC1091
  source "$extras/install/setup.bash"
  set -u
fi

base_paths=(.)
vision_msgs=$(python - <<'PY' 2>/dev/null || true
from ament_index_python.packages import get_package_prefix
print(get_package_prefix("vision_msgs"))
PY
)
if [ -n "$vision_msgs" ]; then
  using="real vision_msgs from $vision_msgs"
else
  base_paths+=(standins/vision_msgs)
  using="vision_msgs stand-in (standins/vision_msgs): no vision_msgs installed"
fi
# Switching between the stand-in and the real package needs a clean build: the old build tree's
# CMake cache and the install tree's stand-in would otherwise shadow the new one.
marker=build/$distro/.vision_msgs_source
if [ -d "build/$distro" ] && [ "$(cat "$marker" 2>/dev/null)" != "$using" ]; then
  echo "build: vision_msgs changed ($(cat "$marker" 2>/dev/null || echo "not recorded") -> $using):" \
       "clean build of $distro"
  rm -rf "build/$distro" "install/$distro"
fi
echo "build: $distro against the $using"
colcon --log-base "log/$distro" build --base-paths "${base_paths[@]}" \
  --build-base "build/$distro" --install-base "install/$distro" \
  --event-handlers console_direct- summary+ \
  --cmake-args -DBUILD_TESTING=OFF
printf '%s\n' "$using" >"$marker"
