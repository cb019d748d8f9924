"""Reading a bitstream's ``.hwh`` hardware handoff: is the accelerator there, which DMA feeds it, what limits apply.

Checked before an overlay is loaded, so a bitstream of another design fails with a message that
names what is missing instead of an attribute error deep inside PYNQ.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from approxhil_board.errors import BitstreamError

CORE_MODTYPE = "approxhil_accel"
DMA_MODTYPE = "axi_dma"
#: The core's stream ports and the DMA channel ports that must feed them.
STREAM_LINKS = (("s_axis", "M_AXIS_MM2S"), ("m_axis", "S_AXIS_S2MM"))
REBUILD_FIX = "load a bitstream built by `make bitstream` in hw/ (its .hwh lies beside the .bit)"


@dataclass(frozen=True)
class HwhInfo:
    """What the driver needs from a ``.hwh``: block-design paths, core parameters, DMA limit, fabric clock."""

    core: str
    dma: str
    core_vlnv: str
    lanes: int | None
    max_transfer_bytes: int
    fclk_mhz: float | None


def _params(module: ElementTree.Element) -> dict[str, str]:
    return {p.get("NAME", ""): p.get("VALUE", "") for p in module.findall("./PARAMETERS/PARAMETER")}


def _busnames(module: ElementTree.Element) -> dict[str, str]:
    return {b.get("NAME", ""): b.get("BUSNAME", "") for b in module.findall("./BUSINTERFACES/BUSINTERFACE")}


def _as_int(text: str | None) -> int | None:
    try:
        return int(str(text), 0)
    except (TypeError, ValueError):
        return None


def read_hwh(path: str | os.PathLike) -> HwhInfo:
    """Parse and check ``path``; :class:`BitstreamError` names what is missing or wrong."""
    path = Path(path)
    if not path.is_file():
        raise BitstreamError(f"hardware handoff {path} does not exist", fix=REBUILD_FIX)
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as exc:
        raise BitstreamError(f"{path} is not a readable .hwh file ({exc})", fix=REBUILD_FIX) from None
    modules = list(root.iter("MODULE"))
    cores = [m for m in modules if m.get("MODTYPE") == CORE_MODTYPE]
    if not cores:
        found = ", ".join(sorted({m.get("MODTYPE", "?") for m in modules})) or "none"
        raise BitstreamError(f"{path.name} has no {CORE_MODTYPE} core (IP found: {found})", fix=REBUILD_FIX)
    if len(cores) > 1:
        names = ", ".join(c.get("INSTANCE", "?") for c in cores)
        raise BitstreamError(f"{path.name} has {len(cores)} {CORE_MODTYPE} cores ({names}); the driver drives one")
    core = cores[0]
    dmas = [m for m in modules if m.get("MODTYPE") == DMA_MODTYPE]
    if not dmas:
        raise BitstreamError(f"{path.name} has the {CORE_MODTYPE} core but no AXI DMA to stream to it", fix=REBUILD_FIX)
    core_buses = _busnames(core)
    linked = [d for d in dmas if _links(core_buses, _busnames(d))]
    if core_buses and not linked:
        raise BitstreamError(
            f"{path.name}: no AXI DMA connects M_AXIS_MM2S -> s_axis and m_axis -> S_AXIS_S2MM of {core.get('INSTANCE')}",
            fix=REBUILD_FIX,
        )
    dma = (linked or dmas)[0]
    dma_params = _params(dma)
    if dma_params.get("C_INCLUDE_SG", "0") not in ("0", ""):
        raise BitstreamError(
            f"{path.name}: DMA {dma.get('INSTANCE')} is in scatter-gather mode; the driver uses simple mode", fix=REBUILD_FIX
        )
    for channel in ("C_INCLUDE_MM2S", "C_INCLUDE_S2MM"):
        if dma_params.get(channel, "1") == "0":
            raise BitstreamError(f"{path.name}: DMA {dma.get('INSTANCE')} lacks its {channel[10:]} channel", fix=REBUILD_FIX)
    width = _as_int(dma_params.get("C_SG_LENGTH_WIDTH")) or 14
    fclk = None
    for module in modules:
        if module.get("MODTYPE") in ("processing_system7", "zynq_ultra_ps_e"):
            params = _params(module)
            value = params.get("PCW_FPGA0_PERIPHERAL_FREQMHZ") or params.get("PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ")
            try:
                fclk = float(value) if value else None
            except ValueError:
                fclk = None
    return HwhInfo(
        core=_path(core),
        dma=_path(dma),
        core_vlnv=str(core.get("VLNV", "")),
        lanes=_as_int(_params(core).get("LANES")),
        max_transfer_bytes=(1 << width) - 1,
        fclk_mhz=fclk,
    )


def _path(module: ElementTree.Element) -> str:
    """Block-design path of a module (``FULLNAME`` without the leading slash), as PYNQ names its IP."""
    return str(module.get("FULLNAME") or module.get("INSTANCE", "")).lstrip("/")


def _links(core_buses: dict[str, str], dma_buses: dict[str, str]) -> bool:
    return all(core_buses.get(core_port) and core_buses.get(core_port) == dma_buses.get(dma_port) for core_port, dma_port in STREAM_LINKS)
