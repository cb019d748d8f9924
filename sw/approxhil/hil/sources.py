"""Where the accelerator's sources are: the shipped ``hw/`` folder beside the multiplier netlists of ``rtl/``.

Simulators, Yosys and Vivado read the same file lists: the RTL stage's ``rtl/primitives.f``
(simulation models, simulators only) and ``rtl/smapprox.f``, then ``hw/approxhil_accel.f``.
"""

from __future__ import annotations

from pathlib import Path

from approxhil.hdl import hw_dir
from approxhil.rtl.sources import read_file_list, smapprox_sources

TOPLEVEL = "approxhil_accel"


def accelerator_sources(simulation: bool = True) -> list[Path]:
    """Verilog sources of ``approxhil_accel`` in compile order (primitive models only for simulation)."""
    return smapprox_sources(simulation=simulation) + read_file_list(hw_dir() / "approxhil_accel.f")
