"""Errors of the approximate layers."""

from __future__ import annotations

from approxhil.errors import ApproxHilError


class LayerError(ApproxHilError, ValueError):
    """A layer that cannot be approximated, or an input or setting a layer cannot use."""

    default_fix = "check the layer's input, multiplier and settings named"
