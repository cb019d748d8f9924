"""``approxhil fit``, ``approxhil retrain`` and ``approxhil evaluate``: the retraining workflow step by step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from approxhil.errormodel import ErrorModel
from approxhil.experiments import Cell, run_cell
from approxhil.models.registry import model_info
from approxhil.textable import markdown_table
from approxhil.workflow import accuracies, load_retrained, approximate_network, fit as fit_model, float_network, load_splits, make_batches

WEIGHTS_HELP = "network weights (.h5 Keras ResNet8 or a saved state); default: the pretrained ResNet8"


def fit(
    model: str = typer.Option("resnet8", help="network"),
    multiplier: str = typer.Option(..., help="config (3330) or table file (.npz)"),
    output: Path = typer.Option(..., "--output", "-o", help="error-model file to write"),
    samples: int = typer.Option(1000, help="training images to fit on (p)"),
    weights: Optional[Path] = typer.Option(None, help=WEIGHTS_HELP),
    data: Optional[Path] = typer.Option(None, help="data location (CIFAR-10 batches folder, archive or npz)"),
) -> None:
    """Fit the per-neuron error model from the behavioral simulation."""
    info = model_info(model)
    splits = load_splits(info.dataset, data)
    approx = approximate_network(float_network(model, weights), multiplier, make_batches(model, splits.train, 64, train=False))
    em = fit_model(approx, make_batches(model, splits.train, 100, train=False), samples)
    em.save(output)
    rows = [{"layer": name, "mean rho": float(s.rho.mean()), "mean mu_e": float(s.mu_e.mean()), "mean sigma_e": float(s.sigma_e.mean())} for name, s in em.layers.items()]
    typer.echo(markdown_table(rows, floatfmt=".4g"))
    typer.echo(f"wrote {output} ({em.samples} samples, {em.meta['fit_seconds']:.1f} s)")


def retrain(
    model: str = typer.Option("resnet8", help="network"),
    multiplier: str = typer.Option(..., help="config (3330) or table file (.npz)"),
    mode: str = typer.Option("errormodel", help="errormodel | behavioral | baseline | awgn | quant | none"),
    epochs: int = typer.Option(5),
    seed: int = typer.Option(0),
    samples: int = typer.Option(1000, help="images the error model is fitted on"),
    error_model: Optional[Path] = typer.Option(None, help="use this fitted error model (e.g. from the board)"),
    train_subset: Optional[int] = typer.Option(None, help="retrain on the first N training images"),
    refit_every: int = typer.Option(0, help="refit the error model every N epochs (0: once, as the paper)"),
    hybrid: float = typer.Option(0.0, help="behavioral simulation in layers whose error model raises the loss by more than this fraction"),
    weights: Optional[Path] = typer.Option(None, help=WEIGHTS_HELP),
    data: Optional[Path] = typer.Option(None),
    results: Path = typer.Option(Path("results"), help="results root; the run's folder is resumed if interrupted"),
    device: str = typer.Option("cpu"),
) -> None:
    """Retrain an approximate network and evaluate it with the behavioral simulation."""
    cell = Cell(model, multiplier, mode, seed, epochs, samples, train_subset, refit_every, hybrid)
    em = ErrorModel.load(error_model) if error_model is not None else None
    result = run_cell(cell, results, data, device, weights=weights, error_model=em)
    typer.echo(json.dumps({k: result[k] for k in ("key", "before", "after", "fit_seconds")}, indent=2))
    typer.echo(f"results in {cell.folder(results)}")


def evaluate(
    model: str = typer.Option("resnet8"),
    multiplier: str = typer.Option(..., help="config (3330) or table file (.npz) to evaluate with"),
    weights: Optional[Path] = typer.Option(None, help=WEIGHTS_HELP),
    retrained: Optional[Path] = typer.Option(None, help="a retrained model.pt from `approxhil retrain`"),
    data: Optional[Path] = typer.Option(None),
) -> None:
    """Accuracy of a (retrained) network in float, exact 8-bit and behavioral simulation."""
    from approxhil.nn import set_multiplier
    from approxhil.experiments.runner import test_sets

    info = model_info(model)
    splits = load_splits(info.dataset, data)
    if retrained is not None:
        approx = load_retrained(model, multiplier, retrained)
        set_multiplier(approx, multiplier)
    else:
        approx = approximate_network(float_network(model, weights), multiplier, make_batches(model, splits.train, 64, train=False))
    tests = test_sets(model, splits)
    rows = [{"mode": mode, **accuracies(approx, tests, mode=mode)} for mode in ("quant", "evaluate")]
    typer.echo(markdown_table(rows))
