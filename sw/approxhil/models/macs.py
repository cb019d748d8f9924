"""Multiply-accumulate counts of the Conv2d and Linear layers, measured with forward hooks.

Counting hooks see the real output shapes, so padding, stride, groups and any model structure are
handled without a per-architecture formula. Approximate layers subclass ``nn.Conv2d``/``nn.Linear``
and are counted the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from approxhil.models.errors import ModelError


def _layer_macs(module: nn.Module, output: torch.Tensor) -> int:
    per_output = output[0].numel()  # one image
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return per_output * (module.in_channels // module.groups) * kh * kw
    return per_output * module.in_features  # nn.Linear


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> dict:
    """MACs per input for inputs of shape ``(C, H, W)`` (or ``(features,)``).

    A shape of 4 (or 2) dimensions is read as a batch shape ``(N, C, H, W)`` (``(N, features)``);
    the counts are per input all the same. Returns ``{"layers": {name: macs}, "total": macs}`` over every ``nn.Conv2d`` and ``nn.Linear``,
    in execution order. Runs one forward pass in eval mode without gradients on the model's device,
    and restores the training flag; a shared module called twice is counted twice.
    """
    shape = tuple(int(s) for s in input_shape)
    if not shape or any(s <= 0 for s in shape):
        raise ModelError(f"input shape must be the shape of one input, e.g. (3, 32, 32), got {tuple(input_shape)}")
    if len(shape) in (2, 4):
        shape = shape[1:]
    names = {module: name for name, module in model.named_modules()}
    layers: dict[str, int] = {}

    def hook(module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        name = names[module]
        layers[name] = layers.get(name, 0) + _layer_macs(module, output)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, *shape), device=device))
    except RuntimeError as exc:
        raise ModelError(f"input shape {shape} does not fit the model ({exc})") from None
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return {"layers": layers, "total": sum(layers.values())}
