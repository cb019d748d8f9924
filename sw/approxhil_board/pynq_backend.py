"""``PynqBackend``: the accelerator on a PYNQ board (``pynq.Overlay``, ``pynq.allocate``, AXI DMA, MMIO).

Only :meth:`PynqBackend.execute` touches the board: copy the packed operands into a contiguous
buffer, write the registers, run both DMA channels with a time-out, copy the answer out, read the
counters. Packing, checking and unpacking are the shared code of :mod:`approxhil_board.protocol`.
``pynq`` is imported only here, only when a board backend is opened: on the board it comes with the
PYNQ image; on a PC it exists only in the digital twin's environment (:mod:`approxhil_board.twin`).
"""

from __future__ import annotations

import os
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from approxhil_board import protocol, regs
from approxhil_board.backend import Backend
from approxhil_board.errors import BitstreamError, HilError, ToolMissingError
from approxhil_board.hashing import file_sha256
from approxhil_board.hwh import HwhInfo, read_hwh

DEFAULT_BOARD = "pynq-z2"
#: Largest contiguous buffer the driver allocates (PYNQ-Z2 images reserve 128 MB of CMA).
MAX_BUFFER_BYTES = 1 << 24
#: Extra bytes of the receive buffer, so an over-long answer is seen as such instead of overrunning.
RECV_SLACK = 4096
#: Time-out: a fixed part plus the transfer at a pessimistic 50 MB/s, extended while the core makes
#: progress (see ``_Watchdog``).
TIMEOUT_BASE_S = 2.0
TIMEOUT_BYTES_PER_S = 50e6
#: DMA register offsets (PG021): control and status of each channel.
_MM2S_DMACR, _S2MM_DMACR = 0x00, 0x30
_DMACR_RESET = 1 << 2


def _import_pynq() -> Any:
    try:
        import pynq
    except ImportError as exc:
        raise ToolMissingError(
            f"PynqBackend needs the pynq package of a PYNQ board image, and pynq is not importable here ({exc})",
            fix="on a PC use --backend remote with a board set up by `approxhil hil deploy`, or --backend sim; "
            "on the board run the agent with the image's pynq-venv Python",
        ) from None
    return pynq


def _require_board(pynq: Any) -> None:
    try:
        devices = list(pynq.Device.devices)
    except Exception as exc:  # pynq raises RuntimeError('No Devices Found') and others off-board
        raise ToolMissingError(
            f"no PYNQ board found ({type(exc).__name__}: {exc})", fix="run on a PYNQ board, or use --backend sim"
        ) from None
    if not devices:
        raise ToolMissingError("no PYNQ board found (pynq sees no FPGA device)", fix="run on a PYNQ board, or use --backend sim")


#: The core's VLNV in a block design (a module reference to hw/rtl/approxhil_accel.v).
CORE_VLNV = "xilinx.com:module_ref:approxhil_accel:1.0"


@lru_cache(maxsize=1)
def _core_driver(pynq: Any) -> type:
    """The ``DefaultIP`` driver class of the core, registered with PYNQ for :data:`CORE_VLNV`."""

    class ApproxHilCore(pynq.DefaultIP):
        """Register access of the approxhil core (offsets and bits in :mod:`approxhil_board.regs`)."""

        bindto: ClassVar[list[str]] = [CORE_VLNV]

        def __init__(self, description: dict) -> None:
            super().__init__(description=description)

        def program(self, writes: tuple[tuple[int, int], ...]) -> None:
            """Write ``(offset, value)`` pairs in order (the last one usually START)."""
            for offset, value in writes:
                self.write(offset, int(value))

        def read_registers(self, offsets: tuple[int, ...]) -> dict[int, int]:
            return {offset: int(self.read(offset)) for offset in offsets}

        def cancel(self) -> None:
            """Drop a running job (after a DMA time-out)."""
            self.write(regs.CTRL, regs.CTRL_CANCEL)

    return ApproxHilCore


def locate_bitstream(bitstream: str | os.PathLike, board: str = DEFAULT_BOARD) -> tuple[Path, Path]:
    """The ``.bit`` and the ``.hwh`` beside it, both checked to exist."""
    bit = Path(bitstream)
    if bit.suffix != ".bit":
        raise BitstreamError(f"{bit} is not a .bit file", fix="pass the bitstream (.bit) with its .hwh beside it")
    if not bit.is_file():
        raise BitstreamError(
            f"bitstream {bit} does not exist", fix=f"build it with `make bitstream BOARD={board}` (needs Vivado) and copy it to the board"
        )
    hwh = bit.with_suffix(".hwh")
    if not hwh.is_file():
        raise BitstreamError(
            f"{bit.name} has no hardware handoff {hwh.name} beside it", fix="copy the .hwh written by `make bitstream` next to the .bit"
        )
    return bit, hwh


class PynqBackend(Backend):
    """The accelerator on a PYNQ board, behind the same interface as the simulated and remote backends."""

    kind = "pynq"

    def __init__(self, bitstream: str | os.PathLike, board: str = DEFAULT_BOARD, download: bool = True) -> None:
        super().__init__()
        pynq = _import_pynq()
        _require_board(pynq)
        self.board = board
        self.bitstream, self.hwh_path = locate_bitstream(bitstream, board)
        self.hwh: HwhInfo = read_hwh(self.hwh_path)
        self.bitstream_sha256 = file_sha256(self.bitstream)
        driver = _core_driver(pynq)
        try:
            self.overlay = pynq.Overlay(str(self.bitstream), download=download)
        except Exception as exc:
            raise HilError(
                f"pynq could not load {self.bitstream.name}: {type(exc).__name__}: {exc}", fix="check the bitstream matches this board"
            ) from None
        self.core = _ip(self.overlay, self.hwh.core)
        if not isinstance(self.core, driver):
            raise BitstreamError(
                f"pynq did not bind the approxhil driver to {self.hwh.core} (its VLNV is {self.hwh.core_vlnv}, the driver binds {CORE_VLNV})",
                fix="build the bitstream with hw/tcl (the core as a module reference named approxhil_accel)",
            )
        self.dma = _ip(self.overlay, self.hwh.dma)
        self.max_transfer_bytes = min(self.hwh.max_transfer_bytes, MAX_BUFFER_BYTES)
        self._allocate = pynq.allocate
        self._buffers: dict[str, Any] = {}
        device = pynq.Device.active_device
        #: The pynq device's name; an emulated Zynq (the digital twin) says so.
        self.device_name = str(getattr(device, "name", type(device).__name__))
        self.source = "twin" if getattr(device, "emulated", False) else "board"
        self.identify()  # magic, version, lanes, configs: a wrong bitstream fails here
        if self.hwh.lanes is not None and self.hwh.lanes != self.info.lanes:
            raise BitstreamError(
                f"{self.hwh_path.name} describes a core of {self.hwh.lanes} lanes, the loaded core reports {self.info.lanes}",
                fix="copy the .hwh written with this .bit by `make bitstream` (re-run `approxhil hil deploy`)",
            )

    # --------------------------------------------------------------- buffers
    def _buffer(self, which: str, nbytes: int) -> Any:
        """A contiguous uint8 buffer of at least ``nbytes``, reused between jobs."""
        buf = self._buffers.get(which)
        if buf is None or buf.size < nbytes:
            if buf is not None:
                buf.freebuffer()
            buf = self._allocate(shape=(max(nbytes, 64),), dtype=np.uint8)
            self._buffers[which] = buf
        return buf

    def close(self) -> None:
        for buf in self._buffers.values():
            buf.freebuffer()
        self._buffers.clear()

    # --------------------------------------------------------------- execute
    def execute(self, job: protocol.Job) -> protocol.JobResult:
        output = np.zeros(0, np.uint8)
        send_done = recv_done = True
        if job.streams:
            inbuf = self._buffer("in", job.payload.size)
            inbuf[: job.payload.size] = job.payload
            outbuf = self._buffer("out", job.out_bytes + RECV_SLACK)
        self.core.program(job.writes)
        if job.streams:
            recv, send = self.dma.recvchannel, self.dma.sendchannel
            recv.transfer(outbuf, nbytes=min(outbuf.size, self.max_transfer_bytes))
            send.transfer(inbuf, nbytes=job.payload.size)
            watchdog = _Watchdog(self.core, TIMEOUT_BASE_S + (job.payload.size + job.out_bytes) / TIMEOUT_BYTES_PER_S)
            try:
                send_done = _wait_idle(send, watchdog)
                recv_done = _wait_idle(recv, watchdog)
            except HilError:
                self.recover()
                raise
            if recv_done:
                recv.wait()  # invalidates the cache lines and reads the received length
                output = np.array(outbuf[: recv.transferred], dtype=np.uint8)
        reads = self.core.read_registers(job.reads)
        if not (send_done and recv_done):
            self.recover()
        return protocol.JobResult(output=output, reads=reads, send_done=send_done, recv_done=recv_done)

    def recover(self) -> None:
        """After a time-out or a failed call: drop the core's job, reset the DMA and restart both channels."""
        self.core.cancel()
        self.dma.mmio.write(_MM2S_DMACR, _DMACR_RESET)
        self.dma.mmio.write(_S2MM_DMACR, _DMACR_RESET)
        deadline = time.monotonic() + 1.0
        while self.dma.mmio.read(_MM2S_DMACR) & _DMACR_RESET and time.monotonic() < deadline:
            pass
        self.dma.sendchannel.start()
        self.dma.recvchannel.start()

    def provenance(self) -> dict[str, Any]:
        return {
            "backend": "pynq",
            "board": self.board,
            "bitstream": self.bitstream.name,
            "bitstream_sha256": self.bitstream_sha256,
            "hwh_sha256": file_sha256(self.hwh_path),
            "lanes": self.info.lanes,
            "core_configs": list(self.info.configs),
            "fclk_mhz": self.hwh.fclk_mhz,
            "device": self.device_name,
        }

    @property
    def name(self) -> str:
        return f"pynq:{self.board}"


def _ip(overlay: Any, path: str) -> Any:
    """The overlay's driver of the IP at block-design path ``path`` (``hier/name`` inside hierarchies)."""
    node = overlay
    for part in path.split("/"):
        node = getattr(node, part)
    return node


class _Watchdog:
    """The time-out of one job's transfers: it expires once the core has made no progress for a while.

    Past the nominal time (``seconds``), the core's beat counters decide: if they moved since the
    last look, the transfer is slow, not stuck, and gets another :data:`TIMEOUT_BASE_S`. A stalled
    or unstarted core times out after the nominal time; a long one on a loaded board (or in the
    digital twin, whose fabric is a simulation) does not.
    """

    def __init__(self, core: Any, seconds: float) -> None:
        self.core = core
        self.deadline = time.monotonic() + seconds
        self.seen = {regs.IN_BEATS: 0, regs.OUT_BEATS: 0}  # CLEAR zeroed them before the job started

    def expired(self) -> bool:
        if time.monotonic() <= self.deadline:
            return False
        counters = self.core.read_registers((regs.IN_BEATS, regs.OUT_BEATS))
        if counters == self.seen:
            return True
        self.seen = counters
        self.deadline = time.monotonic() + TIMEOUT_BASE_S
        return False


def _wait_idle(channel: Any, watchdog: _Watchdog) -> bool:
    """Poll a DMA channel until idle; ``False`` when the watchdog expires. Raises on a DMA error state."""
    while not channel.idle:
        if channel.error:
            raise HilError("the AXI DMA reports an error (internal, slave or decode error)", fix="reload the overlay")
        if watchdog.expired():
            return False
    return True


def estimate_throughput(lanes: int = 4, fclk_mhz: float = 100.0, hp_bits: int = 64) -> dict[str, float]:
    """Pairs per second a board sustains, from the fabric clock and the stream and port widths.

    The core takes one beat (``lanes`` pairs) per cycle. The DMA moves at most ``hp_bits`` per cycle
    per direction through the HP port: 2 bytes per pair in, 4 bytes per product out in products mode
    (the result stream binds), a negligible answer in dot-product mode. Driver overhead (register
    writes, cache maintenance, polling: about a millisecond per job) comes on top.
    """
    clock = fclk_mhz * 1e6
    port = hp_bits / 8 * clock  # bytes/s per direction
    core = lanes * clock
    products = min(core, port / 2, port / 4)
    dots = min(core, port / 2)
    return {
        "core_pairs_per_s": core,
        "products_pairs_per_s": products,
        "dot_pairs_per_s": dots,
        "table_stream_s": 65536 / products,
    }
