"""``SimBackend``: the accelerator RTL of ``hw/`` in a cocotb simulation (Icarus or Verilator), used
exactly like the board.

The simulator is built once per (simulator, lanes, configs) and started once per backend; it runs
the cocotb module :mod:`approxhil.hil.simboard`, which connects back to a Unix socket and executes
the jobs this class sends, one at a time, until :meth:`SimBackend.close`. So a whole table or a
whole error-model fit is one simulator run, and the jobs are the very ones the board receives.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from approxhil_board import protocol, regs
from approxhil_board.backend import Backend

from approxhil.errors import SpecError, ToolFailedError
from approxhil.hil import sources, wire
from approxhil.hil.errors import HilError
from approxhil.multipliers.spec import parse_multiplier
from approxhil.rtl import runner
from approxhil.rtl.sources import sources_sha256

SIMULATORS = ("verilator", "icarus")
#: Configs a simulated core holds unless told otherwise: exact, and two of the paper's multipliers.
DEFAULT_CONFIGS = ("0000", "3330", "2222")
DEFAULT_LANES = 4
TEST_MODULE = "approxhil.hil.simboard"
#: Seconds a build may take, and the simulator may take to start and connect.
BUILD_TIMEOUT_S = 900.0
STARTUP_TIMEOUT_S = 120.0
#: Upper bound on one simulator session (the simulator is killed after it).
SESSION_TIMEOUT_S = 24 * 3600.0
#: Wall-clock limit of one job: a base plus its simulated-cycle budget at a pessimistic simulation speed.
JOB_WALL_BASE_S = 120.0
MIN_CYCLES_PER_S = 200.0
#: Verilator options of the accelerator build (see docs/hardware.md, "Simulation").
VERILATOR_BUILD_ARGS = ("--output-split", "0", "-CFLAGS", "-O0")


def core_parameters(configs: Sequence[str], lanes: int) -> dict[str, str]:
    """HDL parameters of ``approxhil_accel`` for ``configs`` (select order) and ``lanes``."""
    if not 1 <= lanes <= regs.MAX_LANES:
        raise SpecError(f"lanes must be 1..{regs.MAX_LANES}, got {lanes}")
    if not 1 <= len(configs) <= regs.MAX_CONFIGS:
        raise SpecError(f"a core holds 1..{regs.MAX_CONFIGS} configs, got {len(configs)}")
    packed = 0
    for i, config in enumerate(configs):
        packed |= int(config) << (16 * i)
    width = 16 * len(configs)
    return {"LANES": str(lanes), "NUM_CONFIGS": str(len(configs)), "CONFIGS": f"{width}'h{packed:0{width // 4}x}"}


def normalize_configs(configs: Sequence[str] | str) -> tuple[str, ...]:
    """Parse and de-duplicate config names (SMApprox 8x8 only), keeping their order."""
    if isinstance(configs, str):
        configs = [c for c in configs.replace(",", " ").split() if c]
    out: list[str] = []
    for config in configs:
        spec = parse_multiplier(config)
        if spec.kind != "smapprox8":
            raise SpecError(f"the accelerator holds signed 8x8 SMApprox multipliers; {spec} is not one", fix="name configs like 3330")
        if spec.name not in out:
            out.append(spec.name)
    if not out:
        raise SpecError("no multiplier configs given", fix="name at least one, e.g. 3330")
    return tuple(out)


def build_accelerator(
    configs: Sequence[str], lanes: int, simulator: str = "verilator", build_root: str | os.PathLike | None = None
) -> runner.Build:
    """The simulator build of ``approxhil_accel`` for ``configs`` and ``lanes`` (cached and shared)."""
    return runner.build(
        simulator,
        sources.accelerator_sources(simulation=True),
        sources.TOPLEVEL,
        core_parameters(configs, lanes),
        build_args=VERILATOR_BUILD_ARGS if simulator == "verilator" else (),
        build_root=Path(build_root) if build_root else None,
        timeout=BUILD_TIMEOUT_S,
    )


class SimBackend(Backend):
    """The accelerator in an RTL simulation, behind the same interface as the board."""

    kind = "sim"
    source = "rtl-sim"

    def __init__(
        self,
        configs: Sequence[str] | str = DEFAULT_CONFIGS,
        simulator: str = "verilator",
        lanes: int = DEFAULT_LANES,
        build_root: str | os.PathLike | None = None,
        stall: float = 0.0,
        seed: int = 0,
    ) -> None:
        """Build (or reuse) the simulator for ``configs`` and ``lanes`` and start the simulated board.

        ``stall`` in [0, 1) is the probability that the simulated DMA pauses a stream in a cycle
        (gaps on the input, back-pressure on the output); results must not depend on it.
        """
        super().__init__()
        if not 0.0 <= stall < 1.0:
            raise SpecError(f"stall must be in [0, 1), got {stall}")
        self.stall, self.seed = float(stall), int(seed)
        if simulator not in SIMULATORS:
            raise SpecError(f"unknown simulator {simulator!r}", fix=f"use one of {', '.join(SIMULATORS)}")
        self.simulator = simulator
        self.configs = normalize_configs(configs)
        self.lanes = int(lanes)
        self.parameters = core_parameters(self.configs, self.lanes)
        self.sources = sources.accelerator_sources(simulation=True)
        self.sources_sha256 = sources_sha256(self.sources)
        self._tmp = Path(tempfile.mkdtemp(prefix="approxhil-hil-"))
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        try:
            self.build = build_accelerator(self.configs, self.lanes, simulator, build_root)
            self._connect()
            self.identify()  # a wrong or broken build fails here, not mid-measurement
        except BaseException:
            self.close()
            raise

    # --------------------------------------------------------------- lifecycle
    def _connect(self) -> None:
        address = str(self._tmp / "board.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(address)
        server.listen(1)
        server.settimeout(0.25)
        self._thread = threading.Thread(target=self._simulate, args=(address,), name="approxhil-simboard", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        try:
            while True:
                try:
                    self._sock, _ = server.accept()
                    break
                except TimeoutError:
                    if not self._thread.is_alive():
                        raise self._failed("the simulator exited before the simulated board connected") from None
                    if time.monotonic() > deadline:
                        raise self._failed(f"the simulated board did not connect within {STARTUP_TIMEOUT_S:.0f} s") from None
        finally:
            server.close()
        self._sock.settimeout(None)

    def _simulate(self, address: str) -> None:
        try:
            env = {wire.ADDRESS_ENV: address, wire.STALL_ENV: str(self.stall), wire.SEED_ENV: str(self.seed)}
            runner.run(self.build, TEST_MODULE, self._tmp, extra_env=env, timeout=SESSION_TIMEOUT_S).check()
        except BaseException as exc:  # reported by the host thread via _failed()
            self._failure = exc

    def _failed(self, what: str) -> ToolFailedError:
        log = runner.log_tail(self._tmp / "sim.log")
        cause = f" ({type(self._failure).__name__}: {self._failure})" if self._failure else ""
        return ToolFailedError(f"{self.name}: {what}{cause}" + (f"\n--- simulator log (end) ---\n{log}" if log else ""))

    def close(self) -> None:
        """Stop the simulator (quit message, then wait for it) and remove the socket folder."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                wire.send_msg(self._sock, wire.encode_quit())
            self._sock.close()
            self._sock = None
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None
        shutil.rmtree(self._tmp, ignore_errors=True)

    # --------------------------------------------------------------- the backend interface
    @property
    def name(self) -> str:
        return f"sim:{self.simulator}"

    def execute(self, job: protocol.Job) -> protocol.JobResult:
        if self._sock is None:
            raise HilError(f"{self.name}: the simulated board is closed", fix="open a new SimBackend")
        # a DMA time-out in simulated cycles: generous for the core (1 beat per cycle when it runs)
        timeout_cycles = int(4 * (job.in_beats + job.out_beats) / (1.0 - self.stall)) + 2000
        # wall-clock bound on top: a simulator that stops advancing (or died) must not hang the host
        self._sock.settimeout(JOB_WALL_BASE_S + timeout_cycles / MIN_CYCLES_PER_S)
        try:
            wire.send_msg(self._sock, wire.encode_job(job, timeout_cycles))
            data = wire.recv_msg(self._sock)
        except OSError as exc:  # socket.timeout included
            data, lost = None, f"lost the simulated board during job {job.label} ({type(exc).__name__}: {exc})"
        else:
            lost = f"the simulator stopped during job {job.label}"
        if data is None:
            self._sock.close()
            self._sock = None
            if self._thread is not None:
                self._thread.join(timeout=10)
            error = self._failed(lost)  # reads the simulator log before close() removes it
            self.close()
            raise error
        result = wire.decode_result(data)
        return result

    def provenance(self) -> dict[str, Any]:
        return {
            "backend": "sim",
            "simulator": self.simulator,
            "simulator_version": self.build.tool.version,
            "hw_sources_sha256": self.sources_sha256,
            "lanes": self.lanes,
            "core_configs": list(self.configs),
        }
