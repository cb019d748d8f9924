#!/usr/bin/env bash
# The error-model variants of docs/experiments.md (ResNet8, 5 epochs, CIFAR-10): refitting every epoch,
# fitting on more images, hybrid retraining (behavioral simulation where the error model is a poor proxy)
# and hybrid with refitting. Resumable: finished cells are skipped. Extra arguments go to every run
# (e.g. --device cuda --jobs 4).
set -euo pipefail
cd "$(dirname "$0")/.."
run() { python3 -m approxhil experiments --networks resnet8 --modes errormodel --epochs 5 --no-report "$@"; }
run --multipliers 3333 "$@"
run --multipliers 2222 --refit-every 1 "$@"
run --multipliers 2222 --fit-samples 5000 "$@"
run --multipliers 1110,3330,3333,2222 --hybrid 0.1 "$@"
run --multipliers 3330,3333,2222 --hybrid 0.1 --refit-every 1 "$@"
python3 -m approxhil report
