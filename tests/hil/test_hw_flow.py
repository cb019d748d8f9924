"""The board build flow without Vivado: the TCL reads the simulated sources and parameters, the
defaults agree everywhere, and the accelerator synthesizes for 7-series with Yosys."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from approxhil.errors import ToolMissingError
from approxhil.hdl import hw_dir
from approxhil.hil.sim import core_parameters
from approxhil.hil.sources import accelerator_sources
from approxhil.multipliers.compose import PAPER_CONFIGS
from approxhil_board.pynq_backend import estimate_throughput

TCL_PROBE = """
set argv [list {board} {build} {lanes} "{configs}" 100]
if {{[catch {{source {settings}}} err]}} {{ puts "ERROR $err"; exit 0 }}
puts "PARAM [configs_parameter $configs]"
puts "SOURCES [join $accel_sources |]"
puts "PART $fpga_part"
"""


def _tcl(tmp_path: Path, board: str = "pynq-z2", lanes: int = 4, configs: str = "0000 3330 2222") -> dict[str, str]:
    if shutil.which("tclsh") is None:
        pytest.skip("tclsh not installed (apt: tcl)")
    probe = tmp_path / "probe.tcl"
    probe.write_text(
        TCL_PROBE.format(board=board, build=tmp_path / "build", lanes=lanes, configs=configs, settings=hw_dir() / "tcl" / "settings.tcl")
    )
    out = subprocess.run(["tclsh", str(probe)], capture_output=True, text=True, timeout=60, check=True).stdout
    return dict(line.split(" ", 1) for line in out.strip().splitlines())


def test_vivado_reads_the_simulated_sources_minus_the_primitive_models(tmp_path: Path) -> None:
    probe = _tcl(tmp_path)
    assert probe["SOURCES"].split("|") == [str(p) for p in accelerator_sources(simulation=False)]
    simulated = [p.name for p in accelerator_sources(simulation=True)]
    assert "LUT6_2.v" in simulated and "LUT6_2.v" not in probe["SOURCES"]
    assert probe["PART"] == "xc7z020clg400-1"


def test_vivado_and_simulator_get_the_same_configs_parameter(tmp_path: Path) -> None:
    configs = ("0000", "3330", "2222")
    probe = _tcl(tmp_path, configs=" ".join(configs))
    assert int(probe["PARAM"], 16) == int(core_parameters(configs, 4)["CONFIGS"].split("'h")[1], 16)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(board="zedboard"), "unknown board 'zedboard'"),
        (dict(lanes=3), "LANES=3"),
        (dict(configs="0000 5555"), "'5555' is not an SMApprox config"),
    ],
)
def test_tcl_refuses_bad_settings(tmp_path: Path, kwargs: dict, message: str) -> None:
    assert message in _tcl(tmp_path, **kwargs)["ERROR"]


def test_board_defaults_agree_in_makefile_and_rtl() -> None:
    """The default bitstream holds the exact multiplier and the paper's eight configs, in that order, on 4 lanes."""
    board_configs = ("0000", *PAPER_CONFIGS)
    makefile = (hw_dir() / "Makefile").read_text()
    assert re.search(r"^CONFIGS \?= (.+)$", makefile, re.M).group(1).split() == list(board_configs)
    assert re.search(r"^LANES \?= (\d+)$", makefile, re.M).group(1) == "4"
    rtl = (hw_dir() / "rtl" / "approxhil_accel.v").read_text()
    default = re.search(r"parameter \[16\*NUM_CONFIGS-1:0\] CONFIGS = \{([^}]*)\}", rtl).group(1)
    entries = [f"{int(v):04d}" for v in re.findall(r"16'd(\d+)", default)]
    assert tuple(reversed(entries)) == board_configs  # entry 0 is the last (lowest) in the concatenation
    assert re.search(r"parameter integer NUM_CONFIGS = (\d+)", rtl).group(1) == str(len(board_configs))


def test_make_bitstream_runs_the_three_stages_in_order() -> None:
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    out = subprocess.run(
        ["make", "-n", "-C", str(hw_dir()), "bitstream", "BOARD=pynq-z1", "VIVADO=vivado"], capture_output=True, text=True, check=True
    ).stdout
    stages = re.findall(r"-source tcl/(\w+)\.tcl -tclargs pynq-z1 build/pynq-z1 4", out)
    assert stages == ["project", "synth", "impl"]


def test_board_estimate_from_clock_and_width() -> None:
    est = estimate_throughput(lanes=4, fclk_mhz=100.0, hp_bits=64)
    assert est["core_pairs_per_s"] == 400e6
    assert est["products_pairs_per_s"] == 200e6  # 4 result bytes per pair over an 8-byte port
    assert est["dot_pairs_per_s"] == 400e6
    assert est["table_stream_s"] < 1e-3


@pytest.mark.rtl
def test_accelerator_synthesizes_for_7_series() -> None:
    from approxhil.hil.synth import accelerator_resources

    try:
        one = accelerator_resources(["3330"], 1)
    except ToolMissingError as exc:
        pytest.skip(str(exc))
    assert one["lut6_2"] > 0 and one["carry4"] > 0 and one["flip_flops"] > 0
    assert one["luts"] < 2000
