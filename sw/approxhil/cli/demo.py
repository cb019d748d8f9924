"""``approxhil demo``: the main job behind ``make demo`` (thin over :mod:`approxhil.demo`)."""

from __future__ import annotations

from pathlib import Path

import typer

from approxhil import api


def demo(
    config: str = typer.Option("2222", help="SMApprox config whose RTL is simulated"),
    model: str = typer.Option("digits_cnn", help="network: digits_cnn (embedded data) or resnet8 (CIFAR-10)"),
    dataset: str | None = typer.Option(None, help="data set (default: the network's): digits | cifar10"),
    data: Path | None = typer.Option(None, help="CIFAR-10 location for --dataset cifar10"),
    simulator: str = typer.Option("verilator", help="verilator | icarus"),
    rtl: bool = typer.Option(True, help="simulate the RTL (--no-rtl: use the golden model)"),
    epochs: int = typer.Option(3, help="retraining epochs per mode"),
    fit_samples: int = typer.Option(1000, help="images the error model is fitted on"),
    train_subset: int | None = typer.Option(None, help="retrain on the first N training images"),
    out: Path = typer.Option(Path("build/demo"), help="folder for tables, results and plots"),
) -> None:
    """Simulate RTL → export table → train 8-bit network → fit error model → retrain → evaluate → report."""
    cfg = api.DemoConfig(
        config=config,
        model=model,
        dataset=dataset,
        simulator=simulator,
        rtl=rtl,
        epochs=epochs,
        fit_samples=fit_samples,
        train_subset=train_subset,
        data=data,
        out=out,
    )
    api.run_demo(cfg, echo=typer.echo)
