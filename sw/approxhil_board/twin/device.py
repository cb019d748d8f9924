"""``TwinDevice``: a ``pynq.Device`` whose Zynq is emulated and whose fabric is the accelerator RTL.

Importing this module registers the device with pynq (pynq probes every ``Device`` subclass); the
twin's Python environment imports it as soon as pynq defines ``Device`` (a start-up hook that the
twin's launcher installs), so the agent and pynq run unmodified. pynq reaches the device through
its public extension points: ``_probe_``, ``get_bitfile_metadata`` (pynq's own ``.hwh`` parser),
``download``, ``default_memory.allocate`` (``PynqBuffer``), ``flush``/``invalidate`` and, for
``MMIO``, the ``REGISTER_RW`` capability (``read_registers``/``write_registers``).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
from pynq.pl_server.device import Device

from approxhil_board.twin.bitfile import read_twin_bitstream
from approxhil_board.twin.link import FabricLink
from approxhil_board.twin.zynq import DDR, SLCR, AxiDma

DMA_TYPE = "xilinx.com:ip:axi_dma:7.1"
CORE_TYPE = "xilinx.com:module_ref:approxhil_accel:1.0"


class TwinMemory:
    """``default_memory`` of the twin: contiguous ``PynqBuffer``s in the emulated DDR."""

    def __init__(self, device: TwinDevice) -> None:
        self.device = device

    def allocate(self, shape: Any, dtype: Any, **kwargs: Any) -> Any:
        from pynq.buffer import PynqBuffer

        dtype = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        address, cpu = self.device.ddr.allocate(count * dtype.itemsize)
        buf = PynqBuffer(shape, dtype, buffer=cpu, device_address=address, bo=address, device=self.device, coherent=False)
        # freebuffer() hands the address back through return_pointer (and, once freed, does nothing more)
        buf.memory, buf.pointer, buf.return_to, buf.freed = self, address, self, True
        return buf

    def return_pointer(self, address: int) -> None:
        self.device.ddr.free(address)


class TwinDevice(Device):
    """An emulated PYNQ-Z1/Z2: ARM Cortex-A9 (armv7l), DDR, AXI DMA, and the fabric in a simulator."""

    _probe_priority_ = 90
    #: Tells the driver that measurements come from an emulation (provenance source ``twin``).
    emulated = True

    @classmethod
    def _probe_(cls) -> list[TwinDevice]:
        return [cls()]

    def __init__(self) -> None:
        super().__init__("twin0")
        self.name = "twin"
        self.arch = "armv7l"
        self.capabilities = {"REGISTER_RW": True, "MEMORY_MAPPED": False, "CALLABLE": False}
        self.timestamp = ""
        self.bitfile_name = None
        self.ddr = DDR()
        self.slcr = SLCR()
        self._memory = TwinMemory(self)
        self._link: FabricLink | None = None
        self._regions: list[tuple[int, int, Any]] = [(SLCR.BASE, SLCR.SIZE, self.slcr)]

    @property
    def default_memory(self) -> TwinMemory:
        return self._memory

    # ------------------------------------------------------------------ bitstreams
    def get_bitfile_metadata(self, bitfile_name: str, partial: bool = False) -> Any:
        """pynq's own parser on the ``.hwh`` beside the bitstream (as on a board, minus XRT's xclbin)."""
        from pynq.metadata.runtime_metadata_parser import RuntimeMetadataParser
        from pynqmetadata.frontends import Metadata

        hwh = Path(bitfile_name).with_suffix(".hwh")
        if not hwh.is_file():
            raise RuntimeError("Unable to find metadata for bitstream")
        return RuntimeMetadataParser(Metadata(input=str(hwh)))

    def download(self, bitstream: Any, parser: Any = None) -> None:
        """ "Configure the PL": connect to the fabric the twin bitstream names, reset it, map its IP."""
        design = read_twin_bitstream(bitstream.bitfile_name)
        if self._link is not None:
            self._link.close()
        self._link = FabricLink(design["fabric"])
        self._link.call("reset")
        regions = [(SLCR.BASE, SLCR.SIZE, self.slcr)]
        for ip in parser.ip_dict.values():
            if ip.get("type") == DMA_TYPE:
                regions.append((ip["phys_addr"], ip["addr_range"], AxiDma(self.ddr, self._fabric)))
            elif ip.get("type") == CORE_TYPE:
                regions.append((ip["phys_addr"], ip["addr_range"], _CoreWindow(self._fabric)))
        self._regions = regions
        self.post_download(bitstream, parser, self.name)

    def _fabric(self) -> FabricLink:
        if self._link is None:
            raise RuntimeError("no bitstream loaded: the fabric is not configured")
        return self._link

    # ------------------------------------------------------------------ the bus
    def _decode(self, address: int) -> tuple[Any, int]:
        for base, size, target in self._regions:
            if base <= address < base + size:
                return target, address - base
        raise RuntimeError(f"bus error: nothing at address {address:#010x} (not in the loaded design)")

    def read_registers(self, address: int, length: int) -> bytes:
        out = bytearray()
        for offset in range(0, length, 4):
            target, local = self._decode(address + offset)
            out += struct.pack("<I", target.read(local) & 0xFFFFFFFF)
        return bytes(out[:length])

    def write_registers(self, address: int, data: bytes) -> None:
        for offset in range(0, len(data), 4):
            target, local = self._decode(address + offset)
            (value,) = struct.unpack("<I", bytes(data[offset : offset + 4]).ljust(4, b"\0"))
            target.write(local, value)

    # ------------------------------------------------------------------ caches
    def flush(self, bo: int, offset: int, ptr: int, size: int) -> None:
        self.ddr.flush(bo + offset, size)

    def invalidate(self, bo: int, offset: int, ptr: int, size: int) -> None:
        self.ddr.invalidate(bo + offset, size)

    def close(self) -> None:
        if self._link is not None:
            self._link.close()
            self._link = None


class _CoreWindow:
    """The accelerator's AXI4-Lite port: every access is a transaction in the simulated fabric."""

    def __init__(self, fabric: Any) -> None:
        self._fabric = fabric

    def read(self, offset: int) -> int:
        return int(self._fabric().call("read", addr=offset).fields["value"])

    def write(self, offset: int, value: int) -> None:
        self._fabric().call("write", addr=offset, value=int(value))
