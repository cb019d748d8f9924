"""Error metrics of an approximate multiplier's truth table (docs/multipliers.md, paper eq. 2)."""

from __future__ import annotations

import numpy as np


def mre(approx: np.ndarray, exact: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean relative error in percent: mean of ``|approx - exact| / max(1, |exact|)``."""
    rel = np.abs(approx - exact) / np.maximum(1, np.abs(exact))
    if mask is not None:
        rel = rel[mask]
    return float(100.0 * rel.mean())


def error_metrics(
    approx: np.ndarray,
    exact: np.ndarray,
    operand_a: np.ndarray,
    operand_b: np.ndarray,
    mre_n: int,
) -> dict[str, float]:
    """All metrics of a table over its operand grid.

    ``mre`` averages over operand pairs with ``0 <= a, b < mre_n`` (paper eq. 2); every other
    metric runs over the whole table. The signed relative error ``(approx - exact) / exact`` (mean,
    std) parameterizes the weight-noise baseline, where ``approx = exact * (1 + e)``.
    """
    approx = approx.astype(np.int64)
    exact = exact.astype(np.int64)
    err = approx - exact
    in_range_a = (operand_a >= 0) & (operand_a < mre_n)
    in_range_b = (operand_b >= 0) & (operand_b < mre_n)
    mask = in_range_a[:, None] & in_range_b[None, :]
    rel = err / np.where(exact == 0, 1, exact)  # signed: approx = exact * (1 + rel)
    return {
        "mre": mre(approx, exact, mask),
        "mre_n": int(mre_n),
        "mae": float(np.abs(err).mean()),
        "wce": int(np.abs(err).max()),
        "error_probability": float((err != 0).mean()),
        "mean_error": float(err.mean()),
        "std_error": float(err.std()),
        "mean_rel_error": float(rel.mean()),
        "std_rel_error": float(rel.std()),
    }
