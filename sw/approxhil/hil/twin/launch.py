"""Starting the digital twin: the simulated fabric, its bitstream and ``.hwh``, and the board's agent.

:class:`TwinFabric` builds (or reuses) the Verilator model of the accelerator — the same build the
simulated backend uses — runs :mod:`approxhil.hil.twin.fabric` in it, and writes a twin bitstream
naming the simulator's socket with the ``.hwh`` generated from ``hw/tcl`` beside it: a board to
deploy to, or to start the agent on. :class:`Twin` adds the agent, started as on a board: the
staged ``approxhil_board`` package, run by the twin environment's Python with pynq
(:func:`approxhil.hil.twin.venv.ensure_venv`), serving on loopback.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from approxhil_board import auth, wire
from approxhil_board.twin.bitfile import write_twin_bitstream
from approxhil_board.twin.link import FABRIC_ENV
from approxhil_board.twin.zynq import FAULT_ENV

from approxhil.errors import ToolFailedError
from approxhil.hil import deploy
from approxhil.hil.sim import DEFAULT_CONFIGS, DEFAULT_LANES, SESSION_TIMEOUT_S, build_accelerator, normalize_configs
from approxhil.hil.twin.blockdesign import read_block_design
from approxhil.hil.twin.hwhgen import generate_hwh
from approxhil.hil.twin.venv import ensure_venv
from approxhil.rtl import runner

FABRIC_MODULE = "approxhil.hil.twin.fabric"
STARTUP_TIMEOUT_S = 120.0
_LISTENING = re.compile(r"listening on (\S+):(\d+)")


class TwinFabric:
    """The simulated programmable logic of a board, with the bitstream and ``.hwh`` that load it."""

    def __init__(
        self, configs: Sequence[str] | str = DEFAULT_CONFIGS, lanes: int = DEFAULT_LANES, board: str = "pynq-z2", fclk_mhz: float = 100.0
    ) -> None:
        self.configs, self.lanes, self.board = normalize_configs(configs), int(lanes), board
        self.dir = Path(tempfile.mkdtemp(prefix="approxhil-twin-"))
        self.socket = str(self.dir / "fabric.sock")
        self.bitstream = self.dir / "overlay" / f"approxhil_{board}.bit"
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        try:
            design = read_block_design(board, self.lanes, self.configs, fclk_mhz)
            self.bitstream.parent.mkdir()
            self.bitstream.with_suffix(".hwh").write_text(generate_hwh(design))
            write_twin_bitstream(self.bitstream, self.socket, board=board, lanes=self.lanes, configs=list(self.configs), fclk_mhz=fclk_mhz)
            self.build = build_accelerator(self.configs, self.lanes)
            self._thread = threading.Thread(target=self._simulate, name="approxhil-twin-fabric", daemon=True)
            self._thread.start()
            self._wait_for_socket()
        except BaseException:
            self.close()
            raise

    def _simulate(self) -> None:
        try:
            runner.run(self.build, FABRIC_MODULE, self.dir / "sim", extra_env={FABRIC_ENV: self.socket}, timeout=SESSION_TIMEOUT_S).check()
        except BaseException as exc:
            self._failure = exc

    def _wait_for_socket(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not os.path.exists(self.socket):
            if self._thread is None or not self._thread.is_alive():
                raise ToolFailedError(
                    f"the twin's fabric simulator stopped before listening ({self._failure})", fix=f"read {self.dir / 'sim'}"
                )
            if time.monotonic() > deadline:
                raise ToolFailedError(f"the twin's fabric simulator did not listen within {STARTUP_TIMEOUT_S:.0f} s")
            time.sleep(0.05)

    def close(self) -> None:
        """Tell the simulator to quit, wait for it, and remove the twin's folder."""
        if self._thread is not None and self._thread.is_alive() and os.path.exists(self.socket):
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(10.0)
                    sock.connect(self.socket)
                    wire.send_frame(sock, "quit")
                    wire.recv_frame(sock, max_body=0, idle_timeout=10.0)
            except (OSError, wire.FrameError, wire.PeerClosed, wire.IdleTimeout):
                pass
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> TwinFabric:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Twin(TwinFabric):
    """A whole emulated board on loopback: the fabric, and the agent running on it with the real pynq."""

    def __init__(
        self,
        configs: Sequence[str] | str = DEFAULT_CONFIGS,
        lanes: int = DEFAULT_LANES,
        board: str = "pynq-z2",
        idle_timeout: float = 600.0,
    ) -> None:
        self._agent: subprocess.Popen | None = None
        python = ensure_venv()  # before the simulator starts: the first build of it takes a while
        super().__init__(configs, lanes, board)
        try:
            self.secret_file = auth.write_secret(self.dir / "agent.secret", auth.new_secret())
            self.faults = self.dir / "faults"
            self.log = self.dir / "agent.log"
            lib = deploy.stage_board_package(self.dir / "lib")
            env = {**os.environ, "PYTHONPATH": str(lib), FAULT_ENV: str(self.faults)}
            command = [
                str(python),
                "-m",
                "approxhil_board.agent",
                "--bitstream",
                str(self.bitstream),
                "--secret-file",
                str(self.secret_file),
                "--bind",
                "127.0.0.1",
                "--port",
                "0",
                "--board",
                board,
                "--idle-timeout",
                str(idle_timeout),
            ]
            with open(self.log, "w") as log:
                self._agent = subprocess.Popen(
                    command, cwd=self.dir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            self.host, self.port = self._wait_listening()
        except BaseException:
            self.close()
            raise

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def _wait_listening(self) -> tuple[str, int]:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            found = _LISTENING.search(self.log_text())
            if found:
                return found.group(1), int(found.group(2))
            if self._agent is None or self._agent.poll() is not None or time.monotonic() > deadline:
                raise ToolFailedError(
                    f"the twin's agent did not start; its log ends:\n{self.log_text()[-3000:]}", fix="read the agent log above"
                )
            time.sleep(0.05)

    def close(self) -> None:
        if self._agent is not None:
            if self._agent.poll() is None:
                self._agent.send_signal(signal.SIGTERM)
                try:
                    self._agent.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(self._agent.pid, signal.SIGKILL)
                    self._agent.wait()
            self._agent = None
        super().close()
