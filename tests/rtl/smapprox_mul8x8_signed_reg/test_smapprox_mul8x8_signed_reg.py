"""smapprox_mul8x8_signed_reg: fixed 2-cycle latency, one result per cycle, reset clears valid.

Streams corner operands and a random sample with gaps in ``in_valid`` and checks every product
against the golden sign-magnitude table, the latency, and that nothing valid appears after reset.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import cocotb
import pytest
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

LATENCY = 2  # cycles: sampled by rising edge e, on the outputs right after edge e + LATENCY - 1


class TB:
    """Records the operands each clock edge accepts and the products that leave, with edge numbers."""

    def __init__(self, dut) -> None:  # type: ignore[no-untyped-def]
        from approxhil.multipliers import golden_table

        self.dut = dut
        self.config = str(int(os.environ["SMAPPROX_CONFIG"])).zfill(4)
        self.table = golden_table(self.config)
        self.inputs: list[tuple[int, int, int]] = []  # (edge, a, b)
        self.outputs: list[tuple[int, int]] = []  # (edge, p)
        self.cycle = 0
        Clock(dut.clk, 2, unit="ns").start()

    async def reset(self) -> None:
        self.dut.rst.value = 1
        self.dut.in_valid.value = 0
        self.dut.a.value = 0
        self.dut.b.value = 0
        for _ in range(3):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0

    async def monitor(self) -> None:
        while True:
            await FallingEdge(self.dut.clk)  # operands are stable here until the next rising edge
            if int(self.dut.in_valid.value) and not int(self.dut.rst.value):
                self.inputs.append((self.cycle + 1, self.dut.a.value.to_signed(), self.dut.b.value.to_signed()))
            await RisingEdge(self.dut.clk)
            self.cycle += 1
            await ReadOnly()
            if int(self.dut.out_valid.value):
                self.outputs.append((self.cycle, self.dut.p.value.to_signed()))

    def expected(self, a: int, b: int) -> int:
        return int(self.table.lookup(a, b))


@cocotb.test()
async def stream_with_gaps(dut) -> None:  # type: ignore[no-untyped-def]
    tb = TB(dut)
    await tb.reset()
    cocotb.start_soon(tb.monitor())
    rng = random.Random(7)
    corners = [(a, b) for a in (-128, -127, -1, 0, 1, 127) for b in (-128, -1, 0, 1, 127)]
    pairs = corners + [(rng.randint(-128, 127), rng.randint(-128, 127)) for _ in range(1500)]
    for a, b in pairs:
        while rng.random() < 0.2:  # idle cycle
            dut.in_valid.value = 0
            await RisingEdge(dut.clk)
        dut.a.value = a
        dut.b.value = b
        dut.in_valid.value = 1
        await RisingEdge(dut.clk)
    dut.in_valid.value = 0
    for _ in range(LATENCY + 2):
        await RisingEdge(dut.clk)
    assert [(a, b) for _, a, b in tb.inputs] == pairs
    assert len(tb.outputs) == len(pairs), f"{len(pairs)} operands in, {len(tb.outputs)} products out"
    for (cycle_in, a, b), (cycle_out, p) in zip(tb.inputs, tb.outputs):
        assert cycle_out - cycle_in == LATENCY - 1, f"{cycle_out - cycle_in + 1}-cycle latency for ({a}, {b})"
        assert p == tb.expected(a, b), f"{tb.config}: ({a}, {b}) -> {p}, expected {tb.expected(a, b)}"


@cocotb.test()
async def reset_clears_valid(dut) -> None:  # type: ignore[no-untyped-def]
    tb = TB(dut)
    await tb.reset()
    cocotb.start_soon(tb.monitor())
    dut.a.value, dut.b.value, dut.in_valid.value = -7, 9, 1
    await RisingEdge(dut.clk)
    dut.rst.value = 1  # reset while the product is in flight
    dut.in_valid.value = 0
    await RisingEdge(dut.clk)
    dut.rst.value = 0
    for _ in range(LATENCY + 2):
        await RisingEdge(dut.clk)
    assert tb.outputs == [], f"valid output after reset: {tb.outputs}"


@pytest.mark.rtl
@pytest.mark.parametrize(("config", "sim"), [("3330", "icarus"), ("2222", "icarus"), ("3330", "verilator")])
def test_smapprox_mul8x8_signed_reg(config: str, sim: str, tmp_path: Path) -> None:
    from approxhil.errors import ToolMissingError
    from approxhil.rtl import runner
    from approxhil.rtl.sources import smapprox_sources
    from approxhil.rtl.tools import find_simulator

    try:
        find_simulator(sim)
    except ToolMissingError as exc:
        pytest.skip(str(exc))
    built = runner.build(sim, smapprox_sources(), "smapprox_mul8x8_signed_reg", {"CONFIG": int(config)})
    result = runner.run(built, Path(__file__).stem, tmp_path, extra_env={"SMAPPROX_CONFIG": config}, timeout=300)
    assert result.tests == 2 and result.failed == 0, runner.log_tail(result.log)
