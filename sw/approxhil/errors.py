"""Errors the toolkit raises for bad input: each names the problem and, where one exists, the fix."""

from __future__ import annotations

# One hierarchy for host and board: the root (and the missing-tool error the board raises too) live in
# the torch-free board package, so `except ApproxHilError` also catches what the board and agent raise.
from approxhil_board.errors import ApproxHilError, ToolMissingError

__all__ = ["ApproxHilError", "ConfigError", "SpecError", "TableError", "ToolFailedError", "ToolMissingError"]


class SpecError(ApproxHilError, ValueError):
    """A multiplier name or configuration that does not parse."""

    default_fix = "name a multiplier as four design digits (e.g. 3330), a 4x4 design (4x4-2) or a table file (.npz)"


class ConfigError(ApproxHilError, ValueError):
    """A setting out of its range (retraining, experiments, baselines, demo)."""

    default_fix = "correct the setting named"


class TableError(ApproxHilError, ValueError):
    """A truth table that is corrupt, mismatched or of the wrong shape, dtype, range or encoding."""

    default_fix = "check the table file, or export or import it again (`approxhil tables export|import`)"


class ToolFailedError(ApproxHilError, RuntimeError):
    """An external tool that ran and failed (compile error, time-out)."""

    default_fix = "read the tool's message and log named above"
