"""Hybrid error-model retraining: the behavioral simulation where the error model is a poor proxy.

The per-neuron Gaussian model describes a layer well when its error behaves like noise around the
fitted mean and correlation. The first convolution breaks that: it multiplies raw pixel codes (dense,
spread over the whole 8-bit range, correlated between neighbours), so its error is a deterministic,
non-Gaussian function of the image. On ResNet8 with 2222, modelling only ``conv1`` drops accuracy from
35 % (all behavioral) to 18 %, while modelling any other layer alone — the 1×1 shortcuts with 16–32
products per output included — stays within noise of it. :func:`layer_fidelity` measures this per layer (one layer modelled, the rest
behavioral, on a fixed batch); :func:`select_behavioral_layers` keeps the behavioral simulation in the
layers whose modelled loss exceeds the all-behavioral loss by more than a tolerance. Those layers are
usually few and cheap (conv1 is 3.5 % of ResNet8's MACs), so the epoch stays close to an error-model epoch.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from approxhil.data.batches import take_samples
from approxhil.data.errors import DataError
from approxhil.errormodel import ErrorModel
from approxhil.nn import approx_layers, model_device
from approxhil.train.modes import apply_mode

FIDELITY_SEED = 0


def _fixed_batch(batches: Iterable, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = list(take_samples(batches, samples))
    if not pairs or any(y is None for _, y in pairs):
        raise DataError("layer fidelity needs labelled data", fix="pass (image, label) batches")
    return torch.cat([x for x, _ in pairs]), torch.cat([y for _, y in pairs])


@torch.no_grad()
def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 250) -> float:
    torch.manual_seed(FIDELITY_SEED)  # the same noise draws for every layer compared
    total = 0.0
    for i in range(0, x.shape[0], chunk):
        total += nn.functional.cross_entropy(model(x[i : i + chunk]), y[i : i + chunk], reduction="sum").item()
    return total / x.shape[0]


def layer_fidelity(model: nn.Module, error_model: ErrorModel, batches: Iterable, samples: int = 500) -> dict[str, dict[str, float]]:
    """Per layer: the cross-entropy with only that layer modelled (rest behavioral) vs all behavioral.

    Returns ``{layer: {"loss_behavioral", "loss_modelled", "increase"}}`` with ``increase`` relative to the
    all-behavioral loss. The model is left in behavioral evaluation mode.
    """
    device = model_device(model)
    x, y = _fixed_batch(batches, samples)
    x, y = x.to(device), y.to(device)
    was_training = model.training
    model.eval()
    names = list(approx_layers(model))
    try:
        apply_mode(model, "evaluate")
        base = _loss(model, x, y)
        out = {}
        for name in names:
            apply_mode(model, "errormodel", error_model=error_model, behavioral_layers=[n for n in names if n != name])
            modelled = _loss(model, x, y)
            out[name] = {"loss_behavioral": base, "loss_modelled": modelled, "increase": (modelled - base) / max(base, 1e-12)}
    finally:
        apply_mode(model, "evaluate")
        model.train(was_training)
    return out


def select_behavioral_layers(fidelity: dict[str, dict[str, float]], tolerance: float) -> tuple[str, ...]:
    """Layers whose modelled loss exceeds the all-behavioral loss by more than ``tolerance`` (relative;
    validated with the other settings in :class:`~approxhil.train.config.RetrainConfig`)."""
    return tuple(name for name, f in fidelity.items() if f["increase"] > tolerance)
