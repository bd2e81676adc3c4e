#!/usr/bin/env bash
# GPU check, run as is on a CUDA machine with torch (CUDA build), onnx, onnxscript, onnxruntime,
# numpy, opencv and pytest installed; needs ../shared/golden beside the checkout (the small
# checkpoint and its _io.npz at least; without the base checkpoint, test_golden_checkpoints[base]
# fails for the missing file). Prints the CUDA backend tests and the benchmark (fp32, fp16, CUDA
# graph) for S and B. The OpenVINO test is left out: OpenVINO is a CPU path, and GPU images
# (this workplace's included) do not carry the package; CI runs it.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
python=${PYTHON:-$(command -v python || command -v python3)}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
"$python" -m pytest -q -p no:cacheprovider test/test_backends.py test/test_model_cache.py -k "not openvino" 2>&1 | tail -n 15
"$python" -m mixformerv2_ros.tools.bench --iterations 200 --warmup 30 --json "${OUT:-.}/gpu_bench.json"
