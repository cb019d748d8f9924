"""Errors the toolkit raises for bad input: each names the problem and, where one exists, the fix."""

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


class SpecError(ApproxHilError, ValueError):
    """A multiplier name or configuration that does not parse."""

    default_fix = "name a multiplier as four design digits (e.g. 3330), a 4x4 design (4x4-2) or a table file (.npz)"


class ConfigError(ApproxHilError, ValueError):
    """A setting out of its range (retraining, experiments, baselines, demo)."""

    default_fix = "correct the setting named"


class TableError(ApproxHilError, ValueError):
    """A truth table that is corrupt, mismatched or of the wrong shape, dtype, range or encoding."""

    default_fix = "check the table file, or export or import it again (`approxhil tables export|import`)"


class ToolMissingError(ApproxHilError, RuntimeError):
    """An external tool (simulator, Yosys, Vivado, a board) that is not available."""

    default_fix = "run `make install` (or install the tool named)"


class ToolFailedError(ApproxHilError, RuntimeError):
    """An external tool that ran and failed (compile error, time-out)."""

    default_fix = "read the tool's message and log named above"
