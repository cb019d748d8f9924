"""``approxhil demo``: the main job behind ``make demo``."""

from __future__ import annotations

from pathlib import Path

import typer

from approxhil.multipliers.compose import PAPER_CONFIGS
from approxhil.multipliers.golden import golden_table
from approxhil.multipliers.report import design_report
from approxhil.textable import markdown_table


def demo(out: Path = typer.Option(Path("build/demo"), help="folder for tables, results and plots")) -> None:
    """Build every paper config's table, write them, print the design report."""
    for config in PAPER_CONFIGS:
        golden_table(config).save(out / "tables" / f"{config}.npz")
    typer.echo(markdown_table(design_report()))
    typer.echo(f"tables written to {out / 'tables'}")
