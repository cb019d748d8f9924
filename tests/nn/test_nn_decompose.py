"""Exact int8 low-rank factorization of multiplier tables."""

from __future__ import annotations

import numpy as np
import pytest

from approxhil.errors import TableError
from approxhil.multipliers import PAPER_CONFIGS, golden_table
from approxhil.nn.engines.decompose import _fit_int8, cached_decomposition, decompose, error_matrix
from approxhil.nn.multiplier import oriented_values

OPS = np.arange(-128, 128)


def _check(values: np.ndarray) -> None:
    dec = decompose(values)
    assert np.array_equal(dec.reconstruct(), values.astype(np.int64))
    assert dec.u.dtype == np.int8 and dec.v.dtype == np.int8
    assert np.array_equal(dec.u[0], OPS) and np.array_equal(dec.v[0], OPS)  # component 0: the exact product
    return dec


@pytest.mark.parametrize("config", sorted(PAPER_CONFIGS))
def test_paper_configs_factor_into_few_int8_components(config: str) -> None:
    for role in ("activation", "weight"):
        values = oriented_values(golden_table(config, operand_a=role))
        dec = _check(values)
        rank = int(np.linalg.matrix_rank(error_matrix(values).astype(float)))
        assert dec.method == "lattice" and dec.rank == rank and 8 <= rank <= 13
        assert dec.components <= rank + 4  # exact product + error factors + a few digit splits
        assert not dec.shift.any()  # one output scale: a layer needs a single stacked convolution
        assert not dec.u[:, 128].any()  # u_i(0) = 0: zero padding contributes nothing


def test_exact_and_full_rank_tables() -> None:
    exact = _check(oriented_values(golden_table("0000")))
    assert (exact.method, exact.components, exact.rank) == ("exact", 1, 0)
    rng = np.random.default_rng(3)
    full = np.outer(OPS, OPS) + rng.integers(-20000, 20000, (256, 256))
    dec = _check(full)
    assert dec.method == "one-hot" and dec.rank == 256


def test_low_rank_with_large_entries_needs_digit_splits() -> None:
    rng = np.random.default_rng(4)
    values = np.outer(OPS, OPS) + rng.integers(-300, 300, (256, 3)) @ rng.integers(-90, 90, (3, 256))
    dec = _check(values)
    assert dec.method == "lattice" and dec.rank == 3


def test_fit_int8_balances_and_splits() -> None:
    u = np.array([0, 1, -3, 200, -256])
    v = np.array([16, -32, 0, 48, 64])
    parts = _fit_int8(u, v, 0)
    total = sum((p[0][:, None] * p[1][None, :]) << p[2] for p in parts)
    assert np.array_equal(total, np.outer(u, v))
    assert all(p[0].min() >= -128 and p[0].max() <= 127 and p[1].min() >= -128 and p[1].max() <= 127 for p in parts)
    assert _fit_int8(np.zeros(3, int), np.ones(3, int), 0) == []


def test_tap_bound_and_cache() -> None:
    values = oriented_values(golden_table("3330"))
    dec = cached_decomposition(values)
    assert cached_decomposition(values.copy()) is dec
    everything = np.arange(dec.components)
    assert dec.tap_bound(everything) == np.abs(values).max()
    with pytest.raises(TableError, match="256x256"):
        decompose(np.zeros((16, 16), dtype=np.int64))
