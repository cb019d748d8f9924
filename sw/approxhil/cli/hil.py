"""``approxhil hil``: measure truth tables and layer outputs on the accelerator (a board, or the RTL simulation),
and set up a board's agent (``deploy``)."""

from __future__ import annotations

from pathlib import Path

import typer

from approxhil import api

app = typer.Typer(
    help="Hardware in the loop: the accelerator on a board (remote: through its agent; pynq: on the board itself) or in RTL simulation (sim).",
    no_args_is_help=True,
)

BACKEND_HELP = "sim (the hw/ RTL under cocotb), remote (a board's agent, see `hil deploy`) or pynq (on the board itself)"
CONFIGS_HELP = (
    "sim: configs the simulated core holds (default: the measured one), e.g. '0000 3330 2222'; remote: configs the board's core must hold"
)
LANES_HELP = "sim: multipliers in parallel (default 4); remote: lanes the board's core must have"
BITSTREAM_HELP = (
    "pynq: the .bit (its .hwh beside it), default hw/build/<board>/; remote: the bitstream the board must run (checked by hash)"
)
BOARD_HELP = "remote: the agent's HOST[:PORT]; pynq: board name (default pynq-z2)"
SECRET_HELP = "remote: the board's secret (default: where `approxhil hil deploy` wrote it)"


def _open(
    backend: str,
    config: str | None,
    configs: str | None,
    simulator: str,
    lanes: int | None,
    bitstream: Path | None,
    board: str | None,
    secret_file: Path | None,
):
    return api.open_backend(
        backend, config=config, configs=configs, simulator=simulator, lanes=lanes, bitstream=bitstream, board=board, secret_file=secret_file
    )


@app.command("info")
def info(
    backend: str = typer.Option("sim", help=BACKEND_HELP),
    simulator: str = typer.Option("verilator", help="sim: verilator | icarus"),
    configs: str | None = typer.Option(
        None, help="sim: configs the simulated core holds (default 0000 3330 2222); remote: configs it must hold"
    ),
    lanes: int | None = typer.Option(None, help=LANES_HELP),
    bitstream: Path | None = typer.Option(None, help=BITSTREAM_HELP),
    board: str | None = typer.Option(None, help=BOARD_HELP),
    secret_file: Path | None = typer.Option(None, help=SECRET_HELP),
) -> None:
    """Open the accelerator and print what it reports (version, lanes, configs) and where it runs."""
    with _open(backend, None, configs, simulator, lanes, bitstream, board, secret_file) as hw:
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
    configs: str | None = typer.Option(None, help=CONFIGS_HELP),
    lanes: int | None = typer.Option(None, help=LANES_HELP),
    bitstream: Path | None = typer.Option(None, help=BITSTREAM_HELP),
    board: str | None = typer.Option(None, help=BOARD_HELP),
    secret_file: Path | None = typer.Option(None, help=SECRET_HELP),
    operand_a: str = typer.Option("activation", help="tensor that feeds the core's operand A: activation | weight"),
) -> None:
    """Measure a multiplier's full 256x256 truth table on the accelerator."""
    api.check_output_path(output)
    name = api.parse_multiplier(config).name
    with _open(backend, name, configs, simulator, lanes, bitstream, board, secret_file) as hw:
        measured = api.measure_table(hw, operand_a=operand_a)
        stats = hw.stats
    measured.save(output)
    diff = api.compare_tables(measured, api.golden_table(name, operand_a=operand_a))
    rate = stats.pairs / stats.seconds if stats.seconds else float("nan")
    typer.echo(f"wrote {output}: {measured!r}")
    typer.echo(f"measured on {measured.provenance['backend']}: {stats.pairs:,} pairs in {stats.seconds:.2f} s ({rate:,.0f} pairs/s)")
    if diff["mismatches"]:
        typer.echo(
            f"differs from the golden model in {diff['mismatches']} of {diff['entries']} entries, first (a, b, measured, golden): {diff['first']}"
        )
    else:
        typer.echo("equals the golden model")


@app.command("fit")
def fit(
    config: str = typer.Option(..., "--config", "-c", help="SMApprox config in the core, e.g. 3330"),
    output: Path = typer.Option(..., "--output", "-o", help="error-model file to write"),
    model: str = typer.Option("digits_cnn", help="network"),
    weights: Path | None = typer.Option(None, help="network weights (.h5 Keras ResNet8 or a saved state)"),
    data: Path | None = typer.Option(None, help="data location (CIFAR-10); digits are embedded"),
    samples: int = typer.Option(256, help="training images to fit on"),
    batch_size: int = typer.Option(32, help="images per forward pass"),
    backend: str = typer.Option("sim", help=BACKEND_HELP),
    simulator: str = typer.Option("verilator", help="sim: verilator | icarus"),
    configs: str | None = typer.Option(None, help=CONFIGS_HELP),
    lanes: int | None = typer.Option(None, help=LANES_HELP),
    bitstream: Path | None = typer.Option(None, help=BITSTREAM_HELP),
    board: str | None = typer.Option(None, help=BOARD_HELP),
    secret_file: Path | None = typer.Option(None, help=SECRET_HELP),
) -> None:
    """Fit the error model from layer outputs measured on the accelerator (then: approxhil retrain --error-model)."""
    api.check_output_path(output)
    name = api.parse_multiplier(config).name
    with _open(backend, name, configs, simulator, lanes, bitstream, board, secret_file) as hw:
        em = api.fit_on_hardware(hw, model, name, samples, batch_size, weights=weights, data=data)
    em.save(output)
    typer.echo(api.markdown_table(api.summary_rows(em), floatfmt=".4g"))
    hil = em.meta["hil"]
    typer.echo(
        f"wrote {output} ({em.samples} samples from {em.source}: {hil['pairs']:,} operand pairs in {hil['jobs']} jobs, {em.meta['fit_seconds']:.1f} s)"
    )


@app.command("deploy")
def deploy_command(
    board: str = typer.Option(..., "--board", help="the board's ssh login, [USER@]HOST (an ssh config alias works)"),
    bitstream: Path | None = typer.Option(None, help="the .bit to load (its .hwh beside it); default hw/build/<board-name>/"),
    board_name: str = typer.Option("pynq-z2", help="board type (default bitstream path, provenance)"),
    port: int = typer.Option(7968, help="TCP port the agent listens on"),
    bind: str | None = typer.Option(
        None, help="address the agent listens on (default: the board address this host reaches it by; 0.0.0.0 for all)"
    ),
    board_dir: str = typer.Option("approxhil", "--dir", help="folder on the board (relative: in the login's home)"),
    python: str = typer.Option(
        "/usr/local/share/pynq-venv/bin/python3", help="the board's Python with numpy and pynq (PYNQ images: pynq-venv)"
    ),
    start: str = typer.Option("systemd", help="systemd (a unit, as root) | background (in the login's session) | none"),
    ssh_config: Path | None = typer.Option(None, help="ssh configuration file (ssh -F)"),
    identity: Path | None = typer.Option(None, help="ssh private key (ssh -i)"),
    ssh_option: list[str] = typer.Option([], help="extra ssh option, as ssh -o takes it (repeatable)"),
    secret_file: Path | None = typer.Option(
        None, help="where this host keeps the board's secret (default: the user's approxhil config folder)"
    ),
    new_secret: bool = typer.Option(False, help="make a new secret (hosts holding the old one are locked out)"),
    timeout: float = typer.Option(120.0, help="seconds to wait for the agent to answer"),
) -> None:
    """Copy the agent, the bitstream and a secret to a board, start the agent and check it answers."""
    options: list[str] = []
    if ssh_config:
        options += ["-F", str(ssh_config)]
    if identity:
        options += ["-i", str(identity)]
    for option in ssh_option:
        options += ["-o", option]
    done = api.deploy(
        board,
        bitstream=bitstream,
        board_name=board_name,
        port=port,
        bind=bind,
        board_dir=board_dir,
        python=python,
        start=start,
        ssh_options=options,
        secret_file=secret_file,
        new_secret=new_secret,
        timeout=timeout,
    )
    typer.echo(f"deployed to {board}:{done.board_dir} (start: {done.start}); secret: {done.secret_file}")
    if done.core:
        core = done.core
        typer.echo(
            f"agent answers at {done.address}: approxhil core {core['version']}, {core['lanes']} lanes, configs {' '.join(core['configs'])}"
        )
        typer.echo(f"use it: approxhil hil table --backend remote --board {done.address} --config {core['configs'][-1]} -o t.npz")
    else:
        typer.echo(
            f"not started; on the board run {done.board_dir}/run-agent.sh (as root), then use --backend remote --board {done.address}"
        )
