"""Frames of the host-agent link: a small JSON header and raw numpy arrays, length-prefixed.

A frame is a fixed prefix (``AHIL``, header length, body length), a UTF-8 JSON header
``{"kind": ..., "fields": {...}, "arrays": [[name, dtype, shape, offset], ...]}`` and a body holding
the arrays' bytes (each at an 8-byte aligned offset). Nothing is pickled: a frame can carry only
strings, numbers and arrays of the integer and boolean dtypes in :data:`DTYPES`. A receiver checks
every length against its limits before allocating, and refuses a frame that does not describe
itself exactly (:class:`~approxhil_board.errors.FrameError`). Arrays arrive as views of one buffer
per frame, without copies.

The same frames carry the twin's fabric link (:mod:`approxhil_board.twin`) over a Unix socket.
"""

from __future__ import annotations

import json
import math
import socket
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from approxhil_board.errors import BoardUnreachableError, FrameError

#: Version of the link protocol (frames, handshake, requests); both ends must speak the same one.
PROTOCOL_VERSION = 1
MAGIC = b"AHIL"
PREFIX = struct.Struct("<4sIQ")
MAX_HEADER_BYTES = 1 << 16
#: Default largest body a receiver accepts (the agent advertises its own limit).
DEFAULT_MAX_BODY = 64 << 20
ALIGN = 8
#: dtypes a frame may carry (little-endian integers and booleans).
DTYPES = frozenset({"|i1", "|u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "|b1"})
MAX_NDIM = 4
MAX_ARRAYS = 16


class PeerClosed(BoardUnreachableError):
    """The peer closed the connection between frames (a clean end)."""


class IdleTimeout(BoardUnreachableError):
    """No frame started within the idle time-out."""


@dataclass
class Frame:
    """One received (or to be sent) message: its kind, JSON fields and named arrays."""

    kind: str
    fields: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def _dtype_str(arr: np.ndarray) -> str:
    text = arr.dtype.str
    if text not in DTYPES:
        raise FrameError(f"arrays of dtype {arr.dtype} cannot be sent", fix="send integer or boolean arrays")
    return text


def encode(kind: str, fields: Mapping[str, Any] | None = None, arrays: Mapping[str, np.ndarray] | None = None) -> list[memoryview | bytes]:
    """The buffers of one frame (prefix + header, then each array and its padding), ready to send."""
    described: list[list[Any]] = []
    parts: list[memoryview | bytes] = []
    offset = 0
    for name, value in (arrays or {}).items():
        arr = np.ascontiguousarray(value)
        pad = -offset % ALIGN
        if pad:
            parts.append(bytes(pad))
            offset += pad
        described.append([name, _dtype_str(arr), list(arr.shape), offset])
        if arr.nbytes:
            parts.append(memoryview(arr.reshape(-1).view(np.uint8)))
        offset += arr.nbytes
    header = json.dumps({"kind": kind, "fields": dict(fields or {}), "arrays": described}, separators=(",", ":")).encode()
    if len(header) > MAX_HEADER_BYTES:
        raise FrameError(f"frame header of {len(header)} bytes exceeds {MAX_HEADER_BYTES}")
    return [PREFIX.pack(MAGIC, len(header), offset) + header, *parts]


def send_frame(
    sock: socket.socket, kind: str, fields: Mapping[str, Any] | None = None, arrays: Mapping[str, np.ndarray] | None = None
) -> int:
    """Send one frame; returns the bytes sent."""
    total = 0
    for part in encode(kind, fields, arrays):
        sock.sendall(part)
        total += len(part) if isinstance(part, bytes) else part.nbytes
    return total


def _recv_into(sock: socket.socket, view: memoryview, stall_timeout: float | None, what: str) -> None:
    """Fill ``view`` from ``sock``; a peer that closes or sends nothing for ``stall_timeout`` s is an error."""
    got = 0
    sock.settimeout(stall_timeout)
    while got < len(view):
        try:
            n = sock.recv_into(view[got:], min(len(view) - got, 1 << 22))
        except TimeoutError:
            raise FrameError(
                f"the peer stalled for {stall_timeout:.0f} s in the middle of a frame ({what}: {got} of {len(view)} bytes)"
            ) from None
        if n == 0:
            raise FrameError(f"truncated frame: the peer closed the connection after {got} of {len(view)} bytes of the {what}")
        got += n


def recv_frame(
    sock: socket.socket, max_body: int = DEFAULT_MAX_BODY, idle_timeout: float | None = None, stall_timeout: float | None = 30.0
) -> Frame:
    """Receive one frame. :class:`PeerClosed` at a clean end, :class:`IdleTimeout` when none starts in time.

    :class:`FrameError` for anything malformed: a wrong magic, lengths over the limits, a header that
    is not the expected JSON, arrays that do not tile the body, a peer that stalls or closes mid-frame.
    """
    prefix = bytearray(PREFIX.size)
    view = memoryview(prefix)
    sock.settimeout(idle_timeout)
    try:
        first = sock.recv_into(view, PREFIX.size)
    except TimeoutError:
        raise IdleTimeout(f"no request for {idle_timeout:.0f} s") from None
    except ConnectionResetError:
        raise PeerClosed("the peer reset the connection") from None
    if first == 0:
        raise PeerClosed("the peer closed the connection")
    _recv_into(sock, view[first:], stall_timeout, "frame prefix")
    magic, header_len, body_len = PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise FrameError(
            f"not an approxhil frame (magic {bytes(magic)!r}, expected {MAGIC!r})",
            fix="connect an approxhil host to an approxhil agent of the same version",
        )
    if header_len > MAX_HEADER_BYTES:
        raise FrameError(f"frame header of {header_len} bytes exceeds the limit of {MAX_HEADER_BYTES}")
    if body_len > max_body:
        raise FrameError(
            f"frame of {body_len} bytes exceeds the limit of {max_body} bytes",
            fix="split the request (the remote backend does, with the limit the agent announces)",
        )
    header = bytearray(header_len)
    _recv_into(sock, memoryview(header), stall_timeout, "frame header")
    body = bytearray(body_len)
    if body_len:
        _recv_into(sock, memoryview(body), stall_timeout, "frame body")
    return _decode(bytes(header), body)


def _decode(header: bytes, body: bytearray) -> Frame:
    try:
        meta = json.loads(header.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FrameError(f"frame header is not JSON ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("kind"), str) or not isinstance(meta.get("fields", {}), dict):
        raise FrameError("frame header lacks its kind or fields")
    described = meta.get("arrays", [])
    if not isinstance(described, list) or len(described) > MAX_ARRAYS:
        raise FrameError(f"frame header must list at most {MAX_ARRAYS} arrays")
    arrays: dict[str, np.ndarray] = {}
    end = 0
    for item in described:
        name, dtype, shape, offset = _array_entry(item)
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        if offset < end or offset - end >= ALIGN or offset + nbytes > len(body) or name in arrays:
            raise FrameError(f"array {name!r} does not fit the frame body (offset {offset}, {nbytes} bytes, body {len(body)})")
        count = math.prod(shape)
        arrays[name] = np.frombuffer(body, dtype=dtype, count=count, offset=offset).reshape(shape) if count else np.zeros(shape, dtype)
        end = offset + nbytes
    if len(body) - end >= ALIGN or (not described and body):
        raise FrameError(f"frame body has {len(body) - end} bytes no array describes")
    return Frame(meta["kind"], meta.get("fields", {}), arrays)


def _array_entry(item: Any) -> tuple[str, str, tuple[int, ...], int]:
    ok = isinstance(item, list) and len(item) == 4
    if ok:
        name, dtype, shape, offset = item
        ok = (
            isinstance(name, str)
            and 0 < len(name) <= 64
            and dtype in DTYPES
            and isinstance(shape, list)
            and len(shape) <= MAX_NDIM
            and all(type(s) is int and 0 <= s < 1 << 40 for s in shape)
            and type(offset) is int
            and offset >= 0
        )
    if not ok:
        raise FrameError(f"malformed array entry in frame header: {str(item)[:80]}")
    return name, dtype, tuple(shape), offset


def connect(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to ``host:port`` (no Nagle delay); :class:`BoardUnreachableError` names the cause."""
    start = time.monotonic()
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        reason = "timed out" if isinstance(exc, socket.timeout) else (exc.strerror or type(exc).__name__)
        raise BoardUnreachableError(
            f"cannot reach the agent at {host}:{port} ({reason}, after {time.monotonic() - start:.1f} s)",
            fix="check that the board is on and reachable, and that the agent runs (`approxhil hil deploy --board USER@HOST` starts it)",
        ) from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock
