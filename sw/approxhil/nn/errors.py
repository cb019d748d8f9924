"""Errors of the approximate layers."""

from __future__ import annotations

from approxhil.errors import ApproxHilError


class LayerError(ApproxHilError, ValueError):
    """A layer that cannot be approximated, or an input or setting a layer cannot use."""

    default_fix = "check the layer's input, multiplier and settings named"


class EngineError(ApproxHilError, RuntimeError):
    """An engine that cannot run here: not exact on this machine, not available on this device, or failing."""

    default_fix = "use engine='auto' (it picks an exact engine that runs here)"


class KernelError(EngineError):
    """The C kernels cannot be built, loaded or run (no compiler, a failed build, no memory)."""
