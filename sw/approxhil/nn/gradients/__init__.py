"""Gradients that know the multiplier: table-derived backward passes for behavioral retraining.

:mod:`.estimators` turns a table into gradient tables (``ste``, ``lut-diff``, ``lut-1d``); :mod:`.backward`
computes a layer's backward pass with them on any device. :func:`set_gradient` chooses the estimator
of every approximate layer of a model; it applies where a layer runs the behavioral simulation.
"""

from __future__ import annotations

import threading

import numpy as np
from torch import nn

from approxhil.nn.gradients.backward import BACKENDS, GradientPlan, backend_for, split, table_backward
from approxhil.nn.gradients.estimators import (
    DEFAULT_EDGE,
    DEFAULT_WINDOW,
    EDGES,
    ESTIMATORS,
    MAX_WINDOW,
    STE,
    Gradient,
    diff_tables,
    gradient_problems,
    gradient_tables,
    slope_tables,
)
from approxhil.tables import table_sha256

__all__ = [
    "BACKENDS",
    "DEFAULT_EDGE",
    "DEFAULT_WINDOW",
    "EDGES",
    "ESTIMATORS",
    "MAX_WINDOW",
    "STE",
    "Gradient",
    "GradientPlan",
    "backend_for",
    "diff_tables",
    "gradient_plan",
    "gradient_problems",
    "gradient_tables",
    "set_gradient",
    "slope_tables",
    "split",
    "table_backward",
]

_PLANS: dict[tuple[str, Gradient], GradientPlan] = {}
_LOCK = threading.Lock()
_VALUES = np.arange(-128, 128, dtype=np.float64)


def gradient_plan(values: np.ndarray, gradient: Gradient, digest: str | None = None) -> GradientPlan:
    """The (cached) gradient plan of an oriented int table for ``gradient`` (``digest``: the table's sha256, if known)."""
    key = (digest or table_sha256(np.ascontiguousarray(values, dtype=np.int32)), gradient)
    with _LOCK:
        plan = _PLANS.get(key)
    if plan is None:
        ga, gb = gradient_tables(values, gradient)
        exact = bool(
            np.array_equal(ga, np.broadcast_to(_VALUES, ga.shape)) and np.array_equal(gb, np.broadcast_to(_VALUES[:, None], gb.shape))
        )
        plan = GradientPlan(ga=ga, gb=gb, exact=exact)
        with _LOCK:
            _PLANS[key] = plan
    return plan


def set_gradient(model: nn.Module, gradient: Gradient | str = "ste", window: int = DEFAULT_WINDOW) -> nn.Module:
    """Give every approximate layer of ``model`` the gradient estimator ``gradient`` (a name or a :class:`Gradient`).

    The estimator applies to layers in ``behavioral`` mode (behavioral retraining, and the layers hybrid
    error-model retraining keeps behavioral); other layers back-propagate through what they compute.
    """
    from approxhil.nn.convert import approx_layers

    spec = gradient if isinstance(gradient, Gradient) else Gradient(estimator=gradient, window=window)
    for layer in approx_layers(model).values():
        layer.gradient = spec
    return model
