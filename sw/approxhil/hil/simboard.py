"""The simulated board: a cocotb test that runs inside the simulator and executes the host's jobs.

It takes the place of the Zynq PS and the AXI DMA around ``approxhil_accel``: register writes and
reads go through an AXI4-Lite master, the operand stream through an AXI4-Stream source (the DMA's
MM2S channel) and the results through an AXI4-Stream sink (S2MM), all cocotbext-axi bus models.
A job runs as on the board: register writes (START last), both streams at once, counters read back.
A stream that does not finish within the job's cycle budget is a DMA time-out; the board then resets
the core and the bus models, as the driver resets DMA and core on the board.

Started by :class:`approxhil.hil.sim.SimBackend`, which passes the socket to connect to in
``APPROXHIL_HIL_SOCKET``; jobs are served until the host sends ``quit`` or disconnects.
"""

from __future__ import annotations

import logging
import os
import random
import socket
from collections.abc import Iterator

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, SimTimeoutError, with_timeout
from cocotb.utils import get_sim_time
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamFrame, AxiStreamSink, AxiStreamSource

from approxhil.hil import wire

#: Clock period of the simulated fabric clock (100 MHz, as FCLK_CLK0 of the board design).
CLOCK_NS = 10
RESET_CYCLES = 8
#: Cycles the input may still be pending after the last result before the send counts as stuck.
DRAIN_CYCLES = 64


class SimulatedBoard:
    """Bus models around the accelerator and the job sequence of the board driver."""

    def __init__(self, dut, stall: float = 0.0, seed: int = 0) -> None:
        self.dut = dut
        logging.getLogger(f"cocotb.{dut._name}").setLevel(logging.WARNING)  # frame dumps of the bus models
        reset = dict(reset=dut.aresetn, reset_active_level=False)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_control"), dut.aclk, **reset)
        # stream "bytes" of one operand pair (16 bits) in and one int32 result out: whole lanes per
        # bus-model word, so a beat costs one signal access per lane instead of one per byte
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.aclk, byte_size=16, **reset)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.aclk, byte_size=32, **reset)
        if stall > 0:  # a DMA that pauses: gaps in the operand stream, back-pressure on the results
            rng = random.Random(seed)
            self.source.set_pause_generator(_pauses(rng, stall))
            self.sink.set_pause_generator(_pauses(rng, stall))

    async def reset(self) -> None:
        """Hold the AXI reset (core and bus models) for a few cycles and drop queued data."""
        self.dut.aresetn.value = 0
        self.source.clear()
        self.sink.clear()
        await ClockCycles(self.dut.aclk, RESET_CYCLES)
        self.dut.aresetn.value = 1
        await ClockCycles(self.dut.aclk, RESET_CYCLES)

    async def run(self, job: dict) -> bytes:
        """Execute one job and return the encoded result."""
        start = get_sim_time("ns")
        for offset, value in job["writes"]:
            await self.axil.write_dword(offset, value)
        output = b""
        send_done = recv_done = True
        if job["stream"]:
            budget_ns = job["timeout_cycles"] * CLOCK_NS
            await self.source.send(AxiStreamFrame(np.frombuffer(job["payload"], dtype="<u2").tolist()))
            try:
                frame = await with_timeout(self.sink.recv(), budget_ns, "ns")
                output = np.asarray(frame.tdata, dtype="<u4").tobytes()
            except SimTimeoutError:
                recv_done = False
            if recv_done:
                try:
                    await with_timeout(self.source.wait(), DRAIN_CYCLES * CLOCK_NS, "ns")
                except SimTimeoutError:
                    send_done = False
            else:
                send_done = self.source.idle()
        reads = {offset: await self.axil.read_dword(offset) for offset in job["reads"]}
        if not (send_done and recv_done):
            await self.reset()
        cycles = int((get_sim_time("ns") - start) // CLOCK_NS)
        return wire.encode_result(output, reads, send_done, recv_done, cycles)


def _pauses(rng: random.Random, probability: float) -> Iterator[bool]:
    while True:
        yield rng.random() < probability


@cocotb.test()
async def serve(dut) -> None:
    """Serve the host's jobs until it sends quit or disconnects."""
    address = os.environ.get(wire.ADDRESS_ENV)
    if not address:
        raise RuntimeError(f"{wire.ADDRESS_ENV} is not set: this module is started by approxhil.hil.SimBackend")
    Clock(dut.aclk, CLOCK_NS, unit="ns").start()
    board = SimulatedBoard(dut, stall=float(os.environ.get(wire.STALL_ENV, "0")), seed=int(os.environ.get(wire.SEED_ENV, "0")))
    await board.reset()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(address)
        while True:
            data = wire.recv_msg(sock)
            if data is None:
                break
            job = wire.decode_job(data)
            if job.get("quit"):
                break
            wire.send_msg(sock, await board.run(job))
