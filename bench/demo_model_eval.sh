#!/usr/bin/env bash
# The demo model against OpenCV's CSRT on the uav_dev clips: first the two clips held out of its
# training, then all six. Each run prints a table and writes summary.json and success_plot.png.
#
#   bench/demo_model_eval.sh [OUT_DIR]     (default out/eval_demo; set-up done: make setup)
#
# Both trackers run on one thread (--threads 1; CSRT is single-threaded), so their frame rates
# compare the same CPU budget.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$root/out/eval_demo}
data=$root/../shared/data/uav_dev
# shellcheck disable=SC1091
source "$root/scripts/ros_env.sh" kilted >/dev/null
model=$(python -c "from mixformerv2_ros.model.config import demo_model_path; print(demo_model_path())")
held_out=$(python -c "from mixformerv2_ros.training.train import DEFAULT_HELDOUT_CLIPS as c; print(','.join(c))")
for run in heldout all; do
  sequences=()
  if [ $run = heldout ]; then sequences=(--sequences "$held_out"); fi
  echo "=== $run: $model vs CSRT"
  TQDM_DISABLE=1 python -m mixformerv2_ros.tools.evaluate "$data" --model "$model" --threads 1 --csrt \
    "${sequences[@]}" --out "$out/$run"
done
