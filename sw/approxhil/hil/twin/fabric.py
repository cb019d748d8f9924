"""The twin's fabric: a cocotb test that serves the emulated Zynq's register and stream operations.

Runs inside the simulator around ``approxhil_accel`` and listens on the Unix socket named by
``APPROXHIL_TWIN_FABRIC``. The emulated Zynq (:mod:`approxhil_board.twin.device`) connects when pynq
"downloads" the twin bitstream and sends the operations of :mod:`approxhil_board.twin.link`: AXI4-Lite
transactions on the core's control port (cocotbext-axi master), frames into the core (the DMA's MM2S
side: an AXI4-Stream source) and out of it (S2MM: a sink whose ``tready`` stays low until the DMA's
receive channel is armed, as a halted S2MM channel holds it). Simulated time advances only inside an
operation, so the DMA driver's status polls set the pace.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import cocotb
import numpy as np
from approxhil_board import wire
from approxhil_board.twin.link import FABRIC_ENV
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

CLOCK_NS = 10
RESET_CYCLES = 8
#: Cycles simulated between checks of the streams while a ``run`` lasts.
STEP_CYCLES = 64


class Fabric:
    """Bus models around the core and the pending DMA transfers."""

    def __init__(self, dut: Any) -> None:
        self.dut = dut
        logging.getLogger(f"cocotb.{dut._name}").setLevel(logging.WARNING)
        reset = dict(reset=dut.aresetn, reset_active_level=False)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_control"), dut.aclk, **reset)
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.aclk, byte_size=16, **reset)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.aclk, byte_size=32, **reset)
        self.sending = self.receiving = False

    async def reset(self) -> None:
        """Power-on reset of the programmable logic (a bitstream download)."""
        self.dut.aresetn.value = 0
        self._drop_streams()
        await ClockCycles(self.dut.aclk, RESET_CYCLES)
        self.dut.aresetn.value = 1
        await ClockCycles(self.dut.aclk, RESET_CYCLES)
        self.sink.pause = True

    def _drop_streams(self) -> None:
        """The DMA's soft reset: streams end where they are, nothing queued survives."""
        for model in (self.source, self.sink):
            model.clear()
            model._handle_reset(True)  # cocotbext-axi's reset hook: stops the model and drops its frame
            model._handle_reset(False)
        self.sink.pause = True
        self.sending = self.receiving = False

    async def run(self, cycles: int) -> dict[str, Any]:
        """Advance until both pending transfers finished, or ``cycles`` passed."""
        done = 0
        frame = None
        while True:
            if self.receiving and not self.sink.empty():
                frame = self.sink.recv_nowait()
                self.receiving = False
                self.sink.pause = True  # the channel idles again: tready low until re-armed
            if self.sending and self.source.idle():
                self.sending = False
            if not (self.sending or self.receiving) or done >= cycles:
                break
            await ClockCycles(self.dut.aclk, STEP_CYCLES)
            done += STEP_CYCLES
        fields = {"mm2s_done": not self.sending, "s2mm_done": frame is not None}
        arrays = {"data": np.asarray(frame.tdata, dtype="<u4").view(np.uint8)} if frame is not None else {}
        return {"fields": fields, "arrays": arrays}

    async def serve(self, conn: socket.socket) -> bool:
        """Serve one connection; ``False`` when told to quit."""
        while True:
            try:
                request = wire.recv_frame(conn, max_body=1 << 30, idle_timeout=None, stall_timeout=60.0)
            except (wire.PeerClosed, OSError, wire.FrameError):
                return True
            op, f = request.kind, request.fields
            fields: dict[str, Any] = {}
            arrays: dict[str, np.ndarray] = {}
            if op == "quit":
                wire.send_frame(conn, "ok")
                return False
            if op == "reset":
                await self.reset()
            elif op == "write":
                await self.axil.write_dword(int(f["addr"]), int(f["value"]))
            elif op == "read":
                fields["value"] = int(await self.axil.read_dword(int(f["addr"])))
            elif op == "mm2s":
                data = request.arrays["data"]
                self.source.send_nowait(AxiStreamFrame(data.view("<u2").tolist()))
                self.sending = True
            elif op == "s2mm":
                self.sink.pause = bool(f.get("hang"))  # a stalled receive channel never raises tready
                self.receiving = True
            elif op == "run":
                out = await self.run(int(f.get("cycles", 0)))
                fields, arrays = out["fields"], out["arrays"]
            elif op == "dma_reset":
                self._drop_streams()
            else:
                wire.send_frame(conn, "error", {"message": f"unknown operation {op!r}"})
                continue
            wire.send_frame(conn, "ok", fields, arrays)


@cocotb.test()
async def serve(dut: Any) -> None:
    """Listen for the emulated Zynq and serve it until it says quit."""
    path = os.environ.get(FABRIC_ENV)
    if not path:
        raise RuntimeError(f"{FABRIC_ENV} is not set: this module is started by approxhil.hil.twin")
    Clock(dut.aclk, CLOCK_NS, unit="ns").start()
    fabric = Fabric(dut)
    await fabric.reset()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(4)
        while True:
            conn, _ = server.accept()
            with conn:
                if not await fabric.serve(conn):
                    break
