"""``RemoteBackend``: the accelerator on a board, reached through the board's agent over the network.

The same :class:`~approxhil_board.backend.Backend` interface as the simulated and the local board
backends, so tables, layer outputs and error-model fits work unchanged. Products and dot products
go to the agent as requests (split at the agent's announced limits); the agent runs them through its
own backend, which packs, streams and checks them on the board. Opening checks what the caller
expects — the bitstream (hash), the core's lanes and configs — and refuses a mismatch by name.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from approxhil_board import protocol
from approxhil_board.auth import read_secret
from approxhil_board.backend import Backend, config_name
from approxhil_board.client import AgentClient, parse_address
from approxhil_board.errors import AuthError, BoardUnreachableError, HilError, HilProtocolError, VersionMismatchError
from approxhil_board.hashing import file_sha256
from approxhil_board.regs import CoreInfo

from approxhil.hil.boards import secret_path

#: Operand pairs per request (at most the agent's limit), and requests in flight at once.
CHUNK_PAIRS = 1 << 20
WINDOW = 2
REDEPLOY_FIX = "deploy the bitstream you mean: approxhil hil deploy --board USER@HOST --bitstream FILE.bit"


class RemoteBackend(Backend):
    """The core behind the agent at ``board`` (``HOST[:PORT]``), authenticated with the deployment's secret."""

    kind = "remote"

    def __init__(
        self,
        board: str,
        secret_file: str | os.PathLike | None = None,
        expect_bitstream: str | os.PathLike | None = None,
        expect_configs: Sequence[str] | None = None,
        expect_lanes: int | None = None,
        timeout: float = 10.0,
    ) -> None:
        super().__init__()
        self.host, self.port = parse_address(board)
        path = Path(secret_file) if secret_file else secret_path(self.host, self.port)
        if not path.exists():
            raise AuthError(
                f"no secret for the board {self.host}:{self.port} ({path} does not exist)",
                fix="deploy the agent with `approxhil hil deploy --board USER@HOST` (it writes the secret), or pass --secret-file",
            )
        self.client = AgentClient.connect(self.host, self.port, read_secret(path), timeout=timeout)
        welcome = self.client.welcome
        self._info = welcome.core
        self._agent = dict(welcome.provenance)
        self.source = str(self._agent.pop("source", "board"))
        try:
            self._check(expect_bitstream, expect_configs, expect_lanes)
        except BaseException:
            self.close()
            raise

    def _check(self, bitstream: str | os.PathLike | None, configs: Sequence[str] | None, lanes: int | None) -> None:
        where, core = f"board {self.host}:{self.port}", self._info
        if bitstream is not None:
            expected = file_sha256(bitstream) if Path(bitstream).is_file() else str(bitstream)
            running = str(self._agent.get("bitstream_sha256", ""))
            if running != expected:
                raise VersionMismatchError(
                    f"{where} runs bitstream {self._agent.get('bitstream', '?')} (sha256 {running[:12]}), not {Path(bitstream).name} (sha256 {expected[:12]})",
                    fix=REDEPLOY_FIX,
                )
        if lanes is not None and lanes != core.lanes:
            raise VersionMismatchError(f"{where}: the core has {core.lanes} lanes, not {lanes}", fix=f"drop --lanes, or {REDEPLOY_FIX}")
        missing = [config_name(c) for c in (configs or ()) if config_name(c) not in core.configs]
        if missing:
            raise VersionMismatchError(
                f"{where}: the core holds configs {' '.join(core.configs)}, not {' '.join(missing)}",
                fix=f"measure one of those, or {REDEPLOY_FIX} built with CONFIGS naming them",
            )

    # --------------------------------------------------------------- the backend interface
    @property
    def name(self) -> str:
        return f"remote:{self.host}:{self.port}"

    def identify(self) -> CoreInfo:
        return self._info

    def execute(self, job: protocol.Job) -> protocol.JobResult:
        raise HilError(f"{self.name}: the agent runs products and dot products, not raw jobs", fix="call products() or dot()")

    def products(self, config: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = protocol.as_int8(a, "operand A").reshape(-1)
        b = protocol.as_int8(b, "operand B").reshape(-1)
        if a.shape != b.shape:
            raise HilError(f"operand arrays differ in length ({a.size} and {b.size})")
        name = self.info.configs[self.select(config)]
        step = min(self.client.welcome.max_pairs, CHUNK_PAIRS)
        return self._requests("products", name, [(a[i : i + step], b[i : i + step]) for i in range(0, a.size, step)])

    def dot(self, config: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = protocol.as_int8(a, "operand A")
        b = protocol.as_int8(b, "operand B")
        if a.ndim != 2 or a.shape != b.shape:
            raise HilError(f"dot products need two [N, K] arrays of one shape, got {a.shape} and {b.shape}")
        if a.shape[0] == 0:
            return np.zeros(0, np.int32)
        if a.shape[1] == 0:
            raise HilError(f"dot products need at least one pair per vector, got {a.shape[0]}x0")
        name = self.info.configs[self.select(config)]
        step = max(1, min(self.client.welcome.max_pairs, CHUNK_PAIRS) // a.shape[1])
        return self._requests("dot", name, [(a[i : i + step], b[i : i + step]) for i in range(0, a.shape[0], step)])

    def _requests(self, kind: str, config: str, chunks: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Run the requests with up to :data:`WINDOW` in flight, so the wire, the agent and this host overlap.

        A sender thread sends while this thread receives (answers come in order); the first error
        stops the sending, the answers already on their way are drained, and the error is raised.
        """
        if not chunks:
            return np.zeros(0, np.int32)
        window = threading.Semaphore(WINDOW)
        stop = threading.Event()
        sent: list[int] = []
        failures: list[BaseException] = []

        def sender() -> None:
            for a, b in chunks:
                window.acquire()
                if stop.is_set():
                    return
                try:
                    self.client.send(kind, {"config": config}, {"a": a, "b": b})
                except BaseException as exc:  # reported by the receiving thread
                    failures.append(exc)
                    return
                sent.append(1)

        thread = threading.Thread(target=sender, name="approxhil-remote-send", daemon=True)
        thread.start()
        outs: list[np.ndarray] = []
        error: BaseException | None = None
        last = time.perf_counter()
        try:
            for a, b in chunks:
                if failures:
                    raise failures[0]
                try:
                    answer = self.client.receive(kind)
                finally:
                    window.release()
                outs.append(self._result(kind, answer, a, b, time.perf_counter() - last))
                last = time.perf_counter()
        except BaseException as exc:
            error = exc
            stop.set()
            window.release()
        thread.join()
        if error is not None:
            if not isinstance(error, BoardUnreachableError):
                for _ in range(len(sent) - len(outs) - 1):  # answers still on their way: read and drop them
                    with contextlib.suppress(HilError):
                        self.client.receive(kind)
            raise error
        return outs[0] if len(outs) == 1 else np.concatenate(outs)

    def _result(self, kind: str, answer: Any, a: np.ndarray, b: np.ndarray, seconds: float) -> np.ndarray:
        out = answer.arrays.get("out")
        results = a.shape[0]
        if answer.kind != "result" or out is None or out.dtype != np.int32 or out.shape != (results,):
            got = "nothing" if out is None else f"{out.dtype} {out.shape}"
            raise HilProtocolError(f"{self.name}: the agent answered a {kind} request of {results} results with {answer.kind} ({got})")
        extra = {"agent_seconds": float(answer.fields.get("seconds", 0.0)), "bytes": int(a.nbytes + b.nbytes + out.nbytes)}
        self.stats.record(f"{kind}[{'x'.join(map(str, a.shape))}]", int(a.size), seconds, extra, jobs=int(answer.fields.get("jobs", 1)))
        return out

    def provenance(self) -> dict[str, Any]:
        prov = dict(self._agent)
        prov["agent_backend"] = prov.pop("backend", "?")
        return {"backend": "remote", "address": f"{self.host}:{self.port}", **prov}

    def close(self) -> None:
        self.client.close()
