#!/usr/bin/env bash
# colcon-build the package (and the vision_msgs stand-in where the real one is absent)
# into build/<distro> and install/<distro>.
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
export AMENT_PREFIX_PATH="$venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"

base_paths=(.)
if ! python - <<'PY' 2>/dev/null
import sys
from ament_index_python.packages import get_package_share_directory
try:
    get_package_share_directory("vision_msgs")
except Exception:
    sys.exit(1)
PY
then
  base_paths+=(standins/vision_msgs)
fi
colcon --log-base "log/$distro" build --base-paths "${base_paths[@]}" \
  --build-base "build/$distro" --install-base "install/$distro" \
  --event-handlers console_direct- summary+ \
  --cmake-args -DBUILD_TESTING=OFF

