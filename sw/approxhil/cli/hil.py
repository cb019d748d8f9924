"""``approxhil hil``: measure truth tables and layer outputs on the accelerator (PYNQ board or RTL simulation)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from approxhil import api

app = typer.Typer(help="Hardware in the loop: the accelerator on a PYNQ board (pynq) or in RTL simulation (sim).", no_args_is_help=True)

BACKEND_HELP = "sim (the hw/ RTL under cocotb) or pynq (a PYNQ board)"
CONFIGS_HELP = "sim: configs the simulated core holds (default: the measured one), e.g. '0000 3330 2222'"


def _open(backend: str, config: str, configs: Optional[str], simulator: str, lanes: Optional[int], bitstream: Optional[Path], board: Optional[str]):
    return api.open_backend(backend, config=config, configs=configs, simulator=simulator, lanes=lanes, bitstream=bitstream, board=board)


@app.command("info")
def info(
    backend: str = typer.Option("sim", help=BACKEND_HELP),
    simulator: str = typer.Option("verilator", help="sim: verilator | icarus"),
    configs: Optional[str] = typer.Option(None, help="sim: configs the simulated core holds (default 0000 3330 2222)"),
    lanes: Optional[int] = typer.Option(None, help="sim: multipliers in parallel (default 4)"),
    bitstream: Optional[Path] = typer.Option(None, help="pynq: the .bit (its .hwh beside it)"),
    board: Optional[str] = typer.Option(None, help="pynq: board name (default pynq-z2)"),
) -> None:
    """Open the accelerator and print what it reports (version, lanes, configs) and where it runs."""
    with api.open_backend(backend, configs=configs, simulator=simulator, lanes=lanes, bitstream=bitstream, board=board) as hw:
        core = hw.info
        typer.echo(f"approxhil core {core.version_text} on {hw.name}: {core.lanes} lanes, configs {' '.join(core.configs)}")
        for key, value in sorted(hw.provenance().items()):
            typer.echo(f"  {key:20s} {value}")


@app.command("table")
def table(
    config: str = typer.Option(..., "--config", "-c", help="SMApprox config in the core, e.g. 3330"),
    output: Path = typer.Option(..., "--output", "-o", help="table file to write (.npz)"),
    backend: str = typer.Option("sim", help=BACKEND_HELP),
    simulator: str = typer.Option("verilator", help="sim: verilator | icarus"),
    configs: Optional[str] = typer.Option(None, help=CONFIGS_HELP),
    lanes: Optional[int] = typer.Option(None, help="sim: multipliers in parallel (default 4)"),
    bitstream: Optional[Path] = typer.Option(None, help="pynq: the .bit (its .hwh beside it); default hw/build/<board>/"),
    board: Optional[str] = typer.Option(None, help="pynq: board name (default pynq-z2)"),
    operand_a: str = typer.Option("activation", help="tensor that feeds the core's operand A: activation | weight"),
) -> None:
    """Measure a multiplier's full 256x256 truth table on the accelerator."""
    api.check_output_path(output)
    name = api.parse_multiplier(config).name
    with _open(backend, name, configs, simulator, lanes, bitstream, board) as hw:
        measured = api.measure_table(hw, operand_a=operand_a)
        stats = hw.stats
    measured.save(output)
    diff = api.compare_tables(measured, api.golden_table(name, operand_a=operand_a))
    rate = stats.pairs / stats.seconds if stats.seconds else float("nan")
    typer.echo(f"wrote {output}: {measured!r}")
    typer.echo(f"measured on {measured.provenance['backend']}: {stats.pairs:,} pairs in {stats.seconds:.2f} s ({rate:,.0f} pairs/s)")
    if diff["mismatches"]:
        typer.echo(f"differs from the golden model in {diff['mismatches']} of {diff['entries']} entries, first (a, b, measured, golden): {diff['first']}")
    else:
        typer.echo("equals the golden model")


@app.command("fit")
def fit(
    config: str = typer.Option(..., "--config", "-c", help="SMApprox config in the core, e.g. 3330"),
    output: Path = typer.Option(..., "--output", "-o", help="error-model file to write"),
    model: str = typer.Option("digits_cnn", help="network"),
    weights: Optional[Path] = typer.Option(None, help="network weights (.h5 Keras ResNet8 or a saved state)"),
    data: Optional[Path] = typer.Option(None, help="data location (CIFAR-10); digits are embedded"),
    samples: int = typer.Option(256, help="training images to fit on"),
    batch_size: int = typer.Option(32, help="images per forward pass"),
    backend: str = typer.Option("sim", help=BACKEND_HELP),
    simulator: str = typer.Option("verilator", help="sim: verilator | icarus"),
    configs: Optional[str] = typer.Option(None, help=CONFIGS_HELP),
    lanes: Optional[int] = typer.Option(None, help="sim: multipliers in parallel (default 4)"),
    bitstream: Optional[Path] = typer.Option(None, help="pynq: the .bit (its .hwh beside it)"),
    board: Optional[str] = typer.Option(None, help="pynq: board name (default pynq-z2)"),
) -> None:
    """Fit the error model from layer outputs measured on the accelerator (then: approxhil retrain --error-model)."""
    api.check_output_path(output)
    name = api.parse_multiplier(config).name
    with _open(backend, name, configs, simulator, lanes, bitstream, board) as hw:
        em = api.fit_on_hardware(hw, model, name, samples, batch_size, weights=weights, data=data)
    em.save(output)
    typer.echo(api.markdown_table(api.summary_rows(em), floatfmt=".4g"))
    hil = em.meta["hil"]
    typer.echo(f"wrote {output} ({em.samples} samples from {em.source}: {hil['pairs']:,} operand pairs in {hil['jobs']} jobs, {em.meta['fit_seconds']:.1f} s)")
