"""The toolkit's error hierarchy: its root, and the errors of the board, the agent and the link to it.

:class:`ApproxHilError` is the root of every error a user can hit in approxhil (``approxhil.errors``
re-exports it), so the command line catches board errors like any other and prints them as one line
with their ``fix``. The agent sends errors to the host by class name (:data:`BY_NAME`); the host
raises the same class with the same message and fix.
"""

from __future__ import annotations


class ApproxHilError(Exception):
    """Base error; ``fix`` is a short instruction the CLI prints after the message.

    Each subclass has a ``default_fix`` for raises that name no better one, so every error a user
    sees says what to do next.
    """

    default_fix = "see `approxhil --help` for the accepted values"

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix if fix is not None else self.default_fix

    def __str__(self) -> str:
        return self.message if not self.fix else f"{self.message} (fix: {self.fix})"


class ToolMissingError(ApproxHilError, RuntimeError):
    """An external tool (simulator, Yosys, Vivado, a board, pynq) that is not available."""

    default_fix = "run `make install` (or install the tool named)"


class HilError(ApproxHilError, RuntimeError):
    """A measurement on the accelerator (board or simulated board) that cannot be done or trusted."""

    default_fix = "check the backend named (approxhil hil info shows what it reports)"


class HilTimeoutError(HilError):
    """A DMA transfer (send or receive) that did not complete in time."""


class HilProtocolError(HilError):
    """The core answered, but not as the protocol demands (wrong length, error flags, wrong identity)."""


class BitstreamError(HilError):
    """A bitstream or ``.hwh`` file that is missing or lacks the accelerator or its DMA."""


class FrameError(HilProtocolError):
    """A frame on the host-agent link that is malformed, too large, truncated or stalled."""

    default_fix = "use an approxhil host and agent of the same version (approxhil hil deploy installs the host's)"


class BoardUnreachableError(HilError):
    """The agent's address cannot be reached, or the connection to it was lost."""

    default_fix = "check that the board is on and reachable and that its agent runs (approxhil hil deploy --board USER@HOST starts it)"


class AuthError(HilError):
    """The host and the agent do not share the deployment's secret (or a proof was replayed)."""

    default_fix = "use the secret file `approxhil hil deploy` wrote for this board (--secret-file), or deploy again"


class VersionMismatchError(HilError):
    """Host and agent disagree on the protocol version, the bitstream or the core's parameters."""

    default_fix = "deploy what this host expects: approxhil hil deploy --board USER@HOST [--bitstream FILE.bit]"


class AgentBusyError(HilError):
    """The agent is running another host's job (it runs one job at a time)."""

    default_fix = "wait for the running job to finish and retry"


#: Errors that cross the link by name; anything else arrives as a :class:`HilError`.
BY_NAME = {
    cls.__name__: cls
    for cls in (
        HilError,
        HilTimeoutError,
        HilProtocolError,
        BitstreamError,
        FrameError,
        BoardUnreachableError,
        AuthError,
        VersionMismatchError,
        AgentBusyError,
        ToolMissingError,
    )
}


def error_from_wire(name: str, message: str, fix: str | None) -> ApproxHilError:
    """The error the agent reported, as the class it named (a :class:`HilError` for unknown names)."""
    return BY_NAME.get(name, HilError)(message, fix=fix)
