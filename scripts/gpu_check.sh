#!/usr/bin/env bash
# One short run on a machine with a CUDA GPU: the CUDA tests (engines bit-exact on the GPU, the
# gather-cuda kernel's self-check, retraining on CUDA), then the GPU benchmarks into
# docs/benchmarks-gpu.md. Run from anywhere; about 2-4 minutes on an H200.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/sw${PYTHONPATH:+:$PYTHONPATH}"
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
python -m pytest -q -x -m gpu tests/nn tests/train/test_cuda.py
python -m bench gpu --out docs/benchmarks-gpu.md
