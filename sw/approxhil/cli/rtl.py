"""``approxhil rtl``: simulate the netlists into tables, import foreign Verilog, verify, report LUTs."""

from __future__ import annotations

from pathlib import Path

import typer

from approxhil import api
from approxhil.cli.common import Encoding, OperandA, TableOutput, Timeout, write_table

app = typer.Typer(help="RTL: export simulated tables, import Verilog multipliers, verify, Yosys report.", no_args_is_help=True)


@app.command("export")
def export(
    config: str = typer.Option(..., "--config", "-c", help="SMApprox config (3330) or 4x4 design (4x4-2)"),
    output: TableOutput = ...,
    simulator: str = typer.Option("verilator", help="verilator | icarus"),
    encoding: Encoding = None,
    operand_a: OperandA = "activation",
    timeout: Timeout = 300.0,
) -> None:
    """Simulate a netlist exhaustively and write its truth table (provenance: simulator, RTL hashes)."""
    api.check_output_path(output)
    table = api.simulate_table(config, simulator=simulator, encoding=encoding, operand_a=operand_a, timeout=timeout)
    write_table(output, table, f" ({simulator} {table.provenance['simulator_version']})")


@app.command("import")
def import_(
    source: Path = typer.Argument(..., help="Verilog file holding the multiplier"),
    top: str = typer.Option(..., "--top", help="module name"),
    output: TableOutput = ...,
    a: str = typer.Option("A", "--a", help="operand A port (8 bits)"),
    b: str = typer.Option("B", "--b", help="operand B port (8 bits)"),
    y: str = typer.Option("O", "--y", help="product port (16 or 17 bits)"),
    signed: bool = typer.Option(False, "--signed", help="two's-complement operands and product"),
    simulator: str = typer.Option("icarus", help="icarus | verilator"),
    name: str | None = typer.Option(None, help="multiplier name (default: the module name)"),
    operand_a: OperandA = "activation",
    timeout: Timeout = 300.0,
) -> None:
    """Turn a combinational 8x8 multiplier in Verilog into a truth table by exhaustive simulation."""
    api.check_output_path(output)
    write_table(
        output,
        api.import_verilog(source, top, a=a, b=b, y=y, signed=signed, simulator=simulator, name=name, operand_a=operand_a, timeout=timeout),
    )


@app.command("verify")
def verify(
    simulator: list[str] = typer.Option(["icarus", "verilator"], "--simulator", "-s", help="simulators to run (repeat)"),
) -> None:
    """Sweep every 4x4 design, every paper config, 0000 and the signed wrapper; compare with the golden models."""
    results = []
    for sim in simulator:
        result = api.verify_rtl(sim)
        typer.echo(api.markdown_table(result.rows()))
        typer.echo(
            f"{result.simulator} {result.version}: {result.pairs} pairs, build {result.result.build_seconds:.1f} s, "
            f"sweep {result.result.run_seconds:.1f} s, total {result.seconds:.1f} s\n"
        )
        results.append(result)
    for result in results:
        result.check()
    typer.echo("all tables equal the golden models")


@app.command("yosys")
def yosys(
    write: bool = typer.Option(False, "--write", help="also write docs/rtl.md"),
    output: Path = typer.Option(Path("docs/rtl.md"), help="where --write puts the report (and its rows as .json beside it)"),
) -> None:
    """LUT and CARRY4 counts (Yosys synth_xilinx -family xc7) beside the paper's Table 1/2."""
    rows = api.lut_report()
    typer.echo(api.markdown_table(rows))
    if write:
        for path in api.write_lut_report(rows, output):
            typer.echo(f"wrote {path}")
