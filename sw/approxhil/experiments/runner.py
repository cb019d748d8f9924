"""Running experiment cells: base accuracies per network, one retraining cell, the grid, cross-evaluation."""

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

import numpy as np
import torch

from approxhil.atomic import atomic_path, write_text
from approxhil.data import Splits
from approxhil.errormodel import ErrorModel
from approxhil.errormodel.fit import sample_neurons
from approxhil.experiments.grid import RESULT, Cell, Grid
from approxhil.machine import machine_info
from approxhil.models.macs import count_macs
from approxhil.models.registry import model_info
from approxhil.multipliers.golden import resolve_table
from approxhil.nn import approx_layers, set_multiplier
from approxhil.train import evaluate
from approxhil.train.batchnorm import recalibrate_batchnorm
from approxhil.workflow import (
    FLOAT_EPOCHS,
    accuracies,
    approximate_network,
    base_network,
    calibration_batches,
    fit_batches,
    load_retrained,
    load_splits,
    prepare,
    recover,
    save_network,
    test_sets,
)

NEURONS = "neurons.npz"
BN_RECALIBRATION_SAMPLES = 2000
NEURON_SAMPLES = 500


def _save_neuron_samples(model, batches, path: Path) -> None:
    """Exact outputs and errors of three neurons of the first and last approximate layer (Fig. 3/4)."""
    names = list(approx_layers(model))
    arrays = {}
    for tag, name in (("first", names[0]), ("last", names[-1])):
        y, e = sample_neurons(model, batches, NEURON_SAMPLES, name)
        arrays[f"{tag}_y"], arrays[f"{tag}_e"] = y, e
        arrays[f"{tag}_name"] = np.array(name)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)



def _write_json(path: Path, record: dict[str, Any]) -> None:
    write_text(path, json.dumps(record, indent=2, sort_keys=True, default=str))


def base_record(
    network: str, root: str | Path, data: str | Path | None = None, progress: bool = True, float_epochs: int = FLOAT_EPOCHS, device: str = "cpu"
) -> dict[str, Any]:
    """FP and exact 8-bit accuracy and MACs of a network (paper Table 4), cached in ``<root>/<network>/base.json``."""
    root = Path(root)
    path = root / network / "base.json"
    if path.is_file():
        return json.loads(path.read_text())
    splits = load_splits(model_info(network).dataset, data)
    model = base_network(network, root, splits, float_epochs, progress, device)
    tests = test_sets(network, splits)
    model.eval()
    fp = {name: evaluate(model, batches)["accuracy"] for name, batches in tests.items()}
    quant = approximate_network(model, "0000", calibration_batches(network, splits))
    record = {
        "network": network,
        "float": fp,
        "int8": accuracies(quant, tests, mode="quant"),
        "macs": count_macs(model, (1, *model_info(network).input_shape))["total"],
        "paper_macs": model_info(network).paper_macs,
        "machine": machine_info(),
    }
    _write_json(path, record)
    return record


def _after_bn_recalibration(approx, splits: Splits, tests: dict[str, Any], network: str) -> dict[str, float]:
    """Accuracy after re-estimating BatchNorm statistics under the behavioral simulation (a copy of the model)."""
    model = copy.deepcopy(approx)
    recalibrate_batchnorm(model, fit_batches(network, splits), BN_RECALIBRATION_SAMPLES)
    return accuracies(model, tests)


def _load_retrained(cell: Cell, root: Path):
    """The approximate network a finished cell saved (weights, quantizer steps, table)."""
    return load_retrained(cell.network, resolve_table(cell.multiplier), cell.folder(root) / "model.pt")


def _before(approx, tests: dict[str, Any], path: Path) -> dict[str, float]:
    """Accuracy of the calibrated approximate network before retraining; shared by every mode of a multiplier."""
    if path.is_file():
        return json.loads(path.read_text())
    before = accuracies(approx, tests)
    _write_json(path, before)
    return before


def run_cell(
    cell: Cell,
    root: str | Path,
    data: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
    weights: str | Path | None = None,
    error_model: "ErrorModel | None" = None,
    jobs: int = 1,
) -> dict[str, Any]:
    """Run one cell (skipped when its result exists): approximate, accuracy before, recover, accuracy after.

    ``weights`` replaces the network's base weights; ``error_model`` (e.g. fitted from board measurements)
    replaces the fit on the behavioral simulation. ``jobs`` records how many cells shared the machine.
    """
    root = Path(root)
    folder = cell.folder(root)
    if cell.done(root):
        return json.loads((folder / RESULT).read_text())
    prepared = prepare(cell.network, cell.multiplier, weights=weights, data=data, root=root if weights is None else None, device=device,
                       progress=progress)  # before, fit, retraining and after all run on device
    approx, tests, table = prepared.approx, prepared.tests, prepared.table
    start = time.perf_counter()
    before = _before(approx, tests, root / cell.network / cell.multiplier_label / f"before-{table.sha256[:12]}.json")
    eval_seconds = time.perf_counter() - start
    fitting = prepared.fit_batches()
    if cell.mode == "errormodel":
        _save_neuron_samples(approx, fitting, folder / NEURONS)
    config = cell.retrain_config(device)
    record = recover(
        approx,
        config,
        prepared.train_batches(config.batch_size, seed=cell.seed, subset=cell.train_subset),
        fit_batches=fitting,
        workdir=folder,
        error_model=error_model,
        progress=progress,
    )
    after = accuracies(approx, tests)
    save_network(approx, folder / "model.pt")
    after_bn = _after_bn_recalibration(approx, prepared.splits, tests, cell.network)
    result = {
        "cell": cell.to_dict(),
        "key": cell.key,
        "table": {"name": table.name, "sha256": table.sha256, "metrics": table.metrics()},
        "before": before,
        "after": after,
        "after_bn": after_bn,
        "eval_seconds": eval_seconds,
        "parallel_jobs": jobs,
        **record,
    }
    _write_json(folder / RESULT, result)
    return result


def run_grid(
    grid: Grid, root: str | Path, data: str | Path | None = None, device: str = "cpu", progress: bool = True, jobs: int = 1
) -> list[dict[str, Any]]:
    """Run every missing cell of ``grid`` (finished cells are read back, not rerun).

    ``jobs`` > 1 runs that many cells at once in worker processes: on a GPU a ResNet8 step is bound by
    kernel launches, so several processes share one device at close to their single speed. Epoch times
    recorded by parallel cells include that sharing.
    """
    root = Path(root)
    for network in grid.networks:
        base_record(network, root, data, progress, device=device)
    cells = list(grid.cells())
    if jobs > 1:
        results = _run_parallel(cells, root, data, device, jobs, progress)
    else:
        results = [run_cell(cell, root, data, device, progress) for cell in tqdm(cells, desc="grid", disable=not progress)]
    for network in grid.networks:
        for trained_for in grid.cross:
            for evaluated_on in grid.cross:
                cross_evaluate(network, trained_for, evaluated_on, root, grid, data, device=device)
    return results


def _worker_init(threads: int) -> None:
    torch.set_num_threads(threads)


def _run_parallel(cells: list[Cell], root: Path, data: str | Path | None, device: str, jobs: int, progress: bool) -> list[dict[str, Any]]:
    threads = max(1, (os.cpu_count() or 1) // jobs)
    context = multiprocessing.get_context("spawn")  # CUDA cannot be used in forked children
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_worker_init, initargs=(threads,)) as pool:
        futures = [pool.submit(run_cell, cell, root, data, device, False, None, None, jobs) for cell in cells]
        for future in tqdm(futures, desc=f"grid ({jobs} jobs)", disable=not progress):
            future.exception()  # wait; a failed cell does not stop the others, its error is raised below
    return [f.result() for f in futures]


def cross_evaluate(
    network: str,
    trained_for: str,
    evaluated_on: str,
    root: str | Path,
    grid: Grid,
    data: str | Path | None = None,
    mode: str = "errormodel",
    device: str = "cpu",
) -> dict[str, Any] | None:
    """Accuracy of the network retrained for ``trained_for`` when run on ``evaluated_on`` (paper Table 7)."""
    root = Path(root)
    source = grid.cell(network, trained_for, mode, grid.seeds[0])
    if not source.done(root):
        return None
    path = root / network / "cross" / Path(source.key).name / f"{trained_for}-on-{evaluated_on}.json"
    if path.is_file():
        return json.loads(path.read_text())
    splits = load_splits(model_info(network).dataset, data)
    approx = _load_retrained(source, root).to(device)
    set_multiplier(approx, resolve_table(evaluated_on))
    record = {
        "network": network,
        "trained_for": trained_for,
        "evaluated_on": evaluated_on,
        "mode": mode,
        "source": source.key,
        "accuracy": accuracies(approx, test_sets(network, splits)),
    }
    _write_json(path, record)
    return record
