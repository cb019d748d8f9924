"""Options and output steps several commands share, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

TableOutput = Annotated[Path, typer.Option("--output", "-o", help="table file to write (.npz)")]
OperandA = Annotated[str, typer.Option(help="tensor that feeds operand A: activation | weight")]
Encoding = Annotated[str | None, typer.Option(help="unsigned | sign-magnitude (default: sign-magnitude for 8x8)")]
Timeout = Annotated[float, typer.Option(help="seconds before a build or simulation is stopped")]
Weights = Annotated[Path | None, typer.Option(help="network weights (.h5 Keras ResNet8 or a saved state); default: the pretrained ResNet8")]
Data = Annotated[Path | None, typer.Option(help="data location (CIFAR-10 batches folder, archive or npz)")]
GradientOption = Annotated[
    str,
    typer.Option("--gradient", help="backward pass of the behavioral layers: ste (straight-through) | lut-diff | lut-1d (from the table)"),
]
#: The default half window, written here so that ``approxhil --help`` does not import torch.
WINDOW_DEFAULT = 4
GradientWindow = Annotated[int, typer.Option("--gradient-window", help="lut-diff: half window H of the smoothing (2H + 1 codes)")]


def write_table(output: Path, table: object, note: str = "") -> None:
    """Save a truth table (atomically) and say where."""
    table.save(output)  # type: ignore[attr-defined]
    typer.echo(f"wrote {output}: {table!r}{note}")
