"""The board agent: owns the core (through a backend) and serves authenticated hosts over TCP.

Run on the board with the image's Python (``python -m approxhil_board.agent --config agent.json``,
as ``approxhil hil deploy`` sets it up). Each connection gets a thread: a challenge-response
handshake (:mod:`.auth`), then requests (:mod:`.wire` frames) until the host says ``bye``, goes
idle past the time-out or sends something malformed. Requests:

* ``info`` — the core's identity and the agent's provenance (bitstream hash, board, lanes, configs);
* ``products`` (``config``; arrays ``a``, ``b``: 1-D) and ``dot`` (``config``; ``a``, ``b``: ``[N, K]``)
  — run on the core through the backend's shared protocol code; answered with the int32 ``out``.

One job at a time: a request that finds the core busy with another connection's job is refused at
once (:class:`~.errors.AgentBusyError`). A job that fails, or whose host disconnects (checked between
DMA transfers), leaves the core cancelled and the DMA reset (:meth:`Backend.recover`). Every error
goes back to the host as one ``error`` frame with its class, message and fix; the agent keeps serving.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from approxhil_board import __version__, auth, wire
from approxhil_board.backend import Backend
from approxhil_board.errors import AgentBusyError, ApproxHilError, AuthError, FrameError, HilError, HilProtocolError, VersionMismatchError
from approxhil_board.protocol import MAX_DOT_LEN

log = logging.getLogger("approxhil.agent")
DEFAULT_PORT = 7968


@dataclass(frozen=True)
class Limits:
    """What the agent accepts: frame size, work per request, and how long it waits for a peer."""

    max_body: int = 16 << 20  # a 4 Mi-pair request is 8 MB; eight such connections fit a 512 MB board
    #: Operand pairs per request (products: ``a.size``; dot: ``N*K``): 8 MB in, 16 MB out at most.
    max_pairs: int = 1 << 22
    handshake_timeout: float = 10.0
    idle_timeout: float = 600.0
    stall_timeout: float = 30.0
    max_connections: int = 8


@dataclass
class _Job:
    peer: str
    kind: str
    started: float


class Agent:
    """Serve ``backend`` to hosts that prove ``secret``, on ``bind:port`` (port 0: any free port)."""

    def __init__(
        self, backend: Backend, secret: bytes, bind: str = "127.0.0.1", port: int = DEFAULT_PORT, limits: Limits = Limits()
    ) -> None:
        self.backend = backend
        self.limits = limits
        self._secret = secret
        self._server = socket.create_server((bind, port), family=socket.AF_INET6 if ":" in bind else socket.AF_INET, backlog=16)
        self._server.settimeout(0.05)  # how soon serve_forever notices shutdown()
        self._stop = threading.Event()
        self._job_lock = threading.Lock()
        self._job: _Job | None = None
        self._sessions: set[threading.Thread] = set()
        self._sessions_lock = threading.Lock()
        info = backend.info
        self._core = {"version": info.version, "lanes": info.lanes, "configs": list(info.configs)}
        self._provenance = _jsonable(backend.provenance())
        self._provenance.setdefault("source", backend.source)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.getsockname()[:2]
        return str(host), int(port)

    # ------------------------------------------------------------------ serving
    def serve_forever(self) -> None:
        log.info("approxhil agent %s listening on %s:%d (%s)", __version__, *self.address, self.backend.name)
        while not self._stop.is_set():
            try:
                conn, peer = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    break
                raise
            name = f"{peer[0]}:{peer[1]}"
            with self._sessions_lock:
                self._sessions = {t for t in self._sessions if t.is_alive()}
                crowded = len(self._sessions) >= self.limits.max_connections
                if not crowded:
                    thread = threading.Thread(target=self._session, args=(conn, name), name=f"agent-{name}", daemon=True)
                    self._sessions.add(thread)
            if crowded:
                log.warning("refusing %s: %d connections already open", name, self.limits.max_connections)
                _send_error(
                    conn,
                    AgentBusyError(
                        f"the agent already serves {self.limits.max_connections} connections", fix="close idle connections and retry"
                    ),
                )
                conn.close()
                continue
            thread.start()
        self._server.close()

    def shutdown(self, wait: float = 5.0) -> None:
        """Stop accepting, and wait up to ``wait`` s for open sessions to notice."""
        self._stop.set()
        with self._sessions_lock:
            threads = list(self._sessions)
        for thread in threads:
            thread.join(timeout=wait)

    # ------------------------------------------------------------------ one connection
    def _session(self, conn: socket.socket, peer: str) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            if self._handshake(conn, peer):
                self._serve(conn, peer)
        except Exception:  # a bug must not take the agent down: log it, drop this connection
            log.exception("session %s failed", peer)
        finally:
            conn.close()
            log.info("%s disconnected", peer)

    def _handshake(self, conn: socket.socket, peer: str) -> bool:
        limits = self.limits
        agent_nonce = auth.new_nonce()
        try:
            wire.send_frame(conn, "challenge", {"protocol": wire.PROTOCOL_VERSION, "nonce": agent_nonce.hex(), "agent": __version__})
            answer = wire.recv_frame(conn, max_body=0, idle_timeout=limits.handshake_timeout, stall_timeout=limits.handshake_timeout)
        except (OSError, wire.PeerClosed, wire.IdleTimeout, FrameError) as exc:
            log.warning("handshake with %s failed: %s", peer, exc)
            if isinstance(exc, (FrameError, wire.IdleTimeout)):
                _send_error(conn, HilProtocolError(f"handshake failed: {exc}", fix="connect with approxhil's remote backend"))
            return False
        fields = answer.fields
        if answer.kind != "auth":
            _send_error(
                conn,
                HilProtocolError(f"expected the host's auth answer, got {answer.kind!r}", fix="connect with approxhil's remote backend"),
            )
            return False
        if fields.get("protocol") != wire.PROTOCOL_VERSION:
            log.warning("%s speaks protocol %r, this agent %d", peer, fields.get("protocol"), wire.PROTOCOL_VERSION)
            _send_error(
                conn,
                VersionMismatchError(
                    f"this agent (approxhil {__version__}) speaks protocol version {wire.PROTOCOL_VERSION}, the host (approxhil {fields.get('host')}) version {fields.get('protocol')}",
                    fix="deploy the agent of the host's approxhil version: approxhil hil deploy --board USER@HOST",
                ),
            )
            return False
        try:
            host_nonce = bytes.fromhex(str(fields.get("nonce")))
        except ValueError:
            host_nonce = b""
        expected = auth.host_proof(self._secret, wire.PROTOCOL_VERSION, agent_nonce, host_nonce)
        if len(host_nonce) != auth.NONCE_BYTES or not auth.verify(expected, fields.get("proof")):
            log.warning("authentication of %s failed", peer)
            _send_error(conn, AuthError("the host's proof does not match this board's secret", fix=auth.SECRET_FIX))
            return False
        proof = auth.agent_proof(self._secret, wire.PROTOCOL_VERSION, agent_nonce, host_nonce)
        limits_out = {"max_body": limits.max_body, "max_pairs": limits.max_pairs}
        wire.send_frame(
            conn,
            "welcome",
            {"proof": proof.hex(), "agent": __version__, "core": self._core, "provenance": self._provenance, "limits": limits_out},
        )
        log.info("%s authenticated", peer)
        return True

    def _serve(self, conn: socket.socket, peer: str) -> None:
        limits = self.limits
        while not self._stop.is_set():
            try:
                frame = wire.recv_frame(
                    conn, max_body=limits.max_body, idle_timeout=limits.idle_timeout, stall_timeout=limits.stall_timeout
                )
            except wire.PeerClosed:
                return
            except wire.IdleTimeout as exc:
                _send_error(conn, HilError(f"closing the connection: {exc}", fix="reconnect"))
                return
            except FrameError as exc:  # the stream cannot be resynchronized: answer, then close
                log.warning("bad frame from %s: %s", peer, exc)
                _send_error(conn, exc)
                return
            except OSError:
                return
            if frame.kind == "bye":
                return
            try:
                kind, fields, arrays = self._handle(conn, peer, frame)
            except ApproxHilError as exc:
                log.info("%s: %s request failed: %s", peer, frame.kind, exc.message)
                kind, fields, arrays = "error", _error_fields(exc), {}
            except Exception as exc:  # an agent bug: report it, keep serving
                log.exception("%s: %s request failed", peer, frame.kind)
                kind, fields, arrays = (
                    "error",
                    _error_fields(HilError(f"agent error: {type(exc).__name__}: {exc}", fix="report this with the agent's log")),
                    {},
                )
            try:
                wire.send_frame(conn, kind, fields, arrays)
            except OSError:
                return

    # ------------------------------------------------------------------ requests
    def _handle(self, conn: socket.socket, peer: str, frame: wire.Frame) -> tuple[str, dict, dict]:
        if frame.kind == "info":
            return "info", {"core": self._core, "provenance": self._provenance, "agent": __version__}, {}
        if frame.kind not in ("products", "dot"):
            raise HilProtocolError(f"unknown request {frame.kind!r}", fix="use a host of the agent's approxhil version")
        config, a, b = _operands(frame, self.limits.max_pairs)
        if not self._job_lock.acquire(blocking=False):
            job = self._job
            busy = f" with a {job.kind} request of {job.peer} (for {time.monotonic() - job.started:.1f} s)" if job else ""
            raise AgentBusyError(f"the board is busy{busy}", fix="wait for that job to finish and retry (the agent runs one job at a time)")
        backend = self.backend
        try:
            self._job = _Job(peer, frame.kind, time.monotonic())
            backend.abort_check = lambda: _peer_gone(conn)
            jobs, start = backend.stats.jobs, time.perf_counter()
            try:
                out = backend.products(config, a, b) if frame.kind == "products" else backend.dot(config, a, b)
            except BaseException:
                self._recover()
                raise
            fields = {"jobs": backend.stats.jobs - jobs, "seconds": time.perf_counter() - start}
        finally:
            backend.abort_check = None
            self._job = None
            self._job_lock.release()
        return "result", fields, {"out": out}

    def _recover(self) -> None:
        try:
            self.backend.recover()
        except Exception:
            log.exception("recovering the core failed")


def _operands(frame: wire.Frame, max_pairs: int) -> tuple[str, np.ndarray, np.ndarray]:
    """The request's config and operand arrays, checked for shape and size (values: by the backend)."""
    kind = frame.kind
    config = frame.fields.get("config")
    if not isinstance(config, str):
        raise HilProtocolError(f"{kind} request without a config name", fix="name the multiplier, e.g. 3330")
    a, b = frame.arrays.get("a"), frame.arrays.get("b")
    if a is None or b is None:
        raise HilProtocolError(f"{kind} request needs arrays a and b", fix="use approxhil's remote backend")
    ndim = 1 if kind == "products" else 2
    if a.ndim != ndim or a.shape != b.shape:
        raise HilProtocolError(f"{kind} request needs two {ndim}-D arrays of one shape, got {a.shape} and {b.shape}")
    if a.size > max_pairs:
        raise HilProtocolError(
            f"{kind} request of {a.size} pairs exceeds the agent's {max_pairs} per request",
            fix="split the request (the remote backend does)",
        )
    if kind == "dot" and a.shape[1] > MAX_DOT_LEN:
        raise HilProtocolError(
            f"dot products of {a.shape[1]} pairs may overflow the core's int32 accumulator", fix=f"keep K <= {MAX_DOT_LEN}"
        )
    return config, a, b


def _peer_gone(conn: socket.socket) -> bool:
    """``True`` when the peer has closed its end (checked without consuming pipelined requests)."""
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable) and conn.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def _error_fields(exc: ApproxHilError) -> dict[str, Any]:
    return {"type": type(exc).__name__, "message": exc.message, "fix": exc.fix}


def _send_error(conn: socket.socket, exc: ApproxHilError) -> None:
    try:
        conn.settimeout(2.0)
        wire.send_frame(conn, "error", _error_fields(exc))
    except OSError:
        pass


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(values, default=str))


# ---------------------------------------------------------------------- command line
@dataclass
class AgentConfig:
    """What ``approxhil hil deploy`` writes to the board as ``agent.json``."""

    bitstream: str
    secret_file: str
    bind: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    board: str = "pynq-z2"

    @classmethod
    def load(cls, path: str | Path) -> AgentConfig:
        """Read ``agent.json``; relative paths in it are relative to its folder."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            config = cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        except (OSError, ValueError, TypeError) as exc:
            raise HilError(
                f"cannot read the agent configuration {path} ({exc})", fix="deploy again: approxhil hil deploy --board USER@HOST"
            ) from None
        config.bitstream = str(path.parent / config.bitstream)
        config.secret_file = str(path.parent / config.secret_file)
        return config

    def dumps(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m approxhil_board.agent", description="Serve the approxhil core on this board to authenticated hosts."
    )
    parser.add_argument("--config", type=Path, help="agent.json written by `approxhil hil deploy` (the options below override it)")
    parser.add_argument("--bitstream", help="the .bit to load (its .hwh beside it)")
    parser.add_argument("--secret-file", help="the deployment's secret (hex, mode 600)")
    parser.add_argument("--bind", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help=f"TCP port (default {DEFAULT_PORT})")
    parser.add_argument("--board", help="board name recorded in provenance (default pynq-z2)")
    parser.add_argument(
        "--model-core",
        metavar="CONFIGS",
        help="serve a software model of a core with these configs (exact products) instead of the board: tests and times the link",
    )
    parser.add_argument("--idle-timeout", type=float, default=Limits.idle_timeout, help="seconds an idle connection is kept")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def _open_backend(args: argparse.Namespace, config: AgentConfig) -> Backend:
    if args.model_core:
        from approxhil_board.memcore import MemoryCore

        return MemoryCore({c: None for c in args.model_core.replace(",", " ").split()})
    from approxhil_board.pynq_backend import PynqBackend

    return PynqBackend(config.bitstream, board=config.board)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    log.info("python %s, numpy %s", platform.python_version(), np.__version__)
    try:
        base = (
            AgentConfig.load(args.config)
            if args.config
            else AgentConfig(bitstream=args.bitstream or "", secret_file=args.secret_file or "")
        )
        for key in ("bitstream", "secret_file", "bind", "port", "board"):
            if getattr(args, key) is not None:
                setattr(base, key, getattr(args, key))
        if not base.secret_file or not (base.bitstream or args.model_core):
            raise HilError(
                "the agent needs a bitstream and a secret file", fix="pass --config agent.json (written by `approxhil hil deploy`)"
            )
        secret = auth.read_secret(base.secret_file)
        backend = _open_backend(args, base)
        agent = Agent(backend, secret, bind=base.bind, port=base.port, limits=Limits(idle_timeout=args.idle_timeout))
    except ApproxHilError as exc:
        log.error("%s", exc)
        return 2
    except OSError as exc:
        log.error("cannot listen on %s:%s (%s)", base.bind, base.port, exc.strerror or exc)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: agent._stop.set())
    try:
        agent.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        agent.shutdown(wait=1.0)
        backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
