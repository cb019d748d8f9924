"""``approxhil tables``: report, export, inspect and import truth tables."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from approxhil import api
from approxhil.cli.common import Encoding, OperandA, TableOutput, write_table

app = typer.Typer(help="Truth tables: report, export, info, import.", no_args_is_help=True)


@app.command("report")
def report(configs: list[str] | None = typer.Argument(None, help="8x8 configs (default: 0000 and the paper's eight)")) -> None:
    """Print the Table-1/Table-2 style report of the golden models."""
    typer.echo(api.markdown_table(api.design_report(configs)))


@app.command("export")
def export(
    config: str = typer.Option(..., "--config", "-c", help="SMApprox config (3330) or 4x4 design (4x4-2)"),
    output: TableOutput = ...,
    encoding: Encoding = None,
    operand_a: OperandA = "activation",
) -> None:
    """Export a golden-model truth table."""
    api.check_output_path(output)
    write_table(output, api.golden_table(config, encoding=encoding, operand_a=operand_a))


@app.command("info")
def info(path: Path, as_json: bool = typer.Option(False, "--json", help="print the metadata as JSON")) -> None:
    """Verify a table file and print its metadata and metrics."""
    meta = api.TruthTable.load(path).meta()
    if as_json:
        typer.echo(json.dumps(meta, indent=2, sort_keys=True))
        return
    for key in ("name", "bits", "encoding", "operand_a", "sha256"):
        typer.echo(f"{key:10s} {meta[key]}")
    typer.echo(f"{'source':10s} {json.dumps(meta['provenance'], sort_keys=True)}")
    typer.echo(api.markdown_table([meta["metrics"]], floatfmt=".4g"))


@app.command("import")
def import_(
    source: Path,
    output: TableOutput = ...,
    name: str | None = typer.Option(None, help="multiplier name (default: file stem)"),
    encoding: str = typer.Option("unsigned", help="unsigned | sign-magnitude | twos-complement"),
    operand_a: OperandA = "activation",
) -> None:
    """Import a foreign 256x256 (or 16x16) table from .npy or .csv."""
    api.check_output_path(output)
    write_table(output, api.import_array(source, name=name, encoding=encoding, operand_a=operand_a))
