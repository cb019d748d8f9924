"""cocotb test module run inside the simulator: clock the sweep harness until it is done.

The harness (:mod:`approxhil.rtl.sweep`) does the per-pair work in HDL; Python starts a clock
(driven by the simulator interface, not by Python per edge), raises ``start`` and awaits ``done``
once, bounded by a simulated-time limit so a harness that never finishes fails instead of hanging.
"""

from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import RisingEdge, with_timeout

from approxhil.rtl.sweep import SWEEP_BITS, load_spec

CLOCK_NS = 2


async def run_sweep(dut) -> None:  # type: ignore[no-untyped-def]
    """Drive the harness through one exhaustive sweep."""
    dut.start.value = 0
    Clock(dut.clk, CLOCK_NS, unit="ns", impl="gpi").start()
    await RisingEdge(dut.clk)
    dut.start.value = 1
    cycles = (1 << (2 * SWEEP_BITS)) + 8
    await with_timeout(RisingEdge(dut.done), cycles * CLOCK_NS, "ns")
    await RisingEdge(dut.clk)


@cocotb.test()
async def exhaustive_sweep(dut) -> None:  # type: ignore[no-untyped-def]
    """Sweep every operand pair of every target; the runner parses the written table."""
    load_spec()  # fail early when started without a sweep description
    await run_sweep(dut)
