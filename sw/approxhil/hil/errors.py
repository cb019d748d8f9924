"""Errors of the hardware-in-the-loop stage.

The errors of the board, the agent and the link are defined in the torch-free board package (they
cross the link by name); this module adds the host-only ones and re-exports the rest for host code.
"""

from __future__ import annotations

from approxhil_board.errors import (
    AgentBusyError,
    AuthError,
    BitstreamError,
    BoardUnreachableError,
    FrameError,
    HilError,
    HilProtocolError,
    HilTimeoutError,
    VersionMismatchError,
)

__all__ = [
    "AgentBusyError",
    "AuthError",
    "BitstreamError",
    "BoardUnreachableError",
    "DeployError",
    "FrameError",
    "HilError",
    "HilProtocolError",
    "HilTimeoutError",
    "VersionMismatchError",
]


class DeployError(HilError):
    """A step of ``approxhil hil deploy`` that failed (ssh, copying, installing, starting the agent)."""

    default_fix = "read the failed step's message; `approxhil hil deploy --help` lists the options"
