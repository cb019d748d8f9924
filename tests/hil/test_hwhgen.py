"""The twin's hardware handoff follows hw/tcl: block_design.tcl under tclsh with stub Vivado commands,
turned into a .hwh that the driver's own reader (here) and pynq's parser (in the twin) accept."""

from __future__ import annotations

import shutil
from pathlib import Path
from xml.etree import ElementTree

import pytest
from approxhil.errors import ToolFailedError
from approxhil.hil.twin.blockdesign import read_block_design
from approxhil.hil.twin.hwhgen import addresses, fclk_divisors, generate_hwh
from approxhil_board.hwh import read_hwh

pytestmark = pytest.mark.skipif(shutil.which("tclsh") is None, reason="tclsh not installed (apt: tcl)")


def _hwh(tmp_path: Path, lanes: int = 4, configs=("0000", "3330"), fclk: float = 100.0) -> Path:
    path = tmp_path / "approxhil.hwh"
    path.write_text(generate_hwh(read_block_design("pynq-z2", lanes, configs, fclk)))
    return path


def test_block_design_is_read_from_the_tcl() -> None:
    design = read_block_design("pynq-z1", 8, ("0000", "3330", "2222"), 125)
    assert design.part == "xc7z020clg400-1" and design.name == "approxhil"
    dma = design.cells["axi_dma_0"].config
    assert (dma["c_m_axis_mm2s_tdata_width"], dma["c_s_axis_s2mm_tdata_width"]) == ("128", "256")  # 16 and 32 bits per lane
    assert dma["c_include_sg"] == "0" and dma["c_sg_length_width"] == "26"
    core = design.cells["approxhil_accel_0"]
    assert core.reference == "approxhil_accel" and core.config == {"LANES": "8", "NUM_CONFIGS": "3", "CONFIGS": "0x08AE0D020000"}
    assert design.cells["ps7"].config["PCW_FPGA0_PERIPHERAL_FREQMHZ"] == "125"
    assert ("axi_dma_0/M_AXIS_MM2S", "approxhil_accel_0/s_axis") in design.streams
    assert ("ps7/M_AXI_GP0", "approxhil_accel_0/s_axi_control") in design.axi


def test_generated_hwh_is_what_the_driver_reads(tmp_path: Path) -> None:
    info = read_hwh(_hwh(tmp_path, lanes=2))
    assert (info.core, info.dma, info.lanes, info.fclk_mhz) == ("approxhil_accel_0", "axi_dma_0", 2, 100.0)
    assert info.core_vlnv == "xilinx.com:module_ref:approxhil_accel:1.0" and info.max_transfer_bytes == (1 << 26) - 1


def test_generated_hwh_has_vivados_layout(tmp_path: Path) -> None:
    root = ElementTree.parse(_hwh(tmp_path)).getroot()
    assert root.tag == "EDKSYSTEM" and [c.tag for c in root] == ["SYSTEMINFO", "EXTERNALPORTS", "EXTERNALINTERFACES", "MODULES"]
    assert root.find("SYSTEMINFO").attrib["DEVICE"] == "7z020"
    dma = next(m for m in root.iter("MODULE") if m.get("MODTYPE") == "axi_dma")
    params = {p.get("NAME"): p.get("VALUE") for p in dma.iter("PARAMETER")}
    assert params["c_include_sg"] == params["C_INCLUDE_SG"] == "0"  # pynq's driver reads one spelling, the HDL generics are the other
    assert params["C_BASEADDR"] == "0x40400000"
    ranges = {r.get("INSTANCE"): r.get("BASEVALUE") for r in root.iter("MEMRANGE") if r.get("MASTERBUSINTERFACE") == "M_AXI_GP0"}
    assert ranges == {"axi_dma_0": "0x40400000", "approxhil_accel_0": "0x43C00000"}


def test_fabric_clock_divisors_and_addresses() -> None:
    assert fclk_divisors(100) == (5, 2)
    for mhz in (50, 125, 142.857):
        d0, d1 = fclk_divisors(mhz)
        assert abs(1000 / (d0 * d1) - mhz) < 0.01 * mhz
    assert addresses(read_block_design("pynq-z2", 4, ("3330",))) == {"axi_dma_0": 0x40400000, "approxhil_accel_0": 0x43C00000}


def test_tcl_errors_surface_with_their_message() -> None:
    with pytest.raises(ToolFailedError, match="LANES=3"):
        read_block_design("pynq-z2", 3, ("3330",))
