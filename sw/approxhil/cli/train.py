"""``approxhil fit``, ``approxhil retrain`` and ``approxhil evaluate``: the retraining workflow step by step."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from approxhil import api
from approxhil.cli.common import WINDOW_DEFAULT, Data, GradientOption, GradientWindow, Weights


def fit(
    model: str = typer.Option("resnet8", help="network"),
    multiplier: str = typer.Option(..., help="config (3330) or table file (.npz)"),
    output: Path = typer.Option(..., "--output", "-o", help="error-model file to write"),
    samples: int = typer.Option(1000, help="training images to fit on (p)"),
    weights: Weights = None,
    data: Data = None,
) -> None:
    """Fit the per-neuron error model from the behavioral simulation."""
    api.check_output_path(output)
    em = api.fit_network(model, multiplier, samples, weights=weights, data=data)
    em.save(output)
    typer.echo(api.markdown_table(api.summary_rows(em), floatfmt=".4g"))
    typer.echo(f"wrote {output} ({em.samples} samples, {em.meta['fit_seconds']:.1f} s)")


def retrain(
    model: str = typer.Option("resnet8", help="network"),
    multiplier: str = typer.Option(..., help="config (3330) or table file (.npz)"),
    mode: str = typer.Option("errormodel", help="errormodel | behavioral | baseline | awgn | quant | none"),
    epochs: int = typer.Option(5),
    seed: int = typer.Option(0),
    samples: int = typer.Option(1000, help="images the error model is fitted on"),
    error_model: Path | None = typer.Option(None, help="use this fitted error model (e.g. from the board)"),
    train_subset: int | None = typer.Option(None, help="retrain on the first N training images"),
    refit_every: int = typer.Option(0, help="refit the error model every N epochs (0: once, as the paper)"),
    hybrid: float = typer.Option(0.0, help="behavioral simulation in layers whose error model raises the loss by more than this fraction"),
    gradient: GradientOption = "ste",
    gradient_window: GradientWindow = WINDOW_DEFAULT,
    weights: Weights = None,
    data: Data = None,
    results: Path = typer.Option(Path("results"), help="results root; the run's folder is resumed if interrupted"),
    device: str = typer.Option("cpu"),
) -> None:
    """Retrain an approximate network and evaluate it with the behavioral simulation."""
    cell = api.Cell(
        network=model,
        multiplier=multiplier,
        mode=mode,
        seed=seed,
        epochs=epochs,
        fit_samples=samples,
        train_subset=train_subset,
        refit_every=refit_every,
        hybrid=hybrid,
        gradient=gradient,
        gradient_window=gradient_window,
    )
    em = api.ErrorModel.load(error_model) if error_model is not None else None
    result = api.run_cell(cell, results, data, device, weights=weights, error_model=em)
    typer.echo(json.dumps({k: result[k] for k in ("key", "before", "after", "fit_seconds")}, indent=2))
    typer.echo(f"results in {cell.folder(results)}")


def evaluate(
    model: str = typer.Option("resnet8"),
    multiplier: str = typer.Option(..., help="config (3330) or table file (.npz) to evaluate with"),
    weights: Weights = None,
    retrained: Path | None = typer.Option(None, help="a retrained model.pt from `approxhil retrain`"),
    data: Data = None,
) -> None:
    """Accuracy of a (retrained) network in exact 8-bit and with the multiplier's behavioral simulation."""
    typer.echo(api.markdown_table(api.evaluation_rows(model, multiplier, weights=weights, retrained=retrained, data=data)))
