"""Errors the toolkit raises for bad input: each names the problem and, where one exists, the fix."""

from __future__ import annotations


class ApproxHilError(Exception):
    """Base error; ``fix`` is a short instruction the CLI prints after the message."""

    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return self.message if not self.fix else f"{self.message} (fix: {self.fix})"


class SpecError(ApproxHilError, ValueError):
    """A multiplier name or configuration that does not parse."""


class ConfigError(ApproxHilError, ValueError):
    """A setting out of its range (retraining, experiments, baselines, demo)."""


class TableError(ApproxHilError, ValueError):
    """A truth table that is corrupt, mismatched or of the wrong shape, dtype, range or encoding."""


class ToolMissingError(ApproxHilError, RuntimeError):
    """An external tool (simulator, Yosys, Vivado, a board) that is not available."""


class ToolFailedError(ApproxHilError, RuntimeError):
    """An external tool that ran and failed (compile error, time-out)."""
