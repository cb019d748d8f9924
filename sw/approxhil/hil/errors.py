"""Errors of the hardware-in-the-loop stage: no board, a wrong bitstream, DMA time-outs, protocol faults."""

from __future__ import annotations

from approxhil.errors import ApproxHilError


class HilError(ApproxHilError, RuntimeError):
    """A measurement on the accelerator (board or simulated board) that cannot be done or trusted."""

    default_fix = "check the backend named (approxhil hil info shows what it reports)"


class HilTimeoutError(HilError):
    """A DMA transfer (send or receive) that did not complete in time."""


class HilProtocolError(HilError):
    """The core answered, but not as the protocol demands (wrong length, error flags, wrong identity)."""


class BitstreamError(HilError):
    """A bitstream or ``.hwh`` file that is missing or lacks the accelerator or its DMA."""
