"""Measurements through a backend: a multiplier's full truth table, and approximate layers' outputs.

:func:`measure_table` streams all 65,536 operand pairs through the core and returns a
:class:`~approxhil.tables.TruthTable` whose provenance names the backend (simulator or bitstream hash)
and the source (``rtl-sim``, ``board``, or ``twin`` for the emulated board).
:class:`LayerMeasure` is the measured-output source of the error-model fit
(:func:`approxhil.errormodel.fit.fit_error_model`'s ``measure``): it unfolds a layer's quantized
input (im2col), streams activation/weight vectors through the core's dot-product mode and returns the
layer's pre-bias output in real units, as the behavioral simulation would.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from approxhil_board import protocol
from approxhil_board.backend import Backend
from torch import nn

from approxhil.encoding import Encoding, operands
from approxhil.hil.errors import HilError
from approxhil.multipliers.spec import parse_multiplier
from approxhil.tables import TruthTable, provenance

#: Operand pairs expanded on the host at a time when measuring a layer (bounds host memory).
PAIRS_PER_CHUNK = 1 << 22


def all_pairs() -> tuple[np.ndarray, np.ndarray]:
    """Every signed 8-bit operand pair in table order: ``a`` row-major, ``b`` fastest."""
    ops = operands(Encoding.SIGN_MAGNITUDE, 8)
    return np.repeat(ops, ops.size), np.tile(ops, ops.size)


def measure_table(backend: Backend, config: str | None = None, operand_a: str = "activation") -> TruthTable:
    """The 256x256 sign-magnitude table of ``config`` as the core computes it (operand A = port ``a``).

    Without ``config``: the backend's default (``open_backend(..., config=)``) or the core's only one.
    """
    spec = parse_multiplier(backend.resolve_config(config))
    a, b = all_pairs()
    start = time.perf_counter()
    values = backend.products(spec.name, a, b).reshape(256, 256)
    seconds = time.perf_counter() - start
    return TruthTable(
        values,
        name=spec.name,
        encoding=Encoding.SIGN_MAGNITUDE,
        operand_a=operand_a,
        provenance=provenance(backend.source, config=spec.name, pairs=int(a.size), seconds=round(seconds, 3), **backend.provenance()),
    )


def compare_tables(measured: TruthTable, reference: TruthTable, show: int = 5) -> dict[str, Any]:
    """How many entries differ, and the first few as ``(a, b, measured, reference)``."""
    diff = np.argwhere(measured.values != reference.values)
    ops = measured.operands()
    rows = [(int(ops[i]), int(ops[j]), int(measured.values[i, j]), int(reference.values[i, j])) for i, j in diff[:show]]
    return {"mismatches": len(diff), "entries": int(measured.values.size), "first": rows}


class LayerMeasure:
    """``measure(name, layer, x)`` for the error-model fit, computed by the accelerator.

    The layer supplies its integer operands (``layer.int_operands(x) -> (x_int, w_int, Δx·Δw)``);
    the core returns the exact int32 accumulations of the products of the layer's multiplier
    (``layer.multiplier_name``, selected in the core), scaled back to real units as the behavioral
    simulation scales its own. Operand A of the core takes the tensor the layer's table names
    (``layer.operand_a``).
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.stats: dict[str, dict[str, float]] = {}

    def __call__(self, name: str, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
        x_int, w_int, scale = layer.int_operands(x)
        start = time.perf_counter()
        acc = self.accumulations(layer, x_int, w_int)
        entry = self.stats.setdefault(name, {"calls": 0, "seconds": 0.0, "outputs": 0})
        entry["calls"] += 1
        entry["seconds"] += time.perf_counter() - start
        entry["outputs"] += acc.numel()
        return acc.to(x.dtype) * scale

    def accumulations(self, layer: nn.Module, x_int: torch.Tensor, w_int: torch.Tensor) -> torch.Tensor:
        """The layer's integer pre-bias output (int64) for integer operands, computed by the core."""
        config = getattr(layer, "multiplier_name", None)
        if config is None:
            raise HilError(f"layer {getattr(layer, 'layer_name', '?')} has no multiplier to measure with")
        config = parse_multiplier(config).name
        weight_is_a = getattr(layer, "operand_a", None) == "weight"
        if isinstance(layer, nn.Conv2d):
            return self._conv(layer, x_int, w_int, config, weight_is_a)
        if isinstance(layer, nn.Linear):
            rows = x_int.reshape(-1, x_int.shape[-1])
            out = self._dots(rows, w_int.reshape(w_int.shape[0], -1), config, weight_is_a)
            return out.reshape(*x_int.shape[:-1], w_int.shape[0])
        raise HilError(f"the accelerator measures Conv2d and Linear layers, not {type(layer).__name__}")

    def _conv(self, layer: nn.Conv2d, x_int: torch.Tensor, w_int: torch.Tensor, config: str, weight_is_a: bool) -> torch.Tensor:
        geometry = layer.geometry()  # stride, symmetric zero padding, dilation, groups of the approximate layer
        batch, (kh, kw) = x_int.shape[0], w_int.shape[-2:]
        h_out, w_out = geometry.output_size(x_int.shape[-2], x_int.shape[-1], kh, kw)
        cols = F.unfold(
            x_int.to(torch.float32), (kh, kw), dilation=geometry.dilation, padding=geometry.padding, stride=geometry.stride
        )  # [B, C*kh*kw, L]; codes are exact in float32
        groups = geometry.groups
        k_group = cols.shape[1] // groups
        f_group = w_int.shape[0] // groups
        outs = []
        for g in range(groups):
            rows = cols[:, g * k_group : (g + 1) * k_group, :].transpose(1, 2).reshape(-1, k_group)  # [B*L, K]
            weights = w_int[g * f_group : (g + 1) * f_group].reshape(f_group, -1)
            outs.append(self._dots(rows, weights, config, weight_is_a).reshape(batch, -1, f_group))  # [B, L, F]
        out = torch.cat(outs, dim=2).transpose(1, 2)  # [B, F, L]
        return out.reshape(batch, w_int.shape[0], h_out, w_out)

    def _dots(self, rows: torch.Tensor, weights: torch.Tensor, config: str, weight_is_a: bool) -> torch.Tensor:
        """``out[r, f] = sum_k M(rows[r, k], weights[f, k])`` on the core, in host-memory-bounded chunks."""
        rows_np = _int8(rows, "activations")
        w_np = _int8(weights, "weights")
        n_rows, k = rows_np.shape
        n_out = w_np.shape[0]
        step = max(1, PAIRS_PER_CHUNK // max(1, n_out * k))
        out = np.empty((n_rows, n_out), dtype=np.int64)
        for start in range(0, n_rows, step):
            chunk = rows_np[start : start + step]
            act = np.broadcast_to(chunk[:, None, :], (chunk.shape[0], n_out, k)).reshape(-1, k)
            wgt = np.broadcast_to(w_np[None, :, :], (chunk.shape[0], n_out, k)).reshape(-1, k)
            a, b = (wgt, act) if weight_is_a else (act, wgt)
            out[start : start + chunk.shape[0]] = self.backend.dot(config, a, b).reshape(chunk.shape[0], n_out)
        return torch.from_numpy(out)


def _int8(t: torch.Tensor, what: str) -> np.ndarray:
    """Integer operand codes as int8, refusing non-integers and values outside -128..127."""
    return protocol.as_int8(t.detach().cpu().numpy(), what)
