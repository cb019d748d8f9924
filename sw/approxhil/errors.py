"""Errors the toolkit raises for bad input: each names the problem and, where one exists, the fix."""

from __future__ import annotations

# One hierarchy for host and board: the root (and the missing-tool error the board raises too) live in
# the torch-free board package, so `except ApproxHilError` also catches what the board and agent raise.
from approxhil_board.errors import ApproxHilError, ToolMissingError

__all__ = ["ApproxHilError", "SpecError", "TableError", "ToolFailedError", "ToolMissingError"]


class SpecError(ApproxHilError, ValueError):
    """A multiplier name or configuration that does not parse."""


class TableError(ApproxHilError, ValueError):
    """A truth table that is corrupt, mismatched or of the wrong shape, dtype, range or encoding."""


class ToolFailedError(ApproxHilError, RuntimeError):
    """An external tool that ran and failed (compile error, time-out)."""
