"""The host's end of the link: connect to an agent, prove the secret, send requests, raise its errors.

:class:`AgentClient` is torch-free like the agent, so any Python with numpy can drive a board; the
host's :class:`approxhil.hil.remote.RemoteBackend` wraps it into the backend interface.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from approxhil_board import __version__, auth, wire
from approxhil_board.errors import (
    AuthError,
    BoardUnreachableError,
    FrameError,
    HilProtocolError,
    VersionMismatchError,
    error_from_wire,
)
from approxhil_board.regs import CoreInfo

DEFAULT_PORT = 7968
DEPLOY_FIX = "deploy the agent of this host's approxhil version: approxhil hil deploy --board USER@HOST"


def parse_address(board: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT`` or ``[V6ADDR]:PORT`` as ``(host, port)``."""
    text = board.strip()
    if "@" in text:
        text = text.split("@", 1)[1]
    host, port = text, default_port
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":"):
            port = _port(rest[1:], board)
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        port = _port(port_text, board)
    if not host:
        raise BoardUnreachableError(f"no host in board address {board!r}", fix="name the board as HOST or HOST:PORT")
    return host, port


def _port(text: str, board: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise BoardUnreachableError(f"bad port in board address {board!r}", fix="name the board as HOST or HOST:PORT (port 1..65535)")
    return int(text)


@dataclass(frozen=True)
class Welcome:
    """What the agent reports after the handshake: its core, where it runs, and its limits."""

    core: CoreInfo
    provenance: dict[str, Any]
    max_body: int
    max_pairs: int
    agent_version: str


class AgentClient:
    """One authenticated connection to an agent."""

    def __init__(self, sock: socket.socket, welcome: Welcome, where: str, reply_timeout: float) -> None:
        self._sock: socket.socket | None = sock
        self.welcome = welcome
        self.where = where
        self.reply_timeout = reply_timeout

    @classmethod
    def connect(cls, host: str, port: int, secret: bytes, timeout: float = 10.0, reply_timeout: float = 600.0) -> AgentClient:
        """Connect and run the handshake; errors name the cause (unreachable, version, secret, busy)."""
        where = f"{host}:{port}"
        sock = wire.connect(host, port, timeout)
        try:
            welcome = _handshake(sock, secret, where, timeout)
        except BaseException:
            sock.close()
            raise
        return cls(sock, welcome, where, reply_timeout)

    def request(self, kind: str, fields: Mapping[str, Any] | None = None, arrays: Mapping[str, np.ndarray] | None = None) -> wire.Frame:
        """Send one request and return the agent's answer; an ``error`` answer is raised as its class."""
        self.send(kind, fields, arrays)
        return self.receive(kind)

    def send(self, kind: str, fields: Mapping[str, Any] | None = None, arrays: Mapping[str, np.ndarray] | None = None) -> None:
        """Send one request without waiting for its answer (answers come back in order)."""
        try:
            wire.send_frame(self._connected(), kind, fields, arrays)
        except OSError as exc:
            raise self._lost(kind, exc) from None

    def receive(self, kind: str = "request") -> wire.Frame:
        """The answer to the oldest request not yet answered; an ``error`` answer is raised as its class."""
        try:
            answer = wire.recv_frame(
                self._connected(), max_body=max(self.welcome.max_body, wire.DEFAULT_MAX_BODY), idle_timeout=self.reply_timeout
            )
        except (OSError, wire.PeerClosed, wire.IdleTimeout, FrameError) as exc:
            raise self._lost(kind, exc) from None
        if answer.kind == "error":
            raise _error(answer, self.where)
        return answer

    def _connected(self) -> socket.socket:
        if self._sock is None:
            raise BoardUnreachableError(f"the connection to the agent at {self.where} is closed", fix="open a new remote backend")
        return self._sock

    def _lost(self, kind: str, exc: BaseException) -> BoardUnreachableError:
        self.close(polite=False)
        return BoardUnreachableError(
            f"lost the agent at {self.where} during a {kind} request ({type(exc).__name__}: {exc})",
            fix="check the board and the agent's log (journalctl -u approxhil-agent on the board), then retry",
        )

    def close(self, polite: bool = True) -> None:
        if self._sock is None:
            return
        if polite:
            try:
                self._sock.settimeout(1.0)
                wire.send_frame(self._sock, "bye")
            except OSError:
                pass
        self._sock.close()
        self._sock = None


def _error(frame: wire.Frame, where: str) -> Exception:
    name = str(frame.fields.get("type", "HilError"))
    message = str(frame.fields.get("message", "the agent reported an error"))
    fix = frame.fields.get("fix")
    return error_from_wire(name, f"board {where}: {message}", str(fix) if fix else None)


def _handshake(sock: socket.socket, secret: bytes, where: str, timeout: float) -> Welcome:
    try:
        challenge = wire.recv_frame(sock, max_body=0, idle_timeout=timeout, stall_timeout=timeout)
    except (wire.PeerClosed, wire.IdleTimeout, OSError) as exc:
        raise BoardUnreachableError(
            f"the service at {where} did not greet as an approxhil agent ({exc})", fix="check HOST:PORT names the agent"
        ) from None
    if challenge.kind == "error":
        raise _error(challenge, where)
    protocol = challenge.fields.get("protocol")
    if challenge.kind != "challenge":
        raise HilProtocolError(
            f"the service at {where} sent {challenge.kind!r} instead of a challenge", fix="check HOST:PORT names the agent"
        )
    if protocol != wire.PROTOCOL_VERSION:
        raise VersionMismatchError(
            f"the agent at {where} speaks protocol version {protocol} (agent {challenge.fields.get('agent')}), "
            f"this host version {wire.PROTOCOL_VERSION} (approxhil {__version__})",
            fix=DEPLOY_FIX,
        )
    try:
        agent_nonce = bytes.fromhex(str(challenge.fields.get("nonce")))
    except ValueError:
        agent_nonce = b""
    if len(agent_nonce) != auth.NONCE_BYTES:
        raise HilProtocolError(f"the agent at {where} sent a malformed challenge", fix=DEPLOY_FIX)
    host_nonce = auth.new_nonce()
    proof = auth.host_proof(secret, wire.PROTOCOL_VERSION, agent_nonce, host_nonce)
    wire.send_frame(sock, "auth", {"protocol": wire.PROTOCOL_VERSION, "nonce": host_nonce.hex(), "proof": proof.hex(), "host": __version__})
    try:
        answer = wire.recv_frame(sock, max_body=0, idle_timeout=timeout, stall_timeout=timeout)
    except (wire.PeerClosed, wire.IdleTimeout, OSError) as exc:
        raise BoardUnreachableError(
            f"the agent at {where} closed the connection during the handshake ({exc})", fix="read the agent's log on the board"
        ) from None
    if answer.kind == "error":
        raise _error(answer, where)
    expected = auth.agent_proof(secret, wire.PROTOCOL_VERSION, agent_nonce, host_nonce)
    if answer.kind != "welcome" or not auth.verify(expected, answer.fields.get("proof")):
        raise AuthError(f"the agent at {where} did not prove that it holds this board's secret", fix=auth.SECRET_FIX)
    try:
        core = answer.fields["core"]
        limits = answer.fields["limits"]
        return Welcome(
            core=CoreInfo(version=int(core["version"]), lanes=int(core["lanes"]), configs=tuple(str(c) for c in core["configs"])),
            provenance=dict(answer.fields.get("provenance", {})),
            max_body=int(limits["max_body"]),
            max_pairs=int(limits["max_pairs"]),
            agent_version=str(answer.fields.get("agent", "?")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise HilProtocolError(f"the agent at {where} sent a malformed welcome ({exc})", fix=DEPLOY_FIX) from None
