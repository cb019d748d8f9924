"""Fitting the per-neuron error model from the behavioral simulation or from measured outputs.

The network runs with approximate outputs propagating (as the hardware would). For every approximated
layer a forward hook takes the layer's input, obtains the exact quantized output and the approximate one —
from the table engine (default) or from a measurement source such as RTL simulation or the FPGA board —
and accumulates per-neuron statistics in float64.
"""

from __future__ import annotations

import time
from typing import Callable, Iterable, Protocol

import torch
from torch import nn
from tqdm.auto import tqdm

from approxhil.errormodel.model import ErrorModel
from approxhil.errormodel.stats import RunningStats
from approxhil.errors import ApproxHilError
from approxhil.nn import approx_layers


class Measure(Protocol):
    """Returns a layer's approximate pre-bias output (real units) for input ``x``, e.g. from the board."""

    def __call__(self, name: str, layer: nn.Module, x: torch.Tensor) -> torch.Tensor: ...


def add_bias(layer: nn.Module, y: torch.Tensor) -> torch.Tensor:
    """``y + bias`` broadcast over the channel dimension of a conv or linear output."""
    bias = getattr(layer, "bias", None)
    if bias is None:
        return y
    return y + bias.view(1, -1, *([1] * (y.dim() - 2)))


def fit_error_model(
    model: nn.Module,
    batches: Iterable,
    samples: int,
    fingerprint: str,
    measure: Measure | None = None,
    source: str = "behavioral",
    progress: bool = True,
) -> ErrorModel:
    """Fit μ_y, σ_y, μ_ε, σ_ε, ρ for every neuron of every approximated layer on ``samples`` inputs.

    ``batches`` yields ``x`` or ``(x, label)``; ``measure`` replaces the behavioral simulation as the
    source of approximate outputs (``source`` names it in the saved model).
    """
    layers = approx_layers(model)
    if not layers:
        raise ApproxHilError("the model has no approximate layers to fit", fix="convert it with approxhil.nn.approximate()")
    stats = {name: RunningStats(name) for name in layers}
    saved = {name: (layer.mode, layer.output_perturbation, layer.weight_perturbation) for name, layer in layers.items()}

    def hook_for(name: str) -> Callable:
        def hook(layer: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
            x = inputs[0]
            y_exact, y_approx = layer.exact_and_approx(x)
            if measure is not None:
                y_approx = measure(name, layer, x).to(y_exact)
            stats[name].update(y_exact, y_approx)
            return add_bias(layer, y_approx)

        return hook

    handles = []
    was_training = model.training
    start = time.perf_counter()
    seen = 0
    try:
        for name, layer in layers.items():
            layer.mode = "quant"  # the hook supplies the approximate output; the layer's own pass stays cheap
            layer.output_perturbation = None
            layer.weight_perturbation = None
            handles.append(layer.register_forward_hook(hook_for(name)))
        model.eval()
        bar = tqdm(total=samples, desc=f"fit ({source})", unit="img", disable=not progress, leave=False)
        with torch.no_grad():
            for batch in batches:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                x = x[: samples - seen]
                model(x)
                seen += x.shape[0]
                bar.update(x.shape[0])
                if seen >= samples:
                    break
        bar.close()
    finally:
        for h in handles:
            h.remove()
        for name, layer in layers.items():
            layer.mode, layer.output_perturbation, layer.weight_perturbation = saved[name]
        model.train(was_training)
    if seen < samples:
        raise ApproxHilError(f"fit asked for {samples} samples but the data gave only {seen}", fix="lower --samples")
    return ErrorModel(
        layers={name: s.finalize() for name, s in stats.items()},
        tables={name: layer.table_sha256 for name, layer in layers.items()},
        fingerprint=fingerprint,
        samples=seen,
        source=source,
        meta={"fit_seconds": time.perf_counter() - start},
    )
