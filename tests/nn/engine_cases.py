"""Tables, operands and brute-force references shared by the engine tests (references computed once per process)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import torch
from nn_reference import conv_reference, linear_reference

from approxhil.multipliers import PAPER_CONFIGS, golden_table
from approxhil.nn.engines import LINEAR, Geometry, get_engine, plan_for
from approxhil.nn.multiplier import oriented_values

#: Engines that compute CPU tensors (the ``-gpu`` ones are torch ops that run on any device).
CPU_ENGINES = ["lowrank", "lowrank-f32", "gather", "lowrank-gpu", "gather-gpu"]
TABLES = [*PAPER_CONFIGS, "0000", "random", "random-nonzero-row"]

CONV_CASES = [
    # (x shape, w shape, geometry)
    ((2, 4, 7, 6), (6, 2, 3, 3), Geometry((2, 1), (1, 2), (1, 2), 2)),
    ((2, 3, 5, 5), (4, 3, 3, 3), Geometry((1, 1), (1, 1), (1, 1), 1)),
    ((1, 6, 4, 5), (6, 1, 2, 3), Geometry((1, 2), (0, 1), (1, 1), 6)),  # depthwise, asymmetric kernel
    ((3, 5, 3, 3), (7, 5, 1, 1), Geometry()),
    ((2, 3, 7, 8), (4, 3, 1, 1), Geometry((2, 3), (0, 0), (1, 1), 1)),  # strided 1x1 (ResNet shortcut)
]
LINEAR_CASE = ((5, 37), (3, 37), LINEAR)


def table_values(name: str) -> np.ndarray:
    """Oriented int32 table: a paper config, the exact multiplier or a random full-rank table."""
    if name.startswith("random"):
        rng = np.random.default_rng(7)
        ops = np.arange(-128, 128)
        values = np.outer(ops, ops) + rng.integers(-3000, 3001, (256, 256))
        if name == "random":
            values[128, :] = 0  # T(0, w) = 0 like every real multiplier
            values[:, 128] = 0
        return values.astype(np.int32)  # "random-nonzero-row": padding must feed T(0, w) != 0
    return oriented_values(golden_table(name))


def operands(xs, ws, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(-128, 128, xs, generator=gen).float()
    w = torch.randint(-128, 128, ws, generator=gen).float()
    x.view(-1)[:3] = torch.tensor([-128.0, 127.0, 0.0])  # extremes always present
    w.view(-1)[:2] = torch.tensor([-128.0, 127.0])
    return x, w


@cache
def reference(table: str, case: int) -> np.ndarray:
    """Brute-force result of ``CONV_CASES[case]`` (or the linear case for ``case == len(CONV_CASES)``)."""
    values = table_values(table)
    if case == len(CONV_CASES):
        x, w = operands(LINEAR_CASE[0], LINEAR_CASE[1], 99)
        return linear_reference(x.long().numpy(), w.long().numpy(), values)
    xs, ws, g = CONV_CASES[case]
    x, w = operands(xs, ws, case)
    return conv_reference(x.long().numpy(), w.long().numpy(), values, g.stride, g.padding, g.dilation, g.groups)


def all_cases():
    """``(index, x, w, geometry)`` for every conv case and the linear case."""
    for seed, (xs, ws, geometry) in enumerate(CONV_CASES):
        x, w = operands(xs, ws, seed)
        yield seed, x, w, geometry
    x, w = operands(LINEAR_CASE[0], LINEAR_CASE[1], 99)
    yield len(CONV_CASES), x, w, LINEAR


def require_exact(name: str, table: str = "3330", device: str = "cpu") -> None:
    """Skip (naming the reason) when engine ``name`` cannot compute exactly on this machine."""
    reason = get_engine(name).unavailable(plan_for(table_values(table)), torch.device(device), (4, 3, 3, 3))
    if reason is not None:
        pytest.skip(f"{name} is not exact or not available here: {reason}")


__all__ = [
    "CONV_CASES",
    "CPU_ENGINES",
    "LINEAR_CASE",
    "PAPER_CONFIGS",
    "TABLES",
    "all_cases",
    "operands",
    "reference",
    "require_exact",
    "table_values",
]
