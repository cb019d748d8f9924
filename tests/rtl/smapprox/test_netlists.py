"""The checked-in netlists: generated from their equations, within the paper's LUT budgets, legal
parameters only, and read back by the pyverilog reader cell by cell."""

from __future__ import annotations

import numpy as np
import pytest
from approxhil.errors import SpecError, ToolFailedError
from approxhil.hdl import rtl_dir
from approxhil.multipliers import PAPER_LUTS_4X4, mul4x4
from approxhil.rtl import netgen, runner
from approxhil.rtl.netlist import NetlistError, read_netlist
from approxhil.rtl.sources import read_file_list, smapprox_sources


def test_checked_in_netlists_equal_the_generator() -> None:
    for name, text in netgen.generate_all().items():
        path = rtl_dir() / "smapprox" / f"{name}.v"
        assert path.read_text() == text, f"{path.name} differs from approxhil.rtl.netgen; run python -m approxhil.rtl.netgen"


def test_file_lists_name_every_source() -> None:
    names = {p.name for p in read_file_list(rtl_dir() / "smapprox.f")}
    assert {f"smapprox_mul4x4_d{d}.v" for d in range(5)} <= names
    assert {"smapprox_mul8x8.v", "smapprox_mul8x8_signed.v", "smapprox_mul8x8_signed_reg.v", "smapprox_ternary_adder.v"} <= names
    assert [p.name for p in read_file_list(rtl_dir() / "primitives.f")] == ["LUT6_2.v", "CARRY4.v"]


@pytest.mark.parametrize("design", [0, 1, 2, 3, 4])
def test_lut_budget_of_each_design(design: int) -> None:
    net = netgen.GENERATORS[f"smapprox_mul4x4_d{design}"]()
    budget = {0: 12, 1: 12, 2: 7, 3: 7, 4: 12}[design]
    assert net.luts <= budget
    if PAPER_LUTS_4X4[design] is not None:
        assert net.luts <= PAPER_LUTS_4X4[design]


def test_init_is_derived_from_the_equations() -> None:
    # One output: O6 = a0 & b0 over pins (a0, b0) -> INIT bit i set when i & 3 == 3.
    lut = netgen.Lut("t", ("a[0]", "b[0]"), ("p", "a0&b0"))
    assert lut.init() == int("8" * 16, 16)
    # Two outputs: O5 in the lower 32 bits, O6 in the upper half (I5 tied high).
    dual = netgen.Lut("t", ("x", "y"), ("s", "x ^ y"), ("c", "x & y"))
    assert dual.init() == (0x66666666 << 32) | 0x88888888
    assert dict(dual.connections())["I5"] == "1'b1"
    with pytest.raises(SpecError):
        netgen.Lut("t", tuple(f"a[{k}]" for k in range(6)), ("p", "a0"), ("q", "a1")).init()
    with pytest.raises(SpecError):
        netgen.Lut("t", ("a[0]",), ("p", "a0 & b7")).init()


def test_reader_extracts_every_instance_with_init_and_connections() -> None:
    flat = read_netlist(smapprox_sources(simulation=False), "smapprox_mul4x4_d2")
    assert [c.kind for c in flat.cells] == ["LUT6_2"] * 7
    by_name = {c.name: c for c in flat.cells}
    p0w = by_name["lut_p0w"]
    assert p0w.init == netgen.design2().cells[0].init()
    assert p0w.pins["O5"] == [("p", 0)] and p0w.pins["I0"] == [("a", 0)] and p0w.pins["I5"] == [1]
    a, b = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    assert np.array_equal(flat.evaluate({"a": a, "b": b})["p"], mul4x4(2, a, b))
    top = read_netlist(smapprox_sources(simulation=False), "smapprox_mul8x8", {"CONFIG": 3330})
    kinds = [c.kind for c in top.cells]
    assert kinds.count("LUT6_2") == 45 and kinds.count("CARRY4") == 6


def test_reader_stops_on_illegal_config() -> None:
    with pytest.raises(NetlistError, match="smapprox_mul8x8_illegal_CONFIG"):
        read_netlist(smapprox_sources(simulation=False), "smapprox_mul8x8", {"CONFIG": 3350})


@pytest.mark.rtl
@pytest.mark.parametrize(
    ("module", "param", "value", "marker"),
    [
        ("smapprox_mul8x8", "CONFIG", 3350, "smapprox_mul8x8_illegal_CONFIG"),
        ("smapprox_mul4x4", "DESIGN", 7, "smapprox_mul4x4_illegal_DESIGN"),
    ],
)
def test_illegal_parameters_stop_elaboration(module, param, value, marker, simulator, tmp_path) -> None:
    with pytest.raises(ToolFailedError) as info:
        runner.build(simulator, smapprox_sources(), module, {param: value}, build_root=tmp_path)
    assert marker in str(info.value)
    assert ".v:" in str(info.value)  # the tool's file:line message


def test_reader_refuses_sequential_logic() -> None:
    with pytest.raises(NetlistError, match="combinational"):
        read_netlist(smapprox_sources(simulation=False), "smapprox_mul8x8_signed_reg", {"CONFIG": 3330})


def test_reader_refuses_unknown_parameters_and_modules() -> None:
    with pytest.raises(NetlistError, match="no parameter"):
        read_netlist(smapprox_sources(simulation=False), "smapprox_mul8x8", {"CONFG": 3330})
    with pytest.raises(NetlistError, match="not found"):
        read_netlist(smapprox_sources(simulation=False), "smapprox_mul16x16")
