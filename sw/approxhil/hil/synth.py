"""Resource estimate of the accelerator from Yosys ``synth_xilinx -family xc7`` (no Vivado needed).

Reads the same sources as Vivado (``rtl/smapprox.f`` + ``hw/approxhil_accel.f``, no simulation
models), flattens ``approxhil_accel`` with the requested parameters and counts the 7-series cells.
Vivado's own numbers (``make bitstream`` writes them to ``hw/build/<board>/reports``) are usually a
little lower: it optimizes across the instantiated LUTs, Yosys keeps them as written.
"""

from __future__ import annotations

from collections.abc import Sequence

from approxhil.hil.sim import core_parameters, normalize_configs
from approxhil.hil.sources import TOPLEVEL, accelerator_sources
from approxhil.rtl.yosys import LUT_TYPES, run_synth_xilinx

FLIP_FLOPS = ("FDRE", "FDSE", "FDCE", "FDPE")


def accelerator_resources(configs: Sequence[str] | str, lanes: int, timeout: float = 900.0) -> dict[str, int]:
    """Cell counts of ``approxhil_accel`` for ``configs`` and ``lanes``: LUTs, flip-flops, CARRY4, MUXF7/8, all."""
    params = core_parameters(normalize_configs(configs), lanes)
    modules = run_synth_xilinx(
        accelerator_sources(simulation=False), TOPLEVEL, timeout, defines=("SYNTHESIS",), chparams=params, flatten=True
    )
    cells = modules[TOPLEVEL]["cells"].values()
    counts: dict[str, int] = {}
    for cell in cells:
        counts[cell["type"]] = counts.get(cell["type"], 0) + 1
    return {
        "luts": sum(n for t, n in counts.items() if t in LUT_TYPES or t == "INV"),
        "lut6_2": counts.get("LUT6_2", 0),
        "flip_flops": sum(counts.get(t, 0) for t in FLIP_FLOPS),
        "carry4": counts.get("CARRY4", 0),
        "muxf7_8": counts.get("MUXF7", 0) + counts.get("MUXF8", 0),
        "cells": sum(counts.values()),
    }
