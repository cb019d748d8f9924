"""Errors of the approximate layers."""

from __future__ import annotations

from approxhil.errors import ApproxHilError


class LayerError(ApproxHilError, ValueError):
    """A layer that cannot be approximated, or an input or setting a layer cannot use."""


class EngineError(ApproxHilError, RuntimeError):
    """An engine that cannot run here: not exact on this machine, not available on this device, or failing."""


class KernelError(EngineError):
    """The C kernels cannot be built, loaded or run (no compiler, a failed build, no memory)."""
