"""``approxhil experiments`` and ``approxhil report``: the resumable grid and the results report."""

from __future__ import annotations

from pathlib import Path

import typer

from approxhil import api
from approxhil.cli.common import WINDOW_DEFAULT, GradientOption, GradientWindow


def _split(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def experiments(
    networks: str = typer.Option("resnet8", help="comma-separated networks"),
    multipliers: str = typer.Option(",".join(api.PAPER_CONFIGS), help="comma-separated multipliers (configs or .npz tables)"),
    modes: str = typer.Option("errormodel,behavioral", help="comma-separated modes"),
    seeds: str = typer.Option("0", help="comma-separated seeds"),
    epochs: int = typer.Option(1, help="retraining epochs per cell"),
    fit_samples: int = typer.Option(1000, help="images the error model is fitted on"),
    train_subset: int | None = typer.Option(None, help="retrain on the first N training images only"),
    cross: str = typer.Option("", help="comma-separated multipliers for cross-evaluation (Table 7)"),
    refit_every: int = typer.Option(0, help="errormodel cells: refit the error model every N epochs (0: once, as the paper)"),
    hybrid: float = typer.Option(
        0.0, help="errormodel cells: behavioral simulation in layers whose error model raises the loss by more than this fraction"
    ),
    gradient: GradientOption = "ste",
    gradient_window: GradientWindow = WINDOW_DEFAULT,
    data: Path | None = typer.Option(None, help="CIFAR-10 location (batches folder, archive or npz)"),
    results: Path = typer.Option(Path("results"), help="results root (cells are resumed, never overwritten)"),
    device: str = typer.Option("cpu"),
    jobs: int = typer.Option(
        1, help="cells run at once in worker processes (several share one GPU well); with --executor dask: local workers"
    ),
    executor: str = typer.Option("local", help="local (this machine) or dask (a local Dask cluster, or the one at --address)"),
    address: str | None = typer.Option(
        None, help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (workers: dask worker ADDRESS --nthreads 1)"
    ),
    threads: int | None = typer.Option(None, help="PyTorch threads per cell (default: this machine's cores shared between the jobs)"),
    report: bool = typer.Option(True, help="write docs/results.md afterwards"),
) -> None:
    """Run every missing cell of the grid network × multiplier × mode × seed."""
    try:
        seed_values = tuple(int(s) for s in _split(seeds))
    except ValueError:
        raise typer.BadParameter(f"seeds must be comma-separated integers, got {seeds!r}", param_hint="--seeds") from None
    grid = api.Grid(
        networks=_split(networks),
        multipliers=_split(multipliers),
        modes=_split(modes),
        seeds=seed_values,
        epochs=epochs,
        fit_samples=fit_samples,
        train_subset=train_subset,
        cross=_split(cross),
        refit_every=refit_every,
        hybrid=hybrid,
        gradient=gradient,
        gradient_window=gradient_window,
    )
    api.run_grid(grid, results, data, device, jobs=jobs, executor=executor, address=address, threads=threads)
    if report:
        typer.echo(f"wrote {api.build_report(results, Path('docs'))}")


def report(
    results: Path = typer.Option(Path("results"), help="results root"),
    out: Path = typer.Option(Path("docs"), help="folder for results.md and plots/"),
    luts: Path = typer.Option(Path("docs/rtl.json"), help="LUT counts written by `approxhil rtl yosys --write`"),
) -> None:
    """Write results.md and plots from whatever cells exist."""
    typer.echo(f"wrote {api.build_report(results, out, luts=luts)}")
