"""Model fingerprints: checkpoints and fitted error models refuse a network of another shape.

The fingerprint hashes the architecture name and every parameter's name and shape (not the
values): training changes values, not the fingerprint, and an approximated model (whose layers
subclass ``nn.Conv2d``/``nn.Linear`` and keep their parameters) has the fingerprint of its float model.
"""

from __future__ import annotations

import hashlib
import json

from torch import nn

from approxhil.models.errors import ModelError


def architecture(model: nn.Module) -> str:
    """The registry name of the model's architecture (``model.arch``), else its class name."""
    return str(getattr(model, "arch", type(model).__name__))


def model_signature(model: nn.Module) -> dict:
    """What the fingerprint hashes: ``{"arch": name, "params": [[name, shape], ...]}`` in module order."""
    return {
        "arch": architecture(model),
        "params": [[name, list(p.shape)] for name, p in model.named_parameters()],
    }


def model_fingerprint(model: nn.Module) -> str:
    """``<arch>-<first 16 hex digits of the sha256 of the signature>``, e.g. ``resnet8-3f2a...``."""
    text = json.dumps(model_signature(model), separators=(",", ":"))
    return f"{architecture(model)}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def check_fingerprint(model: nn.Module, expected: str, what: str = "this file") -> None:
    """Raise :class:`ModelError` when ``expected`` (recorded in ``what``) is not the model's fingerprint."""
    actual = model_fingerprint(model)
    if actual != expected:
        raise ModelError(
            f"{what} was made for network {expected}, not for this {actual}",
            fix="build the network the file was made for (same architecture and number of classes)",
        )
