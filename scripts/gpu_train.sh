#!/usr/bin/env bash
# One prepared training call for a lent GPU machine (the device tool): the checkout and a bundle
# from `python -m mixformerv2_ros.training.bundle --extra-dir CLIPS --out .gpu_train` travel;
# nothing else is there (no ../shared, no internet). Runs under the machine's own python3 (it has
# torch with CUDA, onnx, onnxruntime, opencv); run it as
#   scripts/gpu_train.sh NAME [train options...]   (several NAME options... groups: see below)
# Each run's log, exported graphs and weights (model and dense head, no optimizer: small enough
# to come back; `train --init-from OUT/NAME/weights.pt` continues from them) land in $OUT/NAME.
#
# RUNS: several runs share one GPU well (the model is small, the GPU mostly idle for one run):
# give them as groups separated by `--` and they train at the same time on one feature cache,
# which the first group's options define (pairs, seed and shares must then be the same in all):
#   scripts/gpu_train.sh scratch --lr 4e-4 -- tuned --init-from mixformerv2_ros/models/demo.onnx --lr 1.2e-4
# Common options go in $TRAIN_ARGS; the synthesis uses every core but one (--workers).
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=${BUNDLE:-.gpu_train}
out=${OUT:-gpu_out}
[ -f "$bundle/BUNDLE.json" ] || { echo "no bundle at $bundle (make one with mixformerv2_ros.training.bundle)" >&2; exit 2; }
mkdir -p "$bundle/clips"  # a bundle in parts (bundle --part-mb): each later part brought its clips/
for part in "$bundle".[0-9]*; do
  [ -d "$part/clips" ] && find "$part/clips" -mindepth 1 -maxdepth 1 -exec mv -t "$bundle/clips" {} +
done
echo "bundle: $(ls "$bundle/clips" | wc -l) clips in $bundle/clips"
mkdir -p ../shared  # where shared_path looks; a gpu_check call before may have put golden/ there
for part in models data; do [ -e "../shared/$part" ] || ln -s "$(cd "$bundle" && pwd)/shared/$part" "../shared/$part"; done
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
work=${WORK_DIR:-/tmp/gpu_train_work}
common=(--device "${DEVICE:-cuda}" --data "$bundle/shared/data" --extra-dir "$bundle/clips" --val-pairs 0 --workers $(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))
        ${TRAIN_ARGS:-})

# split "$@" into groups at each "--"
groups=() ; current=""
for arg in "$@"; do
  if [ "$arg" = "--" ]; then groups+=("$current"); current=""; else current+="${current:+ }$arg"; fi
done
groups+=("$current")

run() {  # run NAME OPTIONS... : one training run into $out/NAME
  local name=$1; shift
  mkdir -p "$out/$name" "$work/$name"
  "$python" -m mixformerv2_ros.training.train "${common[@]}" --work "$work/$name" "$@" \
    --export "$out/$name/demo.onnx" >"$out/$name/train.log" 2>&1
  "$python" - "$work/$name/checkpoint.pt" "$out/$name/weights.pt" <<'EOF'
import sys, torch
state = torch.load(sys.argv[1], weights_only=True, map_location="cpu")
torch.save({k: state[k] for k in ("model", "aux_head", "distill_head", "step", "elapsed", "config") if k in state},
           sys.argv[2])
EOF
}

# the first group builds the feature cache alone (no steps), then every group trains at once on it
read -r -a first <<<"${groups[0]}"
"$python" -m mixformerv2_ros.training.train "${common[@]}" --work "$work/cache" "${first[@]:1}" --max-steps 0 \
  2>&1 | grep -v '^{' | tail -n 3
pids=()
for group in "${groups[@]}"; do
  read -r -a options <<<"$group"
  mkdir -p "$work/${options[0]}"
  ln -sf "$work"/cache/train-*.pt "$work/${options[0]}/"
  run "${options[@]}" & pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
for group in "${groups[@]}"; do
  read -r -a options <<<"$group"
  echo "== ${options[0]}"; grep -v '^encoded' "$out/${options[0]}/train.log" | tail -n 4
done
exit $status
