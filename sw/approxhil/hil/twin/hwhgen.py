"""A Vivado-style hardware handoff (``.hwh``) of the block design ``hw/tcl`` builds, without Vivado.

The digital twin loads it through pynq's own parser, as pynq loads the ``.hwh`` ``make bitstream``
writes on a board. It holds what pynq and the driver read: the PS7 with its fabric clock settings
and its GP0 address map, the AXI DMA with every parameter block_design.tcl sets (in Vivado's two
spellings: the IP's lowercase ``c_*`` configuration, which pynq's DMA driver reads, and the
uppercase HDL generics), the accelerator with its parameters, and the stream connections. Addresses
follow what ``assign_bd_address`` picks on a Zynq-7000 GP0 port: ``0x4040_0000`` for the first AXI
DMA, ``0x43C0_0000`` upwards for module references, 64 KiB each. The field layout follows the
``base.hwh`` of pynq's own Pynq-Z2 overlay.
"""

from __future__ import annotations

import re
from xml.etree import ElementTree as ET

from approxhil.hil.twin.blockdesign import BlockDesign, Cell

AXIMM = "xilinx.com:interface:aximm:1.0"
AXIS = "xilinx.com:interface:axis:1.0"
SEGMENT = 0x10000
BASES = {"xilinx.com:ip:axi_dma": 0x40400000}
MODULE_BASE = 0x43C00000
#: The DDR that the HP ports reach on a Zynq-7000 with 512 MB (PYNQ-Z1/Z2).
DDR_BASE, DDR_SIZE = 0x00000000, 512 << 20
IO_PLL_MHZ = 1000.0
#: AXI DMA 7.1 defaults for what block_design.tcl leaves unset (PG021).
DMA_DEFAULTS = {
    "c_include_mm2s_dre": "0",
    "c_include_s2mm_dre": "0",
    "c_include_mm2s_sf": "1",
    "c_include_s2mm_sf": "1",
    "c_micro_dma": "0",
    "c_addr_width": "32",
    "c_enable_multi_channel": "0",
    "c_num_mm2s_channels": "1",
    "c_num_s2mm_channels": "1",
    "c_prmry_is_aclk_async": "0",
    "c_increase_throughput": "0",
    "c_sg_use_stsapp_length": "0",
    "c_single_interface": "0",
    "c_dlytmr_resolution": "125",
}
#: Bus interfaces of the cells, by VLNV or module reference: name -> (type, interface VLNV).
INTERFACES = {
    "xilinx.com:ip:processing_system7": {"M_AXI_GP0": ("MASTER", AXIMM), "S_AXI_HP0": ("SLAVE", AXIMM)},
    "xilinx.com:ip:axi_dma": {
        "S_AXI_LITE": ("SLAVE", AXIMM),
        "M_AXI_MM2S": ("MASTER", AXIMM),
        "M_AXI_S2MM": ("MASTER", AXIMM),
        "M_AXIS_MM2S": ("INITIATOR", AXIS),
        "S_AXIS_S2MM": ("TARGET", AXIS),
    },
    "approxhil_accel": {"s_axi_control": ("SLAVE", AXIMM), "s_axis": ("TARGET", AXIS), "m_axis": ("INITIATOR", AXIS)},
}


def _vlnv_base(cell: Cell) -> str:
    return cell.vlnv.rsplit(":", 1)[0] if cell.vlnv else cell.reference


def _vlnv(cell: Cell) -> str:
    return cell.vlnv or f"xilinx.com:module_ref:{cell.reference}:1.0"


def fclk_divisors(mhz: float) -> tuple[int, int]:
    """IO-PLL divisors (6 bits each) nearest to ``mhz``, as the PS7 configuration chooses them."""
    best = min(
        ((d0, d1) for d0 in range(1, 64) for d1 in range(1, 64)),
        key=lambda d: (abs(IO_PLL_MHZ / (d[0] * d[1]) - mhz), max(d), -d[0]),
    )
    return best


def addresses(design: BlockDesign) -> dict[str, int]:
    """Base address of each AXI-Lite slave on the PS's GP0 port."""
    bases: dict[str, int] = {}
    used: set[int] = set()
    for master, slave in design.axi:
        if not master.endswith("M_AXI_GP0"):
            continue
        cell = design.cells[slave.split("/")[0]]
        base = BASES.get(_vlnv_base(cell), MODULE_BASE)
        while base in used:
            base += SEGMENT
        used.add(base)
        bases[cell.name] = base
    return bases


def _params(parent: ET.Element, values: dict[str, str]) -> None:
    params = ET.SubElement(parent, "PARAMETERS")
    for name, value in values.items():
        ET.SubElement(params, "PARAMETER", NAME=name, VALUE=str(value))


def _module(modules: ET.Element, cell: Cell, modclass: str) -> ET.Element:
    hw = cell.vlnv.rsplit(":", 1)[1] if cell.vlnv else "1.0"
    return ET.SubElement(
        modules,
        "MODULE",
        FULLNAME=f"/{cell.name}",
        HWVERSION=hw,
        INSTANCE=cell.name,
        IPTYPE="PERIPHERAL",
        IS_ENABLE="1",
        MODCLASS=modclass,
        MODTYPE=_vlnv_base(cell).rsplit(":", 1)[-1],
        VLNV=_vlnv(cell),
    )


def _interfaces(module: ET.Element, cell: Cell, nets: dict[str, str]) -> None:
    buses = ET.SubElement(module, "BUSINTERFACES")
    for name, (kind, vlnv) in INTERFACES[_vlnv_base(cell)].items():
        attrs = {"NAME": name, "TYPE": kind, "VLNV": vlnv}
        if f"{cell.name}/{name}" in nets:
            attrs["BUSNAME"] = nets[f"{cell.name}/{name}"]
        ET.SubElement(buses, "BUSINTERFACE", **attrs)


def _memrange(parent: ET.Element, master: str, target: str, slave: str, base: int, size: int, memtype: str, block: str) -> None:
    ET.SubElement(
        parent,
        "MEMRANGE",
        ADDRESSBLOCK=block,
        BASENAME="C_BASEADDR",
        BASEVALUE=f"0x{base:08X}",
        HIGHNAME="C_HIGHADDR",
        HIGHVALUE=f"0x{base + size - 1:08X}",
        INSTANCE=target,
        IS_DATA="TRUE",
        IS_INSTRUCTION="TRUE",
        MASTERBUSINTERFACE=master,
        MEMTYPE=memtype,
        SLAVEBUSINTERFACE=slave,
    )


def generate_hwh(design: BlockDesign) -> str:
    """The ``.hwh`` XML text of ``design``."""
    part = re.fullmatch(r"xc(7z\d+)([a-z]+\d+)(-\d+)", design.part)
    device, package, speed = part.groups() if part else (design.part, "", "")
    root = ET.Element("EDKSYSTEM", EDWVERSION="1.2", TIMESTAMP="generated by approxhil from hw/tcl", VIVADOVERSION="none (approxhil twin)")
    ET.SubElement(root, "SYSTEMINFO", ARCH="zynq", BOARD=design.board, DEVICE=device, NAME=design.name, PACKAGE=package, SPEEDGRADE=speed)
    ET.SubElement(root, "EXTERNALPORTS")
    ET.SubElement(root, "EXTERNALINTERFACES")
    modules = ET.SubElement(root, "MODULES")
    nets = {}
    for initiator, target in design.streams:
        net = initiator.replace("/", "_")
        nets[initiator] = nets[target] = net
    bases = addresses(design)
    for cell in design.cells.values():
        kind = _vlnv_base(cell)
        if kind == "xilinx.com:ip:processing_system7":
            module = _module(modules, cell, "PROCESSOR")
            _params(module, _ps7_params(cell, design.fclk_mhz))
            _interfaces(module, cell, nets)
            memmap = ET.SubElement(module, "MEMORYMAP")
            for master, slave in design.axi:
                target, port = slave.split("/")
                if master == f"{cell.name}/M_AXI_GP0":
                    _memrange(
                        memmap, "M_AXI_GP0", target, port, bases[target], SEGMENT, "REGISTER", "Reg" if target in _dmas(design) else "reg0"
                    )
        elif kind == "xilinx.com:ip:axi_dma":
            module = _module(modules, cell, "PERIPHERAL")
            _params(module, _dma_params(cell, bases.get(cell.name)))
            _interfaces(module, cell, nets)
            memmap = ET.SubElement(module, "MEMORYMAP")
            for master, slave in design.axi:
                if master.startswith(f"{cell.name}/"):
                    target, port = slave.split("/")
                    _memrange(memmap, master.split("/")[1], target, port, DDR_BASE, DDR_SIZE, "MEMORY", "HP0_DDR_LOWOCM")
        else:
            module = _module(modules, cell, "PERIPHERAL")
            _params(module, dict(cell.config))
            _interfaces(module, cell, nets)
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _dmas(design: BlockDesign) -> set[str]:
    return {c.name for c in design.cells.values() if _vlnv_base(c) == "xilinx.com:ip:axi_dma"}


def _ps7_params(cell: Cell, fclk_mhz: float) -> dict[str, str]:
    div0, div1 = fclk_divisors(fclk_mhz)
    params = dict(cell.config)
    for i in range(4):
        on = i == 0
        params[f"PCW_FPGA_FCLK{i}_ENABLE"] = "1" if on else "0"
        params[f"PCW_FCLK{i}_PERIPHERAL_CLKSRC"] = "IO PLL"
        params[f"PCW_FCLK{i}_PERIPHERAL_DIVISOR0"] = str(div0 if on else 1)
        params[f"PCW_FCLK{i}_PERIPHERAL_DIVISOR1"] = str(div1 if on else 1)
    params["PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ"] = f"{IO_PLL_MHZ / (div0 * div1):.6f}"
    return params


def _dma_params(cell: Cell, base: int | None) -> dict[str, str]:
    lower = {**DMA_DEFAULTS, **{k.lower(): v for k, v in cell.config.items()}}
    params = {k.upper(): v for k, v in sorted(lower.items())}
    params["C_FAMILY"] = "zynq"
    params.update(sorted(lower.items()))
    if base is not None:
        params["C_BASEADDR"] = f"0x{base:08X}"
        params["C_HIGHADDR"] = f"0x{base + SEGMENT - 1:08X}"
    return params
