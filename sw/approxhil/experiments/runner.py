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
from approxhil.errormodel.fit import sample_neurons
from approxhil.data import Splits
from approxhil.errormodel import ErrorModel
from approxhil.machine import machine_info
from approxhil.models.macs import count_macs
from approxhil.models.registry import build_model, model_info
from approxhil.multipliers.golden import resolve_table
from approxhil.nn import set_multiplier
from approxhil.train import RetrainConfig
from approxhil.train.batchnorm import recalibrate_batchnorm
from approxhil.train.pretrain import train_float
from approxhil.workflow import accuracies, load_retrained, approximate_network, float_network, load_splits, make_batches, recover, save_network

from approxhil.experiments.grid import RESULT, Cell, Grid

CALIBRATION_BATCHES = 4
NEURONS = "neurons.npz"
BN_RECALIBRATION_SAMPLES = 2000
NEURON_SAMPLES = 500


def _save_neuron_samples(model, batches, path: Path) -> None:
    """Exact outputs and errors of three neurons of the first and last approximate layer (Fig. 3/4)."""
    from approxhil.nn import approx_layers

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


def test_sets(network: str, splits: Splits, batch_size: int = 256) -> dict[str, Any]:
    """Named evaluation sets: CIFAR-10 reports the exact-pixel test images beside the whole test set."""
    sets = {"test": make_batches(network, splits.test, batch_size, train=False)}
    if not bool(splits.test.exact.all()):
        sets["test_exact"] = make_batches(network, splits.test.subset(exact_only=True), batch_size, train=False)
    return sets


def base_network(network: str, root: Path, splits: Splits, float_epochs: int = 30, progress: bool = True, device: str = "cpu"):
    """The float network: pretrained weights where they exist, else trained once (on ``device``) and cached under ``root``."""
    if network == "resnet8":
        return float_network(network)
    path = root / network / "float" / "model.pt"
    if path.is_file():
        return float_network(network, path)
    torch.manual_seed(0)  # the same float network whichever process or run trains it
    model = build_model(network)
    train_float(model, make_batches(network, splits.train, 128, train=True), float_epochs, workdir=path.parent, progress=progress, device=device)
    model.cpu()
    save_network(model, path)
    return model


def base_record(
    network: str, root: str | Path, data: str | Path | None = None, progress: bool = True, float_epochs: int = 30, device: str = "cpu"
) -> dict[str, Any]:
    """FP and exact 8-bit accuracy and MACs of a network (paper Table 4), cached in ``<root>/<network>/base.json``."""
    root = Path(root)
    path = root / network / "base.json"
    if path.is_file():
        return json.loads(path.read_text())
    info = model_info(network)
    splits = load_splits(info.dataset, data)
    model = base_network(network, root, splits, float_epochs, progress, device)
    tests = test_sets(network, splits)
    fp = {}
    model.eval()
    from approxhil.train import evaluate

    for name, batches in tests.items():
        fp[name] = evaluate(model, batches)["accuracy"]
    calib = make_batches(network, splits.train, 64, train=False)
    quant = approximate_network(model, "0000", calib, CALIBRATION_BATCHES)
    record = {
        "network": network,
        "float": fp,
        "int8": accuracies(quant, tests, mode="quant"),
        "macs": count_macs(model, (1, *info.input_shape))["total"],
        "paper_macs": info.paper_macs,
        "machine": machine_info(),
    }
    _write_json(path, record)
    return record


def _after_bn_recalibration(approx, train: Any, tests: dict[str, Any], network: str) -> dict[str, float]:
    """Accuracy after re-estimating BatchNorm statistics under the behavioral simulation (a copy of the model)."""
    model = copy.deepcopy(approx)
    recalibrate_batchnorm(model, make_batches(network, train, 100, train=False), BN_RECALIBRATION_SAMPLES)
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
        result = json.loads((folder / RESULT).read_text())
        if "after_bn" not in result and (folder / "model.pt").is_file():  # cells finished before this measurement existed
            splits = load_splits(model_info(cell.network).dataset, data)
            retrained = _load_retrained(cell, root).to(device)
            result["after_bn"] = _after_bn_recalibration(retrained, splits.train, test_sets(cell.network, splits), cell.network)
            _write_json(folder / RESULT, result)
        return result
    info = model_info(cell.network)
    splits = load_splits(info.dataset, data)
    train_images = splits.train if cell.train_subset is None else splits.train.subset(cell.train_subset)
    model = float_network(cell.network, weights) if weights is not None else base_network(cell.network, root, splits, progress=progress, device=device)
    table = resolve_table(cell.multiplier)
    calib = make_batches(cell.network, splits.train, 64, train=False)
    approx = approximate_network(model, table, calib, CALIBRATION_BATCHES).to(device)  # before, fit, retraining and after all run on device
    tests = test_sets(cell.network, splits)
    start = time.perf_counter()
    before = _before(approx, tests, root / cell.network / cell.multiplier_label / f"before-{table.sha256[:12]}.json")
    eval_seconds = time.perf_counter() - start
    fit_batches = make_batches(cell.network, splits.train, 100, train=False)
    if cell.mode == "errormodel":
        _save_neuron_samples(approx, fit_batches, folder / NEURONS)
    fitted = cell.mode == "errormodel"  # refit and hybrid apply to the error model only
    config = RetrainConfig(mode=cell.mode, epochs=cell.epochs, seed=cell.seed, fit_samples=cell.fit_samples, refit_every=cell.refit_every if fitted else 0,
                           hybrid=cell.hybrid if fitted else 0.0, device=device)
    record = recover(
        approx,
        config,
        make_batches(cell.network, train_images, config.batch_size, train=True, seed=cell.seed),
        fit_batches=fit_batches,
        workdir=folder,
        error_model=error_model,
        progress=progress,
    )
    after = accuracies(approx, tests)
    save_network(approx, folder / "model.pt")
    after_bn = _after_bn_recalibration(approx, splits.train, tests, cell.network)
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
    source = Cell(network, trained_for, mode, grid.seeds[0], grid.epochs, grid.fit_samples, grid.train_subset, grid.refit_every, grid.hybrid)
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
