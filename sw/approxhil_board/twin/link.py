"""The emulated Zynq's link to the simulated fabric: register and stream operations as frames.

Operations (request kind, answered with ``ok`` and fields/arrays, or ``error``):
``reset`` (the fabric's power-on reset), ``write``/``read`` (``addr``, ``value``: the core's AXI4-Lite
port), ``mm2s`` (array ``data``: one stream frame into the core, ``tlast`` on its last beat),
``s2mm`` (``hang``: arm the receive channel, or leave it stalled), ``run`` (``cycles``: advance the
clock until both pending channels finish or the cycles are spent; answers ``mm2s_done``,
``s2mm_done`` and array ``data`` once a frame arrived), ``dma_reset`` (drop both streams), ``quit``.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import numpy as np

from approxhil_board import wire

#: Environment variable naming the Unix socket the fabric listens on (set by the twin's launcher).
FABRIC_ENV = "APPROXHIL_TWIN_FABRIC"


class FabricError(RuntimeError):
    """The simulated fabric is gone or refused an operation."""


class FabricLink:
    """A connection to the simulator serving the fabric (retried while the simulator starts)."""

    def __init__(self, path: str, connect_timeout: float = 60.0) -> None:
        deadline = time.monotonic() + connect_timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
                break
            except OSError as exc:
                sock.close()
                if time.monotonic() > deadline:
                    raise FabricError(f"no simulated fabric at {path} ({exc})") from None
                time.sleep(0.05)
        self._sock: socket.socket | None = sock

    def call(self, op: str, arrays: dict[str, np.ndarray] | None = None, **fields: Any) -> wire.Frame:
        if self._sock is None:
            raise FabricError("the link to the simulated fabric is closed")
        try:
            wire.send_frame(self._sock, op, fields, arrays)
            answer = wire.recv_frame(self._sock, max_body=1 << 30, idle_timeout=600.0, stall_timeout=600.0)
        except (OSError, wire.FrameError, wire.PeerClosed, wire.IdleTimeout) as exc:
            self.close()
            raise FabricError(f"lost the simulated fabric during {op} ({exc})") from None
        if answer.kind != "ok":
            raise FabricError(f"the simulated fabric refused {op}: {answer.fields.get('message')}")
        return answer

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
