"""Simulated boards shared by the tests of one worker: one Verilator and one Icarus session.

The Verilator core holds three configs and the board's four lanes; the Icarus core uses three lanes
and a DMA that stalls a third of the cycles, so a second parameter set and the AXI handshakes under
back-pressure are covered too. Builds are cached (and locked) by the RTL runner across workers.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from approxhil.errors import ToolMissingError

SIM_CONFIGS = ("0000", "3330", "2222")


def _open(**kwargs):
    from approxhil.hil.sim import SimBackend

    try:
        return SimBackend(**kwargs)
    except ToolMissingError as exc:
        pytest.skip(f"simulator not available: {exc}")


@pytest.fixture(scope="session")
def verilator_board() -> Iterator:
    board = _open(configs=SIM_CONFIGS, simulator="verilator", lanes=4)
    yield board
    board.close()


@pytest.fixture(scope="session")
def icarus_board() -> Iterator:
    board = _open(configs=("2222", "1110"), simulator="icarus", lanes=3, stall=0.3, seed=7)
    yield board
    board.close()


@pytest.fixture(scope="session")
def twin() -> Iterator:
    """The board's digital twin: the agent with the real pynq (its own venv) on an emulated Zynq over the RTL."""
    from approxhil.hil.twin.launch import Twin

    try:
        board = Twin(configs=SIM_CONFIGS, lanes=4)
    except ToolMissingError as exc:
        pytest.skip(f"the twin cannot start here: {exc}")
    yield board
    board.close()


@pytest.fixture(scope="session")
def twin_fabric() -> Iterator:
    """The twin's simulated fabric and bitstream alone (a board to deploy to)."""
    from approxhil.hil.twin.launch import TwinFabric

    try:
        fabric = TwinFabric(configs=SIM_CONFIGS, lanes=4)
    except ToolMissingError as exc:
        pytest.skip(f"the twin's fabric cannot start here: {exc}")
    yield fabric
    fabric.close()


@pytest.fixture(scope="session")
def twin_python() -> str:
    """The twin environment's Python (pynq 3.1 from PyPI; built once per machine and cached)."""
    from approxhil.hil.twin.venv import ensure_venv

    try:
        return str(ensure_venv())
    except ToolMissingError as exc:
        pytest.skip(f"the twin's pynq environment cannot be built here: {exc}")
