#!/usr/bin/env bash
# The GPU share of the experiments (docs/experiments.md), for a machine with one CUDA device, JOBS cells
# packed on it by a local Dask cluster. Resumable: finished cells are skipped.
# 1) the 13 cells of the paper's ResNet8 grid (eight configs x errormodel, behavioral, baseline, awgn x
#    5 epochs) that results/gpu lacks;
# 2) ResNet14 and ALL-CNN: float pretraining on the device (cached under results/gpu), then 1110, 3330,
#    2222 x errormodel, behavioral x 5 epochs;
# 3) the seeded like-for-like grid of scripts/seeded_grid.sh on the GPU;
# 4) packing: the 12-cell ResNet8 grid with 1, 4, 8 and 12 cells on the device.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-12}
run() { "$PYTHON" -m approxhil experiments --device cuda --executor dask --jobs "$JOBS" --results results/gpu --no-report "$@"; }
run --networks resnet8 --modes errormodel,behavioral,baseline,awgn --epochs 5
run --networks resnet14,allcnn --multipliers 1110,3330,2222 --modes errormodel,behavioral --epochs 5
scripts/seeded_grid.sh --device cuda --jobs "$JOBS" --results results/gpu
WORKERS="1 4 8 12" DEVICE=cuda scripts/grid_scaling.sh
"$PYTHON" -m approxhil report --results results/gpu --out docs/gpu
