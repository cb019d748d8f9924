"""Fitting the per-neuron error model from the behavioral simulation or from measured outputs.

The network runs with approximate outputs propagating (as the hardware would). For every approximated
layer a forward hook takes the layer's input, obtains the exact quantized output and the approximate one —
from the table engine (default) or from a measurement source such as RTL simulation or the FPGA board —
and hands both to a consumer: the float64 statistics of the fit, or a sampler of a few neurons for plots.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from approxhil.data.batches import take_samples
from approxhil.errormodel.model import ErrorModel
from approxhil.errormodel.stats import RunningStats
from approxhil.errors import ApproxHilError
from approxhil.models.fingerprint import model_fingerprint
from approxhil.nn import approx_layers, model_device


class Measure(Protocol):
    """Returns a layer's approximate pre-bias output (real units) for input ``x``, e.g. from the board."""

    def __call__(self, name: str, layer: nn.Module, x: torch.Tensor) -> torch.Tensor: ...


Consumer = Callable[[str, torch.Tensor, torch.Tensor], None]


def run_approximate(
    model: nn.Module,
    batches: Iterable,
    samples: int,
    consume: Consumer,
    measure: Measure | None = None,
    layers: Sequence[str] | None = None,
    desc: str = "fit",
    progress: bool = True,
) -> int:
    """Run ``samples`` inputs through the network with approximate outputs propagating.

    For each approximate layer (or those named in ``layers``) ``consume(name, y_exact, y_approx)`` gets the
    pre-bias outputs; ``measure`` supplies ``y_approx`` instead of the table engine. Layer modes and
    perturbations are restored afterwards. Returns the number of samples run.
    """
    all_layers = approx_layers(model, required=True)
    watched = set(all_layers if layers is None else layers)
    unknown = watched - set(all_layers)
    if unknown:
        raise ApproxHilError(f"no approximate layer named {', '.join(sorted(unknown))}", fix=f"use one of {', '.join(all_layers)}")
    saved = {name: (layer.mode, layer.output_perturbation, layer.weight_perturbation) for name, layer in all_layers.items()}

    def hook_for(name: str) -> Callable:
        def hook(layer: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
            x = inputs[0]
            y_exact, y_approx = layer.exact_and_approx(x)
            if measure is not None:
                y_approx = measure(name, layer, x).to(y_exact)
            if name in watched:
                consume(name, y_exact, y_approx)
            return layer.add_bias(y_approx)

        return hook

    handles = []
    device = model_device(model)
    was_training = model.training
    seen = 0
    try:
        for name, layer in all_layers.items():
            layer.mode = "quant"  # the hook supplies the approximate output; the layer's own pass stays cheap
            layer.output_perturbation = None
            layer.weight_perturbation = None
            handles.append(layer.register_forward_hook(hook_for(name)))
        model.eval()
        with torch.no_grad(), tqdm(total=samples, desc=desc, unit="img", disable=not progress, leave=False) as bar:
            for x, _ in take_samples(batches, samples):
                model(x.to(device))
                seen += x.shape[0]
                bar.update(x.shape[0])
    finally:
        for h in handles:
            h.remove()
        for name, layer in all_layers.items():
            layer.mode, layer.output_perturbation, layer.weight_perturbation = saved[name]
        model.train(was_training)
    return seen


def fit_error_model(
    model: nn.Module,
    batches: Iterable,
    samples: int,
    measure: Measure | None = None,
    source: str = "behavioral",
    progress: bool = True,
) -> ErrorModel:
    """Fit μ_y, σ_y, μ_ε, σ_ε, ρ for every neuron of every approximated layer on ``samples`` inputs.

    ``batches`` yields ``x`` or ``(x, label)``; ``measure`` replaces the behavioral simulation as the
    source of approximate outputs (``source`` names it in the saved model).
    """
    layers = approx_layers(model)
    stats = {name: RunningStats(name) for name in layers}
    start = time.perf_counter()
    seen = run_approximate(
        model, batches, samples, lambda n, y, ya: stats[n].update(y, ya), measure, desc=f"fit ({source})", progress=progress
    )
    if seen < samples:
        raise ApproxHilError(f"fit asked for {samples} samples but the data gave only {seen}", fix="lower the sample count")
    return ErrorModel(
        layers={name: s.finalize() for name, s in stats.items()},
        tables={name: layer.multiplier_sha256 for name, layer in layers.items()},
        fingerprint=model_fingerprint(model),
        samples=seen,
        source=source,
        meta={"fit_seconds": time.perf_counter() - start},
    )


def sample_neurons(
    model: nn.Module, batches: Iterable, samples: int, layer: str, count: int = 3, progress: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Exact outputs ``y`` and errors ``ε`` ``[samples, count]`` of ``count`` evenly spaced neurons of ``layer``."""
    ys: list[np.ndarray] = []
    es: list[np.ndarray] = []

    def keep(name: str, y: torch.Tensor, ya: torch.Tensor) -> None:
        flat_y, flat_a = y.flatten(1), ya.flatten(1)
        index = torch.linspace(0, flat_y.shape[1] - 1, min(count, flat_y.shape[1])).round().long()
        ys.append(flat_y[:, index].double().cpu().numpy())
        es.append((flat_a[:, index] - flat_y[:, index]).double().cpu().numpy())

    run_approximate(model, batches, samples, keep, layers=[layer], desc="sample", progress=progress)
    return np.concatenate(ys), np.concatenate(es)
