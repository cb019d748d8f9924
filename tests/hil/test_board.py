"""The board side without a board: bitstream/.hwh checks and the PYNQ backend's refusal to start."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from approxhil.errors import ToolMissingError
from approxhil.hil.errors import BitstreamError
from approxhil_board.hwh import read_hwh
from approxhil_board.pynq_backend import PynqBackend, locate_bitstream


def write_hwh(
    path: Path,
    core: bool = True,
    dma: bool = True,
    sg: str = "0",
    connected: bool = True,
    s2mm: str = "1",
) -> Path:
    """A hardware handoff in Vivado's layout with the modules and parameters the driver reads."""
    mm2s_bus = "axi_dma_0_M_AXIS_MM2S" if connected else "other_net"
    modules = [
        """<MODULE FULLNAME="/ps7" INSTANCE="ps7" MODTYPE="processing_system7" VLNV="xilinx.com:ip:processing_system7:5.5">
             <PARAMETERS><PARAMETER NAME="PCW_FPGA0_PERIPHERAL_FREQMHZ" VALUE="100"/></PARAMETERS>
           </MODULE>"""
    ]
    if dma:
        modules.append(
            f"""<MODULE FULLNAME="/axi_dma_0" INSTANCE="axi_dma_0" MODTYPE="axi_dma" VLNV="xilinx.com:ip:axi_dma:7.1">
                 <PARAMETERS>
                   <PARAMETER NAME="C_INCLUDE_SG" VALUE="{sg}"/><PARAMETER NAME="C_SG_LENGTH_WIDTH" VALUE="26"/>
                   <PARAMETER NAME="C_INCLUDE_MM2S" VALUE="1"/><PARAMETER NAME="C_INCLUDE_S2MM" VALUE="{s2mm}"/>
                 </PARAMETERS>
                 <BUSINTERFACES>
                   <BUSINTERFACE BUSNAME="axi_dma_0_M_AXIS_MM2S" NAME="M_AXIS_MM2S" TYPE="INITIATOR" VLNV="xilinx.com:interface:axis:1.0"/>
                   <BUSINTERFACE BUSNAME="approxhil_accel_0_m_axis" NAME="S_AXIS_S2MM" TYPE="TARGET" VLNV="xilinx.com:interface:axis:1.0"/>
                 </BUSINTERFACES>
               </MODULE>"""
        )
    if core:
        modules.append(
            f"""<MODULE FULLNAME="/approxhil_accel_0" INSTANCE="approxhil_accel_0" MODTYPE="approxhil_accel" VLNV="xilinx.com:module_ref:approxhil_accel:1.0">
                 <PARAMETERS><PARAMETER NAME="LANES" VALUE="4"/><PARAMETER NAME="NUM_CONFIGS" VALUE="9"/></PARAMETERS>
                 <BUSINTERFACES>
                   <BUSINTERFACE BUSNAME="{mm2s_bus}" NAME="s_axis" TYPE="TARGET" VLNV="xilinx.com:interface:axis:1.0"/>
                   <BUSINTERFACE BUSNAME="approxhil_accel_0_m_axis" NAME="m_axis" TYPE="INITIATOR" VLNV="xilinx.com:interface:axis:1.0"/>
                 </BUSINTERFACES>
               </MODULE>"""
        )
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<EDKSYSTEM><MODULES>{"".join(modules)}</MODULES></EDKSYSTEM>\n')
    return path


def test_hwh_of_the_board_design_is_read(tmp_path: Path) -> None:
    info = read_hwh(write_hwh(tmp_path / "a.hwh"))
    assert (info.core, info.dma, info.lanes) == ("approxhil_accel_0", "axi_dma_0", 4)
    assert info.max_transfer_bytes == (1 << 26) - 1
    assert info.fclk_mhz == 100.0
    assert info.core_vlnv == "xilinx.com:module_ref:approxhil_accel:1.0"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(core=False), r"has no approxhil_accel core \(IP found: axi_dma, processing_system7\)"),
        (dict(dma=False), "no AXI DMA"),
        (dict(sg="1"), "scatter-gather"),
        (dict(connected=False), "no AXI DMA connects M_AXIS_MM2S -> s_axis"),
        (dict(s2mm="0"), "lacks its S2MM channel"),
    ],
)
def test_hwh_without_the_expected_ip_is_refused(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(BitstreamError, match=message) as info:
        read_hwh(write_hwh(tmp_path / "b.hwh", **kwargs))
    assert "make bitstream" in str(info.value)


def test_unreadable_or_missing_hwh(tmp_path: Path) -> None:
    bad = tmp_path / "c.hwh"
    bad.write_text("<EDKSYSTEM><MODULES>")
    with pytest.raises(BitstreamError, match=r"not a readable .hwh"):
        read_hwh(bad)
    with pytest.raises(BitstreamError, match="does not exist"):
        read_hwh(tmp_path / "none.hwh")


def test_bitstream_needs_its_hwh(tmp_path: Path) -> None:
    bit = tmp_path / "x.bit"
    with pytest.raises(BitstreamError, match="make bitstream BOARD=pynq-z2"):
        locate_bitstream(bit)
    bit.write_bytes(b"\0" * 16)
    with pytest.raises(BitstreamError, match=r"no hardware handoff x.hwh"):
        locate_bitstream(bit)
    write_hwh(tmp_path / "x.hwh")
    assert locate_bitstream(bit) == (bit, tmp_path / "x.hwh")
    with pytest.raises(BitstreamError, match=r"not a .bit"):
        locate_bitstream(tmp_path / "x.hwh")


@pytest.mark.skipif(importlib.util.find_spec("pynq") is not None, reason="pynq is installed: this checks the machine without it")
def test_pynq_backend_without_a_board_fails_at_construction(tmp_path: Path) -> None:
    bit = tmp_path / "x.bit"
    bit.write_bytes(b"\0" * 16)
    write_hwh(tmp_path / "x.hwh")
    with pytest.raises(ToolMissingError, match="PynqBackend needs the pynq package of a PYNQ board image") as info:
        PynqBackend(bit)
    assert "--backend remote" in str(info.value) and "approxhil hil deploy" in str(info.value) and "--backend sim" in str(info.value)


def test_pynq_without_devices_is_reported_as_no_board(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pynq imports off-board but finds no device (RuntimeError 'No Devices Found', TOOLCHAIN.md)."""
    import sys
    import types

    class Device:
        @property
        def devices(self):  # pynq raises this on a laptop
            raise RuntimeError("No Devices Found")

    fake = types.ModuleType("pynq")
    fake.Device = Device()
    monkeypatch.setitem(sys.modules, "pynq", fake)
    with pytest.raises(ToolMissingError, match=r"no PYNQ board found.*No Devices Found"):
        PynqBackend(tmp_path / "x.bit")
