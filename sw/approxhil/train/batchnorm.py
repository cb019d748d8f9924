"""Re-estimating BatchNorm statistics under the approximate arithmetic (forward passes only).

During retraining the BatchNorm running statistics follow whatever the layers computed in training
mode: with the error model that is the exact output plus sampled noise, not the behavioral output the
network is evaluated with. A few forward passes in behavioral mode re-estimate them for the real
multiplier at the cost of a fraction of one behavioral epoch's forward passes (no backward).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

from approxhil.data.batches import take_samples
from approxhil.data.errors import DataError
from approxhil.nn import model_device
from approxhil.train.modes import apply_mode

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable, samples: int, mode: str = "evaluate", progress: bool = False) -> int:
    """Reset every BatchNorm's running statistics and re-estimate them on ``samples`` inputs in ``mode``.

    Uses a cumulative average over the batches (``momentum=None``), then restores each layer's momentum
    and the model's train/eval state. Returns the number of samples seen.
    """
    norms = [m for m in model.modules() if isinstance(m, _NORMS)]
    if not norms:
        return 0
    apply_mode(model, mode)
    momenta = [m.momentum for m in norms]
    was_training = model.training
    device = model_device(model)
    seen = 0
    try:
        for m in norms:
            m.reset_running_stats()
            m.momentum = None
        model.train()
        for x, _ in tqdm(take_samples(batches, samples), desc="BatchNorm recalibration", unit="batch", disable=not progress, leave=False):
            model(x.to(device))
            seen += x.shape[0]
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.train(was_training)
    if seen == 0:
        raise DataError("BatchNorm recalibration saw no data", fix="pass a non-empty data set and samples >= 1")
    return seen
