#!/usr/bin/env bash
# ResNet8, 5 epochs, seeds 0-2 (docs/experiments.md, "Seeds and the like-for-like 8-bit line"):
# the exact 8-bit network retrained the same way (quant, multiplier 0000) as the reference; 3330 (MRE
# 6.4 %) x {errormodel, behavioral, hybrid 0.1, hybrid + refit}; 1110 and the large-error 2222 x
# {errormodel, behavioral, hybrid 0.1}; last the 8-bit-retrained networks run on each multiplier (quant).
# Most informative cells first;
# seed-0 cells that exist are reused. Resumable: finished cells are skipped, interrupted ones resume
# from their last epoch checkpoint. Runs on a local Dask cluster by default; extra arguments go to
# every run (then `approxhil report` regenerates docs/results.md), e.g.
#   scripts/seeded_grid.sh --jobs 1 --threads 2           # this 2-core machine: one cell at a time
#   scripts/seeded_grid.sh --address tcp://HOST:8786      # the workers of a running Dask scheduler
#   scripts/seeded_grid.sh --device cuda --jobs 8         # one GPU, 8 cells packed on it
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# Sleeping, not spinning, OpenMP threads: on shared cores spinning costs ~10x the CPU per training step.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
run() { "$PYTHON" -m approxhil experiments --networks resnet8 --epochs 5 --executor dask --no-report "$@"; }
run --multipliers 0000 --modes quant --seeds 0,1,2 "$@"
# The multipliers with MRE < 7 % first (the question of docs/experiments.md), one seed of each before the next.
for seed in 1 2; do
    run --multipliers 3330,1110 --modes errormodel,behavioral --seeds "$seed" "$@"
done
run --multipliers 3330 --modes errormodel --hybrid 0.1 --seeds 1,2 "$@"
run --multipliers 3330 --modes errormodel --hybrid 0.1 --refit-every 1 --seeds 1,2 "$@"
run --multipliers 2222 --modes errormodel,behavioral --seeds 1,2 "$@"
run --multipliers 2222 --modes errormodel --hybrid 0.1 --seeds 1,2 "$@"
run --multipliers 1110,3330,2222 --modes quant --seeds 0,1,2 "$@"
# Hybrid 0.1 selects no layer of 1110 (every layer's error model passes), so it equals errormodel: not run.
