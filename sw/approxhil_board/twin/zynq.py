"""The emulated Zynq processing system: DDR with non-coherent caches, the AXI DMA, the clock registers.

Plain Python and numpy (pynq is needed only by :mod:`.device`, which wires these into a
``pynq.Device``). Register semantics follow the Zynq-7000 TRM (SLCR) and PG021 (AXI DMA, direct
register mode) as far as pynq's drivers and the approxhil driver can observe them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from approxhil_board.twin.link import FabricLink

#: Physically contiguous memory the allocator hands out (PYNQ-Z2 images reserve 128 MB of CMA).
CMA_BASE, CMA_SIZE = 0x18000000, 128 << 20
PAGE = 4096
#: A file that, while it exists, makes every S2MM transfer stall (tests: a DMA that never completes).
FAULT_ENV = "APPROXHIL_TWIN_FAULTS"


class DDR:
    """Contiguous buffers, each with the CPU's (cached) view and the DDR contents the DMA sees.

    ``flush`` copies CPU view to DDR, ``invalidate`` DDR to CPU view, as cache maintenance does on
    the Zynq's non-coherent HP ports: a driver that forgets either sees stale data here too.
    """

    def __init__(self) -> None:
        self._buffers: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def allocate(self, nbytes: int) -> tuple[int, np.ndarray]:
        """A fresh buffer (first fit, page aligned): its physical address and the CPU view's bytes."""
        size = max(PAGE, -(-nbytes // PAGE) * PAGE)
        address = CMA_BASE
        for base in sorted(self._buffers):
            if address + size <= base:
                break
            address = max(address, base + self._buffers[base][1].size)
        if address + size > CMA_BASE + CMA_SIZE:
            raise MemoryError(f"out of contiguous memory: {nbytes} bytes requested, {CMA_SIZE >> 20} MB reserved")
        cpu, ddr = np.zeros(size, np.uint8), np.zeros(size, np.uint8)
        self._buffers[address] = (cpu, ddr)
        return address, cpu

    def free(self, address: int) -> None:
        self._buffers.pop(address, None)

    def _find(self, address: int, nbytes: int) -> tuple[int, np.ndarray, np.ndarray] | None:
        for base, (cpu, ddr) in self._buffers.items():
            if base <= address and address + nbytes <= base + ddr.size:
                return address - base, cpu, ddr
        return None

    def flush(self, address: int, nbytes: int) -> None:
        found = self._find(address, nbytes)
        if found:
            off, cpu, ddr = found
            ddr[off : off + nbytes] = cpu[off : off + nbytes]

    def invalidate(self, address: int, nbytes: int) -> None:
        found = self._find(address, nbytes)
        if found:
            off, cpu, ddr = found
            cpu[off : off + nbytes] = ddr[off : off + nbytes]

    def read(self, address: int, nbytes: int) -> np.ndarray | None:
        """What the DMA reads (a copy), or ``None`` outside every buffer (a decode error)."""
        found = self._find(address, nbytes)
        return None if found is None else found[2][found[0] : found[0] + nbytes].copy()

    def write(self, address: int, data: np.ndarray) -> bool:
        found = self._find(address, data.size)
        if found is None:
            return False
        off, _, ddr = found
        ddr[off : off + data.size] = data
        return True


class SLCR:
    """The system-level control registers pynq's ``Clocks`` reads and writes (PLLs, FPGA clocks).

    Reset values: 50 MHz PS reference, IO PLL 1000 MHz, ARM PLL 1300 MHz / 2, FCLK0 = 100 MHz.
    """

    BASE, SIZE = 0xF8000000, 0x1000

    def __init__(self) -> None:
        self.regs = {0x100: 26 << 12, 0x104: 21 << 12, 0x108: 20 << 12, 0x120: 2 << 8}
        for clk in range(4):
            self.regs[0x170 + 0x10 * clk] = (2 << 20) | (5 << 8)

    def read(self, offset: int) -> int:
        return self.regs.get(offset, 0)

    def write(self, offset: int, value: int) -> None:
        self.regs[offset] = value

    def fclk_mhz(self, clk: int = 0) -> float:
        ctrl = self.regs[0x170 + 0x10 * clk]
        pll = 50.0 * ((self.regs[0x108] >> 12) & 0x7F)
        return pll / max(1, (ctrl >> 8) & 0x3F) / max(1, (ctrl >> 20) & 0x3F)


# DMA register bits (PG021)
RS, RESET = 1 << 0, 1 << 2
HALTED, IDLE = 1 << 0, 1 << 1
INT_ERR, SLV_ERR, DEC_ERR = 1 << 4, 1 << 5, 1 << 6
IOC_IRQ, DLY_IRQ, ERR_IRQ = 1 << 12, 1 << 13, 1 << 14
DMACR_RESET_VALUE = 0x00010000
#: Fabric clock cycles one status read lets pass while a transfer runs.
POLL_CYCLES = 4096


@dataclass
class _Channel:
    """One direction of the AXI DMA in direct register mode."""

    receive: bool
    dmacr: int = DMACR_RESET_VALUE
    halted: bool = True
    idle: bool = False
    errors: int = 0
    irq: int = 0
    address: int = 0
    length: int = 0
    busy: bool = False

    def status(self) -> int:
        return (HALTED if self.halted else 0) | (IDLE if self.idle and not self.halted else 0) | self.errors | self.irq

    def fail(self, error: int) -> None:
        """An error halts the channel gracefully (RS cleared, Halted set)."""
        self.errors |= error
        self.irq |= ERR_IRQ
        self.dmacr &= ~RS
        self.halted, self.busy, self.idle = True, False, False


class AxiDma:
    """The AXI DMA's register file on the emulated bus, moving data between DDR and the fabric."""

    MM2S, S2MM = 0x00, 0x30

    def __init__(self, ddr: DDR, fabric: Callable[[], FabricLink]) -> None:
        self._ddr = ddr
        self._fabric = fabric
        self.mm2s, self.s2mm = _Channel(receive=False), _Channel(receive=True)

    def _channel(self, offset: int) -> tuple[_Channel, int]:
        return (self.s2mm, offset - self.S2MM) if offset >= self.S2MM else (self.mm2s, offset)

    def read(self, offset: int) -> int:
        channel, reg = self._channel(offset)
        if reg == 0x04 and channel.busy:
            self._poll()
        return {
            0x00: channel.dmacr,
            0x04: channel.status(),
            0x18: channel.address & 0xFFFFFFFF,
            0x1C: channel.address >> 32,
            0x28: channel.length,
        }.get(reg, 0)

    def write(self, offset: int, value: int) -> None:
        channel, reg = self._channel(offset)
        if reg == 0x00:
            if value & RESET:  # resets the whole DMA, both channels; the bit reads back 0 once done
                self.mm2s, self.s2mm = _Channel(receive=False), _Channel(receive=True)
                self._fabric().call("dma_reset")
                return
            if value & RS and channel.halted:
                channel.halted, channel.idle = False, False
            elif not value & RS and not channel.halted:
                channel.halted, channel.idle, channel.busy = True, False, False
            channel.dmacr = value & ~RESET
        elif reg == 0x04:
            channel.irq &= ~(value & (IOC_IRQ | DLY_IRQ | ERR_IRQ))
        elif reg == 0x18:
            channel.address = (channel.address & ~0xFFFFFFFF) | value
        elif reg == 0x1C:
            channel.address = (channel.address & 0xFFFFFFFF) | (value << 32)
        elif reg == 0x28:
            self._start(channel, value & 0x3FFFFFF)

    def _start(self, channel: _Channel, length: int) -> None:
        """A write to LENGTH starts a transfer on a running channel (and is ignored on a halted one)."""
        if channel.halted:
            return
        if length == 0:
            channel.fail(INT_ERR)
            return
        channel.length, channel.idle, channel.busy = length, False, True
        if channel.receive:
            if self._ddr.read(channel.address, length) is None:
                channel.fail(DEC_ERR)
                return
            faults = faults_file()
            self._fabric().call("s2mm", hang=faults is not None and faults.exists())
        else:
            data = self._ddr.read(channel.address, length)
            if data is None:
                channel.fail(DEC_ERR)
                return
            self._fabric().call("mm2s", {"data": data})

    def _poll(self) -> None:
        """Let the fabric run and take in what finished: a sent frame, a received one (written to DDR)."""
        answer = self._fabric().call("run", cycles=POLL_CYCLES)
        if self.mm2s.busy and answer.fields.get("mm2s_done"):
            self.mm2s.busy, self.mm2s.idle, self.mm2s.irq = False, True, self.mm2s.irq | IOC_IRQ
        if self.s2mm.busy and answer.fields.get("s2mm_done"):
            data = answer.arrays["data"]
            if data.size > self.s2mm.length:  # more than the buffer holds: internal error, channel halts
                self.s2mm.fail(INT_ERR)
                return
            self._ddr.write(self.s2mm.address, data)
            self.s2mm.length = int(data.size)  # S2MM LENGTH reads back the bytes received
            self.s2mm.busy, self.s2mm.idle, self.s2mm.irq = False, True, self.s2mm.irq | IOC_IRQ


def faults_file() -> Path | None:
    """The fault switch file named by ``APPROXHIL_TWIN_FAULTS`` (tests), if any."""
    name = os.environ.get(FAULT_ENV)
    return Path(name) if name else None
