#!/usr/bin/env bash
# Scaling of the grid executor: wall time of one 12-cell ResNet8 grid (1110, 3330, 2222 x errormodel,
# behavioral x seeds 0, 1; 1 epoch on the first 1,280 training images, so the behavioral evaluations
# weigh as much as training) on a local Dask cluster of each worker count in WORKERS, the machine's
# cores shared between the workers. Every run starts from a fresh folder holding only the base record and
# the before-retraining caches of results/resnet8, so only cells are timed. Prints one line per count.
#   scripts/grid_scaling.sh                               # this machine: 1 and 2 workers
#   WORKERS="1 4 8 12" DEVICE=cuda scripts/grid_scaling.sh  # one GPU, N cells packed on it
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# Sleeping, not spinning, OpenMP threads: on shared cores spinning costs ~10x the CPU per training step.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
WORKERS=${WORKERS:-"1 2"}
DEVICE=${DEVICE:-cpu}
CORES=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for n in $WORKERS; do
    root="$work/workers$n"
    for m in 1110 3330 2222; do
        mkdir -p "$root/resnet8/$m"
        cp results/resnet8/"$m"/before-*.json "$root/resnet8/$m/"
    done
    cp results/resnet8/base.json "$root/resnet8/"
    threads=$(( CORES / n > 0 ? CORES / n : 1 ))
    start=$(date +%s)
    "$PYTHON" -m approxhil experiments --networks resnet8 --multipliers 1110,3330,2222 --modes errormodel,behavioral --seeds 0,1 \
        --epochs 1 --train-subset 1280 --executor dask --jobs "$n" --threads "$threads" --device "$DEVICE" --results "$root" --no-report
    echo "12 ResNet8 cells on $DEVICE, $n workers x $threads threads: $(( $(date +%s) - start )) s"
done
