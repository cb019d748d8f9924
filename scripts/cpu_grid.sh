#!/usr/bin/env bash
# The CPU share of the paper's experiments (see docs/results.md): ResNet8 on CIFAR-10, 1 epoch per cell.
# 1) 1110, 3330, 2222 x {errormodel, behavioral, baseline, awgn}, and Table 7's cross-evaluation;
# 2) all eight paper configs x {errormodel, behavioral}.
# Resumable: finished cells are skipped. Extra arguments go to both runs (e.g. --device cuda --epochs 5).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m approxhil experiments --networks resnet8 --multipliers 1110,3330,2222 \
    --modes errormodel,behavioral,baseline,awgn --epochs 1 --cross 1110,3330,2222 --no-report "$@"
python3 -m approxhil experiments --networks resnet8 --modes errormodel,behavioral --epochs 1 --no-report "$@"
python3 -m approxhil report
