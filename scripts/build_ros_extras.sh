#!/usr/bin/env bash
# Build the ROS 2 pieces that PyPI lacks into a colcon workspace overlaid on this checkout's venv:
# launch + launch_ros (`ros2 launch`), the `ros2` command line, rosidl_runtime_py, the real
# vision_msgs, and cv_bridge (with rclcpp and libstatistics_collector, which only cv_bridge needs).
#
#   scripts/build_ros_extras.sh DISTRO [ARCHIVE]
#
# ARCHIVE defaults to ../shared/third_party/ros2/DISTRO.tar.gz (pinned upstream sources, one tree
# per distro; see its README). scripts/setup.sh calls this when that archive exists; the venv must
# exist already (setup.sh made it and installed requirements/ros-extras-DISTRO.txt into it).
#
# Idempotent: the workspace records what it was built from (the archive's sha256, this script's
# sha256 and the versions of the venv's ros-* wheels it links against) and the build is skipped
# when all three are unchanged. Anything else (a new archive, new ROS wheels, a failed or partial
# earlier build) gives a clean rebuild: about 3.5 min per distro on 2 idle cores, most of it rclcpp.
#
# The workspace lives outside the source tree, next to the venv (common.sh: extras_dir), because
# it is tied to that venv: its CMake files and libraries name the venv's paths.
set -euo pipefail
distro=${1:-}
# shellcheck source=scripts/common.sh
source "$(dirname "$0")/common.sh"
check_distro "$distro"
archive=${2:-$(extras_archive "$distro")}
[ -f "$archive" ] || { echo "build_ros_extras: no archive $archive" >&2; exit 2; }
archive=$(cd "$(dirname "$archive")" && pwd)/$(basename "$archive")
venv=$(venv_dir "$distro")
[ -x "$venv/bin/python" ] || { echo "build_ros_extras: no venv for $distro: run scripts/setup.sh $distro" >&2; exit 2; }
ws=$(extras_dir "$distro")
stamp=$ws/built-from.txt

# --- 1. Up to date? ------------------------------------------------------------------------------
# The ros-* wheel versions are part of the key: rclcpp and cv_bridge link against the venv's rcl,
# rmw and message libraries, so new wheels need a rebuild even from the same archive.
ros_wheels=$("$venv/bin/python" - <<'PY'
from importlib.metadata import distributions
print(" ".join(sorted(f"{d.metadata['Name'].lower()}=={d.version}" for d in distributions()
                      if d.metadata["Name"].lower().startswith("ros-"))))
PY
)
key="archive_sha256=$(sha256sum "$archive" | cut -d' ' -f1)
script_sha256=$(sha256sum "$0" | cut -d' ' -f1)
ros_wheels_sha256=$(printf '%s' "$ros_wheels" | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ -f "$ws/install/setup.bash" ] && [ "$(cat "$stamp")" = "$key" ]; then
  echo "build_ros_extras: $distro extras up to date in $ws ($(head -n1 "$stamp"))"
  exit 0
fi

# --- 2. Python and CMake pieces from PyPI --------------------------------------------------------
# setup.sh installs requirements/ros-extras-$distro.txt (pinned). The wheels' own metadata does not
# pull these in: launch imports osrf_pycommon; on Kilted, rclcpp's and cv_bridge's CMake files
# find_package ament_cmake_ros, ament_cmake_gtest and ament_cmake_gmock even with BUILD_TESTING=OFF.
if ! "$venv/bin/python" -c "import osrf_pycommon, lark, yaml, argcomplete, psutil, packaging, catkin_pkg, numpy" 2>/dev/null; then
  echo "build_ros_extras: the venv lacks Python pieces of the extras: run scripts/setup.sh $distro" \
       "(it installs requirements/ros-extras-$distro.txt)" >&2
  exit 2
fi

# --- 3. Debian packages for cv_bridge's C++ part -------------------------------------------------
# cv_bridge's Python module is a Boost.Python extension around OpenCV's C++ library; PyPI has
# neither as something CMake can find, Debian has both.
missing=()
for p in libboost-python-dev libopencv-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "build_ros_extras: cv_bridge needs Debian packages: run as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "build_ros_extras: installing ${missing[*]} (apt)"
  # A fresh machine (a CI container) may have no package lists yet: update once, then install.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  }
fi

# --- 4. Fresh sources and a clean workspace -------------------------------------------------------
rm -rf "$ws"
mkdir -p "$ws/src"
tar -xzf "$archive" -C "$ws/src"
src=$ws/src/$distro
[ -d "$src/launch" ] && [ -d "$src/vision_opencv" ] || {
  echo "build_ros_extras: $archive does not hold $distro/{launch,vision_opencv,...}" >&2; exit 2; }

# The ROS wheels' CMake files were exported on the wheels' build machine and name its paths:
# (a) include directories under /opt/python/cp311-cp311/... (rosidl's Python exports): CMake only
#     checks that they exist, so empty directories do (setup.sh makes them too);
# (b) link items in imported targets: /usr/lib64/libtinyxml2.so (fastdds) and -llttng-ust
#     (tracetools). The wheels ship their own copies of these libraries, found through the wheel
#     libraries' RPATH, and nothing built here calls them directly; linking rclcpp and
#     libstatistics_collector fails on the missing files unless the items are dropped. The CMake
#     file below drops them from every imported target once a project's CMakeLists has been read,
#     through CMAKE_PROJECT_INCLUDE, so neither the upstream sources nor the venv are patched.
for d in /opt/python/cp311-cp311/include/python3.11 \
         /opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include; do
  [ -d "$d" ] || mkdir -p "$d"
done
fixups=$ws/drop_foreign_link_items.cmake
cat >"$fixups" <<'CMAKE'
# Included into every project of the extras build (CMAKE_PROJECT_INCLUDE). Deferred to the end of
# the top-level directory, when all imported targets exist; runs once per project.
get_property(_mixformer_fixup_scheduled GLOBAL PROPERTY MIXFORMER_DROP_FOREIGN_LINK_ITEMS)
if(NOT _mixformer_fixup_scheduled)
  set_property(GLOBAL PROPERTY MIXFORMER_DROP_FOREIGN_LINK_ITEMS TRUE)
  function(_mixformer_drop_foreign_link_items)
    find_library(_mixformer_lttng_ust lttng-ust)
    get_property(_targets DIRECTORY "${CMAKE_SOURCE_DIR}" PROPERTY IMPORTED_TARGETS)
    foreach(_target IN LISTS _targets)
      get_target_property(_items ${_target} INTERFACE_LINK_LIBRARIES)
      if(NOT _items)
        continue()
      endif()
      set(_kept "")
      set(_dropped "")
      foreach(_item IN LISTS _items)
        # An absolute path that does not exist here, or lttng-ust where it is not installed.
        if((_item MATCHES "^/" AND NOT EXISTS "${_item}")
           OR (_item STREQUAL "lttng-ust" AND NOT _mixformer_lttng_ust))
          list(APPEND _dropped "${_item}")
        else()
          list(APPEND _kept "${_item}")
        endif()
      endforeach()
      if(_dropped)
        message(STATUS "mixformerv2_ros extras: ${_target}: dropped link items of the wheels' build machine: ${_dropped}")
        set_target_properties(${_target} PROPERTIES INTERFACE_LINK_LIBRARIES "${_kept}")
      endif()
    endforeach()
  endfunction()
  cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _mixformer_drop_foreign_link_items)
endif()
CMAKE

# --- 5. colcon build, overlaid on the venv --------------------------------------------------------
# shellcheck disable=SC1091
source "$venv/bin/activate"
# Without the venv in AMENT_PREFIX_PATH the build finds no rosidl_typesupport_c (the wheels'
# ament index lives in the venv). No other workspace may leak in.
export AMENT_PREFIX_PATH=$venv
unset COLCON_PREFIX_PATH CMAKE_PREFIX_PATH
export MAKEFLAGS=-j${JOBS:-$(nproc)}
# What the project uses; --packages-up-to adds what they need from the archive (launch_ros,
# launch_xml/yaml, rosidl_runtime_py, rclcpp, libstatistics_collector, statistics_msgs, ...).
# ros2multicast and ros2doctor are not in the archive on purpose: they send multicast and probe
# the network interfaces, and no traffic may leave this machine.
targets=(ros2launch ros2cli ros2pkg ros2run ros2topic ros2service ros2param ros2node ros2lifecycle
         ros2interface ros2action ros2component vision_msgs cv_bridge)
start=$(date +%s)
cd "$ws"
log=$ws/colcon-build.log
echo "build_ros_extras: building the $distro extras into $ws (a few minutes; log: $log)"
if ! colcon --log-base "$ws/log" build --base-paths "$src" --build-base "$ws/build" \
    --install-base "$ws/install" --packages-up-to "${targets[@]}" \
    --event-handlers console_direct- console_cohesion+ summary+ \
    --cmake-args -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PROJECT_INCLUDE=$fixups" \
      "-DPython3_EXECUTABLE=$venv/bin/python" >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "build_ros_extras: the $distro extras failed to build (full log: $log)" >&2
  exit 1
fi
grep -E "^Summary" "$log" || true
# Written last: only a complete build counts as up to date.
printf '%s\n' "$key" >"$stamp"
printf '%s\n' "$ros_wheels" >"$ws/ros-wheels.txt"
echo "build_ros_extras: $distro extras built in $(( $(date +%s) - start )) s into $ws/install"
