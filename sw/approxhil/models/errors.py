"""Errors for networks: unknown names, bad input shapes, weight files of another network."""

from __future__ import annotations

from approxhil.errors import ApproxHilError


class ModelError(ApproxHilError, ValueError):
    """A network name, input shape, weight file or fingerprint that does not fit the network."""

    default_fix = "use a network name from `approxhil fit --help` and weights of that network"
