"""Running experiment cells: base accuracies per network, one retraining cell, the grid, cross-evaluation."""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from approxhil.atomic import atomic_path, write_text
from approxhil.data import Splits
from approxhil.errormodel import ErrorModel
from approxhil.errormodel.fit import sample_neurons
from approxhil.experiments.executor import check_executor, run_cells
from approxhil.experiments.grid import EXACT, RESULT, Cell, Grid, StaleResultError, check_inputs, read_result
from approxhil.experiments.lock import LOCK, exclusive, remove_partial_files
from approxhil.machine import machine_info
from approxhil.models.macs import count_macs
from approxhil.models.registry import model_info
from approxhil.multipliers.golden import resolve_table
from approxhil.nn import approx_layers, set_multiplier
from approxhil.tables import TruthTable
from approxhil.train import evaluate
from approxhil.train.batchnorm import recalibrate_batchnorm
from approxhil.workflow import (
    FLOAT_EPOCHS,
    Prepared,
    accuracies,
    approximate_network,
    base_network,
    calibration_batches,
    fit_batches,
    input_fingerprints,
    load_retrained,
    load_splits,
    prepare,
    recover,
    save_network,
    test_sets,
    weights_file,
)
from approxhil_board.hashing import file_sha256

NEURONS = "neurons.npz"
MODEL = "model.pt"  # a finished cell's retrained network
BASE_LOCK = "base.lock"
BN_RECALIBRATION_SAMPLES = 2000
NEURON_SAMPLES = 500
#: What a cell's result records about its own run rather than its retraining (not taken from a shared retraining).
OWN_KEYS = ("cell", "key", "inputs", "table", "before", "after", "after_bn", "eval_seconds", "parallel_jobs")


def _save_neuron_samples(model, batches, path: Path, progress: bool = False) -> None:
    """Exact outputs and errors of three neurons of the first and last approximate layer (Fig. 3/4)."""
    names = list(approx_layers(model))
    arrays = {}
    for tag, name in (("first", names[0]), ("last", names[-1])):
        y, e = sample_neurons(model, batches, NEURON_SAMPLES, name, progress=progress)
        arrays[f"{tag}_y"], arrays[f"{tag}_e"] = y, e
        arrays[f"{tag}_name"] = np.array(name)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _write_json(path: Path, record: dict[str, Any]) -> None:
    write_text(path, json.dumps(record, indent=2, sort_keys=True, default=str))


def base_record(
    network: str,
    root: str | Path,
    data: str | Path | None = None,
    progress: bool = True,
    float_epochs: int = FLOAT_EPOCHS,
    device: str = "cpu",
) -> dict[str, Any]:
    """FP and exact 8-bit accuracy and MACs of a network (paper Table 4), cached in ``<root>/<network>/base.json``."""
    root = Path(root)
    path = root / network / "base.json"
    splits = load_splits(model_info(network).dataset, data)
    if path.is_file():
        return _checked_base(path, network, root, splits)
    with exclusive(root / network / BASE_LOCK):  # one run trains and evaluates the float network; the others wait
        if path.is_file():
            return _checked_base(path, network, root, splits)
        return _compute_base(network, root, path, splits, progress, float_epochs, device)


def _checked_base(path: Path, network: str, root: Path, splits: Splits) -> dict[str, Any]:
    """A cached base record, refused when the weights or data changed since it was written."""
    record = read_result(path)
    weights = weights_file(network, root=root)
    current = {"weights": file_sha256(weights) if weights.is_file() else None, "data": splits.fingerprint}
    recorded = record.get("inputs", current)  # records from before inputs were kept: the default weights, the shared data
    if recorded != current:
        raise StaleResultError(
            f"{path} was computed from other weights or data than this run's",
            fix=f"use another --results folder, or delete {path} to recompute it",
        )
    return record


def _compute_base(network: str, root: Path, path: Path, splits: Splits, progress: bool, float_epochs: int, device: str) -> dict[str, Any]:
    model = base_network(network, root, splits, float_epochs, progress, device)
    tests = test_sets(network, splits)
    model.eval()
    fp = {name: evaluate(model, batches)["accuracy"] for name, batches in tests.items()}
    quant = approximate_network(model, EXACT, calibration_batches(network, splits))
    record = {
        "network": network,
        "float": fp,
        "int8": accuracies(quant, tests, mode="quant"),
        "macs": count_macs(model, (1, *model_info(network).input_shape))["total"],
        "paper_macs": model_info(network).paper_macs,
        "inputs": {"weights": file_sha256(weights_file(network, root=root)), "data": splits.fingerprint},
        "machine": machine_info(),
    }
    _write_json(path, record)
    return record


def _after_bn_recalibration(approx, splits: Splits, tests: dict[str, Any], network: str, progress: bool = False) -> dict[str, float]:
    """Accuracy after re-estimating BatchNorm statistics under the behavioral simulation (a copy of the model)."""
    model = copy.deepcopy(approx)
    recalibrate_batchnorm(model, fit_batches(network, splits), BN_RECALIBRATION_SAMPLES, progress=progress)
    return accuracies(model, tests, progress=progress)


def _load_retrained(cell: Cell, root: Path):
    """The approximate network a finished cell saved (weights, quantizer steps, table)."""
    return load_retrained(cell.network, resolve_table(cell.multiplier), cell.folder(root) / MODEL)


def _before(approx, tests: dict[str, Any], path: Path, data: str, progress: bool = False) -> dict[str, float]:
    """Accuracy of the calibrated approximate network before retraining; shared by every mode of a multiplier.

    Cached per table and weights (the file name) and data (inside; records without it predate the check).
    """
    if path.is_file():
        cached = read_result(path)
        if "accuracy" not in cached:
            return cached
        if cached.get("data") == data:
            return cached["accuracy"]
    before = accuracies(approx, tests, progress=progress)
    _write_json(path, {"accuracy": before, "data": data})
    return before


def run_cell(
    cell: Cell,
    root: str | Path,
    data: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
    weights: str | Path | None = None,
    error_model: ErrorModel | None = None,
    jobs: int = 1,
) -> dict[str, Any]:
    """Run one cell (skipped when its result exists): approximate, accuracy before, recover, accuracy after.

    ``weights`` replaces the network's base weights; ``error_model`` (e.g. fitted from board measurements)
    replaces the fit on the behavioral simulation. ``jobs`` records how many cells shared the machine.
    """
    root = Path(root)
    folder = cell.folder(root)
    if cell.done(root):
        return _finished(cell, root, data, weights, error_model)
    source = shared_retraining(cell, root)
    shared = None
    if source is not None:  # its retraining first (or read back): this cell only evaluates the weights it gives
        shared = (source, run_cell(source, root, data, device, progress, weights, jobs=jobs))
    prepared = prepare(
        cell.network, cell.multiplier, weights=weights, data=data, root=root if weights is None else None, device=device, progress=progress
    )  # before, fit, retraining and after all run on device; inputs checked before any write
    with exclusive(folder / LOCK):  # one writer per cell, whichever executor or run asks for it
        if cell.done(root):  # finished by another run while this one waited for the lock
            return _finished(cell, root, data, weights, error_model)
        remove_partial_files(folder)  # left by a writer killed mid-write; its last checkpoint is resumed
        return _compute(cell, root, prepared, device, progress, error_model, jobs, shared)


def shared_retraining(cell: Cell, root: Path) -> Cell | None:
    """The cell whose retrained weights a ``quant`` cell of an approximate multiplier evaluates (``None``: retrain).

    ``quant`` retrains the exact 8-bit network: every layer computes exact products, and the activation
    steps are calibrated on the float network, so neither depends on the multiplier. The weights are those
    of the exact multiplier's cell with the same settings (run first when missing); only the multiplier
    they are evaluated on differs. Where that cell finished without keeping its weights (results copied
    without ``model.pt``), another multiplier's quant cell with the same settings that kept them serves;
    with none, the cell retrains. ``None`` for every other cell.
    """
    if cell.mode != "quant" or cell.multiplier_label == EXACT:
        return None
    exact = dataclasses.replace(cell, multiplier=EXACT)
    if not exact.done(root):
        return exact
    for model in [exact.folder(root) / MODEL, *sorted(root.glob(f"{cell.network}/*/quant/{Path(cell.key).name}/{MODEL}"))]:
        if model.is_file() and (model.parent / RESULT).is_file():
            return dataclasses.replace(cell, multiplier=read_result(model.parent / RESULT)["cell"]["multiplier"])
    return None


def _finished(
    cell: Cell, root: Path, data: str | Path | None, weights: str | Path | None, error_model: ErrorModel | None
) -> dict[str, Any]:
    """A finished cell's result, after checking it was computed from this run's inputs."""
    folder = cell.folder(root)
    result = read_result(folder / RESULT)
    check_inputs(result, _current_inputs(cell, root, data, weights, error_model), folder)
    return result


def _compute(
    cell: Cell,
    root: Path,
    prepared: Prepared,
    device: str,
    progress: bool,
    error_model: ErrorModel | None,
    jobs: int,
    shared: tuple[Cell, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The cell's work, resumed from its last epoch checkpoint if an earlier attempt was interrupted.

    With ``shared`` (a :func:`shared_retraining` cell and its result) the cell evaluates the weights that cell retrained.
    """
    folder = cell.folder(root)
    approx, tests, table = prepared.approx, prepared.tests, prepared.table
    start = time.perf_counter()
    inputs = prepared.inputs(error_model)
    before = _before(
        approx,
        tests,
        root / cell.network / cell.multiplier_label / f"before-{table.sha256[:12]}-{inputs['weights'][:12]}.json",
        inputs["data"],
        progress,
    )
    eval_seconds = time.perf_counter() - start
    if shared is not None:
        approx, record = _shared_retraining(*shared, root, table, device)
    else:
        fitting = prepared.fit_batches()
        if cell.mode == "errormodel":
            _save_neuron_samples(approx, fitting, folder / NEURONS, progress)
        config = cell.retrain_config(device)
        record = recover(
            approx,
            config,
            prepared.train_batches(config.batch_size, seed=cell.seed, subset=cell.train_subset),
            fit_batches=fitting,
            workdir=folder,
            error_model=error_model,
            progress=progress,
            inputs=inputs,
        )
    after = accuracies(approx, tests, progress=progress)
    save_network(approx, folder / MODEL)
    after_bn = _after_bn_recalibration(approx, prepared.splits, tests, cell.network, progress)
    result = {
        "cell": cell.to_dict(),
        "key": cell.key,
        "inputs": inputs,
        "table": {"name": table.name, "sha256": table.sha256, "metrics": table.metrics()},
        "before": before,
        "after": after,
        "after_bn": after_bn,
        "eval_seconds": eval_seconds,
        "parallel_jobs": jobs,
        **record,
    }
    _write_json(folder / RESULT, result)
    return read_result(folder / RESULT)  # as stored: the same record a later run reads back


def _shared_retraining(source: Cell, result: dict[str, Any], root: Path, table: TruthTable, device: str) -> tuple[Any, dict[str, Any]]:
    """The network ``source`` retrained, running on ``table``, and the retraining part of its ``result``."""
    approx = set_multiplier(_load_retrained(source, root), table).to(device)
    record = {key: value for key, value in result.items() if key not in OWN_KEYS}
    return approx, {"retrained_by": source.key, **record}  # a source that shared its weights names their origin


def _current_inputs(
    cell: Cell, root: Path, data: str | Path | None, weights: str | Path | None, error_model: ErrorModel | None
) -> dict[str, str | None]:
    """What the cell would be computed from now (without computing it)."""
    splits = load_splits(model_info(cell.network).dataset, data)
    path = weights_file(cell.network, weights, root)
    if not path.is_file():  # the float network trained under root is gone
        return {
            "table": resolve_table(cell.multiplier).sha256,
            "weights": None,
            "data": splits.fingerprint,
            "error_model": error_model.sha256() if error_model is not None else None,
        }
    current = input_fingerprints(resolve_table(cell.multiplier), path, splits, error_model)
    default = weights_file(cell.network, None, root) if weights is not None else path
    current["default_weights"] = file_sha256(default) if default.is_file() else None
    return current


def run_grid(
    grid: Grid,
    root: str | Path,
    data: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
    jobs: int = 1,
    executor: str = "local",
    address: str | None = None,
    threads: int | None = None,
) -> list[dict[str, Any]]:
    """Run every missing cell of ``grid`` (finished cells are read back, not rerun).

    ``executor`` (:mod:`approxhil.experiments.executor`): ``local`` runs ``jobs`` cells at once in worker
    processes of this machine (on a GPU a ResNet8 step is bound by kernel launches, so several processes
    share one device at close to their single speed); ``dask`` runs them on a local Dask cluster of
    ``jobs`` workers, or on the workers of the scheduler at ``address``. ``threads``: PyTorch threads per
    cell (default: this machine's cores shared between the jobs). Epoch times recorded by parallel cells
    include that sharing.
    """
    check_executor(executor, address, jobs, threads)
    root = Path(root)
    for network in grid.networks:
        base_record(network, root, data, progress, device=device)
    results = run_cells(
        list(grid.cells()), root, data, device, executor=executor, jobs=jobs, address=address, threads=threads, progress=progress
    )
    for network in grid.networks:
        for trained_for in grid.cross:
            for evaluated_on in grid.cross:
                cross_evaluate(network, trained_for, evaluated_on, root, grid, data, device=device)
    return results


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
    table = resolve_table(evaluated_on)
    if path.is_file():
        record = read_result(path)
        if record.get("evaluated_sha256", table.sha256) != table.sha256:
            raise StaleResultError(
                f"{path} was evaluated on another table than {evaluated_on} is now", fix=f"delete {path} to evaluate again"
            )
        return record
    splits = load_splits(model_info(network).dataset, data)
    approx = _load_retrained(source, root).to(device)
    set_multiplier(approx, table)
    record = {
        "network": network,
        "trained_for": trained_for,
        "evaluated_on": evaluated_on,
        "evaluated_sha256": table.sha256,
        "mode": mode,
        "source": source.key,
        "accuracy": accuracies(approx, test_sets(network, splits)),
    }
    _write_json(path, record)
    return record
