"""How the host hands jobs to the simulated board and gets results back: length-prefixed ``.npz`` messages.

The simulator process connects to a Unix socket that :class:`~approxhil.hil.sim.SimBackend` listens on.
Messages are numpy archives (no pickle), so nothing but arrays and integers cross the socket.
"""

from __future__ import annotations

import io
import socket
import struct

import numpy as np
from approxhil_board.protocol import Job, JobResult

_HEADER = struct.Struct("<Q")
#: Environment variables of the simulated board: the socket to connect to, and the probability
#: (and seed) of a stalled cycle on each stream, to exercise the AXI handshakes.
ADDRESS_ENV = "APPROXHIL_HIL_SOCKET"
STALL_ENV = "APPROXHIL_HIL_STALL"
SEED_ENV = "APPROXHIL_HIL_SEED"


def send_msg(sock: socket.socket, data: bytes) -> None:
    """Send one message (length prefix + bytes)."""
    sock.sendall(_HEADER.pack(len(data)) + data)


def recv_msg(sock: socket.socket) -> bytes | None:
    """Receive one message; ``None`` when the peer closed the connection."""
    header = _recv_exact(sock, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    return _recv_exact(sock, size) if size else b""


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < size:
        chunk = sock.recv(min(size - len(buf), 1 << 20))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _pack(**arrays: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def _unpack(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def encode_job(job: Job, timeout_cycles: int) -> bytes:
    """A job for the simulated board; ``timeout_cycles`` bounds each stream phase in clock cycles."""
    return _pack(
        writes=np.asarray(job.writes, dtype=np.int64).reshape(-1, 2),
        payload=job.payload,
        reads=np.asarray(job.reads, dtype=np.int64),
        out_bytes=np.int64(job.out_bytes),
        stream=np.bool_(job.streams),
        timeout_cycles=np.int64(timeout_cycles),
    )


def encode_quit() -> bytes:
    return _pack(quit=np.bool_(True))


def decode_job(data: bytes) -> dict:
    """The simulated board's view of a job: plain Python values, or ``{"quit": True}``."""
    arrays = _unpack(data)
    if "quit" in arrays:
        return {"quit": True}
    return {
        "writes": [(int(o), int(v)) for o, v in arrays["writes"]],
        "payload": arrays["payload"].tobytes(),
        "reads": [int(r) for r in arrays["reads"]],
        "out_bytes": int(arrays["out_bytes"]),
        "stream": bool(arrays["stream"]),
        "timeout_cycles": int(arrays["timeout_cycles"]),
    }


def encode_result(output: bytes, reads: dict[int, int], send_done: bool, recv_done: bool, cycles: int) -> bytes:
    return _pack(
        output=np.frombuffer(output, dtype=np.uint8),
        read_addr=np.asarray(list(reads), dtype=np.int64),
        read_value=np.asarray(list(reads.values()), dtype=np.int64),
        send_done=np.bool_(send_done),
        recv_done=np.bool_(recv_done),
        cycles=np.int64(cycles),
    )


def decode_result(data: bytes) -> JobResult:
    arrays = _unpack(data)
    return JobResult(
        output=arrays["output"].copy(),
        reads={int(a): int(v) for a, v in zip(arrays["read_addr"], arrays["read_value"])},
        send_done=bool(arrays["send_done"]),
        recv_done=bool(arrays["recv_done"]),
        extra={"cycles": int(arrays["cycles"])},
    )
