#!/usr/bin/env bash
# The default (demo) model against OpenCV's TrackerNano (NanoTrack v2) and CSRT on clips held out of
# its training: uav_dev's person12_1 and car16_1, and the five clips of train_sources.json that
# mixformerv2_ros.training.train holds out (DEFAULT_HELDOUT_EXTRA). The model runs once per setting: with
# the default settings (the lost-target rule), with reacquire_windows=4 (the lost rule plus
# whole-frame re-acquisition), with lost_threshold=0 (never declares loss, as the official tracker),
# with size_calibration=0 (reported boxes uncorrected, as the official tracker) and with
# size_smoothing=0 (the network's box size every frame, as the official tracker) and with
# min_box_side=10 (the official 10 px floor on the box); then the defaults, the baselines,
# re-acquisition, lost_threshold=0, size_calibration=0, size_smoothing=0 and min_box_side=10 again
# with restarts (--starts 3), and the defaults, the baselines, size_calibration=0, size_smoothing=0
# and min_box_side=10 with five starts per clip (--starts 5).
#
#   bench/demo_model_eval.sh CLIPS_DIR [OUT_DIR]     (set-up done: make setup)
#
# CLIPS_DIR holds the train_sources.json clips in the uav_dev layout, as written by
#   ../shared/tools/extract_clips.py --mirror MIRROR --out CLIPS_DIR
# (research data: keep it outside the repository). OUT_DIR defaults to out/eval_demo; each run
# prints a table and writes summary.json and success_plot.png there.
#
# Every tracker runs on one thread (--threads 1 also sets OpenCV's; CSRT is single-threaded), so
# their frame rates compare the same CPU budget.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
clips=${1:?usage: bench/demo_model_eval.sh CLIPS_DIR [OUT_DIR]}
out=${2:-$root/out/eval_demo}
uav_dev=$root/../shared/data/uav_dev
# shellcheck disable=SC1091
source "$root/scripts/ros_env.sh" kilted >/dev/null
# DEMO_MODEL=path evaluates another model (a training run's export) the same way.
model=${DEMO_MODEL:-$(python -c "from mixformerv2_ros.model.config import demo_model_path; print(demo_model_path())")}
held_out=$(python -c "from mixformerv2_ros.training.train import DEFAULT_HELDOUT_CLIPS as a, DEFAULT_HELDOUT_EXTRA as b
print(','.join(a + b))")
# Every run: the model (and any baselines) on the held-out clips, one thread, plus the arguments given.
evaluate_held_out() {
  TQDM_DISABLE=1 python -m mixformerv2_ros.tools.evaluate "$uav_dev" "$clips" --model "$model" --threads 1 \
    --sequences "$held_out" "$@"
}
echo "=== held out ($held_out): $model (default settings) vs TrackerNano vs CSRT"
evaluate_held_out --baseline nano --baseline csrt --out "$out/heldout"
echo "=== held out: $model with reacquire_windows=4"
evaluate_held_out --set reacquire_windows=4 --out "$out/heldout_reacquire"
echo "=== held out: $model with lost_threshold=0"
evaluate_held_out --set lost_threshold=0 --out "$out/heldout_no_lost_rule"
echo "=== held out: $model with size_calibration=0"
evaluate_held_out --set size_calibration=0 --out "$out/heldout_no_size_calibration"
echo "=== held out: $model with size_smoothing=0"
evaluate_held_out --set size_smoothing=0 --out "$out/heldout_no_size_smoothing"
echo "=== held out: $model with min_box_side=10"
evaluate_held_out --set min_box_side=10 --out "$out/heldout_min_box_side_10"
# One run per clip is one sample of a chaotic process (an early slip decides the rest of the clip),
# so the same clips again with restarts at 1/3 and 2/3 of each clip (OTB's TRE): 21 runs a tracker.
echo "=== held out, restarted at 0, 1/3 and 2/3 of each clip: $model (default settings) vs TrackerNano vs CSRT"
evaluate_held_out --starts 3 --baseline nano --baseline csrt --out "$out/heldout_restarts"
echo "=== held out, restarted: $model with reacquire_windows=4"
evaluate_held_out --starts 3 --set reacquire_windows=4 --out "$out/heldout_restarts_reacquire"
echo "=== held out, restarted: $model with lost_threshold=0"
evaluate_held_out --starts 3 --set lost_threshold=0 --out "$out/heldout_restarts_no_lost_rule"
echo "=== held out, restarted: $model with size_calibration=0"
evaluate_held_out --starts 3 --set size_calibration=0 --out "$out/heldout_restarts_no_size_calibration"
echo "=== held out, restarted: $model with size_smoothing=0"
evaluate_held_out --starts 3 --set size_smoothing=0 --out "$out/heldout_restarts_no_size_smoothing"
echo "=== held out, restarted: $model with min_box_side=10"
evaluate_held_out --starts 3 --set min_box_side=10 --out "$out/heldout_restarts_min_box_side_10"
# Five starts (0, 1/5, ..., 4/5 of each clip: 35 runs) weigh the later, shorter runs more; on these
# clips they moved the demo model and CSRT apart by more than three starts did.
echo "=== held out, restarted at 5 points of each clip: $model (default settings) vs TrackerNano vs CSRT"
evaluate_held_out --starts 5 --baseline nano --baseline csrt --out "$out/heldout_restarts5"
echo "=== held out, restarted at 5 points of each clip: $model with size_calibration=0"
evaluate_held_out --starts 5 --set size_calibration=0 --out "$out/heldout_restarts5_no_size_calibration"
echo "=== held out, restarted at 5 points of each clip: $model with size_smoothing=0"
evaluate_held_out --starts 5 --set size_smoothing=0 --out "$out/heldout_restarts5_no_size_smoothing"
echo "=== held out, restarted at 5 points of each clip: $model with min_box_side=10"
evaluate_held_out --starts 5 --set min_box_side=10 --out "$out/heldout_restarts5_min_box_side_10"
