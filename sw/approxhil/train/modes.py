"""Putting a converted network into a retraining mode, and back into the behavioral evaluation mode."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from torch import nn

from approxhil.errormodel import AWGN, ErrorInjection, ErrorModel, WeightNoise
from approxhil.metrics import error_metrics
from approxhil.models.fingerprint import model_fingerprint
from approxhil.nn import approx_layers
from approxhil.train.config import MODES, ConfigError


def _table_relative_error(layer: nn.Module) -> tuple[float, float]:
    """Mean and std of the signed relative error of the layer's table (weight-noise baseline)."""
    table = layer.table.cpu().numpy()
    ops = np.arange(-128, 128)
    m = error_metrics(table, np.outer(ops, ops), ops, ops, mre_n=128)
    return m["mean_rel_error"], m["std_rel_error"]


#: Every retraining mode, and ``evaluate`` (the behavioral simulation without perturbation).
APPLICABLE = (*MODES, "evaluate")


def apply_mode(
    model: nn.Module, mode: str, error_model: ErrorModel | None = None, snr_db: float = 20.0, behavioral_layers: Iterable[str] = ()
) -> None:
    """Configure every approximate layer for ``mode`` (see :data:`approxhil.train.config.MODES`).

    ``evaluate`` is the behavioral simulation with no perturbation: how every final accuracy is measured.
    In ``errormodel`` mode the layers named in ``behavioral_layers`` run the behavioral simulation instead
    of the error model (hybrid retraining, :mod:`approxhil.train.hybrid`).
    """
    if mode not in APPLICABLE:
        raise ConfigError(f"unknown mode {mode!r}", fix=f"use one of: {', '.join(APPLICABLE)}")
    layers = approx_layers(model, required=True)
    keep = set(behavioral_layers)
    if keep - set(layers):
        raise ConfigError(f"no approximate layer named {', '.join(sorted(keep - set(layers)))}", fix=f"use names of: {', '.join(layers)}")
    if mode == "errormodel":
        if error_model is None:
            raise ConfigError("mode errormodel needs a fitted error model", fix="run `approxhil fit` first")
        error_model.check_matches(model_fingerprint(model), {n: layer.multiplier_sha256 for n, layer in layers.items()})
    for name, layer in layers.items():
        layer.output_perturbation = None
        layer.weight_perturbation = None
        if mode in ("behavioral", "evaluate"):
            layer.mode = "behavioral"
        elif mode in ("quant", "none"):
            layer.mode = "quant"
        elif mode == "errormodel" and name in keep:
            layer.mode = "behavioral"
        elif mode == "errormodel":
            layer.mode = "quant"
            layer.output_perturbation = ErrorInjection(error_model.layers[name]).to(layer.weight.device)
        elif mode == "baseline":
            layer.mode = "quant"
            layer.weight_perturbation = WeightNoise(*_table_relative_error(layer))
        else:  # awgn
            layer.mode = "quant"
            layer.output_perturbation = AWGN(snr_db)
