"""Where the accelerator's sources are: ``hw/`` beside the multiplier netlists of ``rtl/`` in the checkout.

Simulators, Yosys and Vivado read the same file lists: the RTL stage's ``rtl/primitives.f``
(simulation models, simulators only) and ``rtl/smapprox.f``, then ``hw/approxhil_accel.f``.
"""

from __future__ import annotations

from pathlib import Path

from approxhil.rtl.sources import REPO_ROOT, read_file_list, smapprox_sources

HW_DIR = REPO_ROOT / "hw"
ACCEL_F = HW_DIR / "approxhil_accel.f"
TOPLEVEL = "approxhil_accel"


def accelerator_sources(simulation: bool = True) -> list[Path]:
    """Verilog sources of ``approxhil_accel`` in compile order (primitive models only for simulation)."""
    return smapprox_sources(simulation=simulation) + read_file_list(ACCEL_F)
