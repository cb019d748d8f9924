"""Gradient estimators of a multiplier table: what the backward pass uses for ``∂T/∂x`` and ``∂T/∂w``.

A behavioral layer computes ``y = Σ T(x, w)`` through the table. Its backward pass needs the derivative
of the table along each operand; the estimators are

* ``ste`` — the straight-through estimator: the exact product's derivative (``∂(x·w)/∂x = w``), whatever
  the table (paper eq. 13; the toolkit's default).
* ``lut-diff`` — a difference-based table (AppMult-aware retraining, DATE 2025): along the differentiated
  operand the table is smoothed with a moving average of ``2H + 1`` codes, ``S(a) = mean_{|d| ≤ H} T(a + d)``,
  and differentiated by a central difference, ``G(a) = (S(a + 1) − S(a − 1)) / 2`` for ``H < a < 255 − H``.
  At the ``2H + 2`` edge codes the window does not fit; an edge rule fills them (:data:`EDGES`).
* ``lut-1d`` — the least-squares slope of each row/column: ``∂T/∂x (x, w) = β(w)``, the regression slope of
  ``T(·, w)`` over the operand values (one number per weight code; ``∂T/∂w = γ(x)`` likewise). Rank one:
  the backward pass costs what the straight-through one does.

Operands are the signed values −128..127 (index = value + 128) of the oriented ``[activation, weight]``
table: differences are taken in the value domain, where consecutive indices are consecutive values —
never in a sign-magnitude byte order. For the exact table every estimator gives the exact derivative
(``Ga = w``, ``Gb = x``) bit for bit: window sums are formed in integers and divided once.

Edge rules (``edge``): ``slope`` — the smoothed line's end-to-end slope ``(S(255 − H) − S(H)) / (255 − 2H)``
(the default: linear in the table, exact for the exact table, see docs/experiments.md for the measurement);
``one-sided`` — the smoothed line's first (last) step ``S(H + 1) − S(H)``; ``range`` — the paper's
``(max T − min T) / N`` made usable for signed tables: the paper's tables are unsigned, where the range of a
row has the sign of the slope; in the signed value domain ``max − min`` is never negative, so the rule takes
the sign of the end-to-end change and divides by ``N − 1``, the span of the operand values (dividing by ``N``
would scale the exact table's gradient by 255/256).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from approxhil.errors import ConfigError
from approxhil.tables import table_sha256

ESTIMATORS = ("ste", "lut-diff", "lut-1d")
EDGES = ("slope", "one-sided", "range")
#: Half window ``H`` of ``lut-diff``: 2H + 1 = 9 codes, chosen by measurement (docs/experiments.md, "Gradients").
DEFAULT_WINDOW = 4
DEFAULT_EDGE = "slope"
#: Largest half window: the smoothed line must keep at least two interior codes (255 − 2H ≥ 129).
MAX_WINDOW = 63
CODES = 256
_VALUES = np.arange(-128, 128, dtype=np.int64)

__all__ = [
    "CODES",
    "DEFAULT_EDGE",
    "DEFAULT_WINDOW",
    "EDGES",
    "ESTIMATORS",
    "MAX_WINDOW",
    "STE",
    "Gradient",
    "diff_tables",
    "gradient_problems",
    "gradient_tables",
    "slope_tables",
]


def gradient_problems(estimator: str, window: int, edge: str = DEFAULT_EDGE) -> list[str]:
    """What is wrong with these settings (empty: nothing); the one place they are checked."""
    problems = []
    if estimator not in ESTIMATORS:
        problems.append(f"gradient estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or not 0 <= window <= MAX_WINDOW:
        problems.append(f"gradient window H must be an integer in 0..{MAX_WINDOW}, got {window!r}")
    if edge not in EDGES:
        problems.append(f"gradient edge rule must be one of {', '.join(EDGES)}, got {edge!r}")
    return problems


@dataclass(frozen=True, kw_only=True)
class Gradient:
    """The backward pass a behavioral layer uses: ``estimator`` with half window ``window`` (``lut-diff``)."""

    estimator: str = "ste"
    window: int = DEFAULT_WINDOW
    edge: str = DEFAULT_EDGE

    def __post_init__(self) -> None:
        problems = gradient_problems(self.estimator, self.window, self.edge)
        if problems:
            raise ConfigError("; ".join(problems), fix=f"use --gradient {' | '.join(ESTIMATORS)} and a window in 0..{MAX_WINDOW}")
        object.__setattr__(self, "window", int(self.window))

    @property
    def label(self) -> str:
        """``ste``, ``lut-1d`` or ``lut-diff H=2`` (with a non-default edge rule: ``lut-diff H=2 range``)."""
        if self.estimator != "lut-diff":
            return self.estimator
        return f"lut-diff H={self.window}" + ("" if self.edge == DEFAULT_EDGE else f" {self.edge}")

    @property
    def suffix(self) -> str:
        """Part of a result's key: empty for ``ste`` (keys of straight-through results stay as they were)."""
        if self.estimator == "ste":
            return ""
        if self.estimator == "lut-1d":
            return "-glut-1d"
        return f"-glut-diff-H{self.window}" + ("" if self.edge == DEFAULT_EDGE else f"-{self.edge}")


STE = Gradient()


# --------------------------------------------------------------------------- lut-diff
def _diff_axis0(table: np.ndarray, h: int, edge: str) -> np.ndarray:
    """The smoothed central difference of every column of ``table`` (int64 ``[256, m]``) along axis 0."""
    n, width = table.shape[0], 2 * h + 1
    prefix = np.zeros((n + 1, table.shape[1]), dtype=np.int64)
    np.cumsum(table, axis=0, out=prefix[1:])
    sums = prefix[width:] - prefix[:-width]  # sums[i - h] = Σ_{|d| ≤ h} T(i + d), for h ≤ i ≤ n − 1 − h
    out = np.empty(table.shape, dtype=np.float64)
    inner = np.arange(h + 1, n - 1 - h)
    out[inner] = (sums[inner + 1 - h] - sums[inner - 1 - h]) / (2 * width)  # (S(a + 1) − S(a − 1)) / 2
    low, high = slice(0, h + 1), slice(n - 1 - h, n)
    end_to_end = sums[-1] - sums[0]  # (S(n − 1 − h) − S(h)) · width
    if edge == "slope":
        out[low] = out[high] = end_to_end / (width * (n - 1 - 2 * h))
    elif edge == "one-sided":
        out[low] = (sums[1] - sums[0]) / width
        out[high] = (sums[-1] - sums[-2]) / width
    else:  # range
        out[low] = out[high] = np.sign(end_to_end) * (table.max(axis=0) - table.min(axis=0)) / (n - 1)
    return out


def diff_tables(values: np.ndarray, window: int = DEFAULT_WINDOW, edge: str = DEFAULT_EDGE) -> tuple[np.ndarray, np.ndarray]:
    """``lut-diff`` tables ``(Ga, Gb)`` (float64 ``[256, 256]``, ``[activation, weight]``) of an oriented table."""
    table = np.asarray(values, dtype=np.int64)
    return _diff_axis0(table, window, edge), _diff_axis0(table.T, window, edge).T


# --------------------------------------------------------------------------- lut-1d
def _slopes_axis0(table: np.ndarray) -> np.ndarray:
    """Least-squares slope of every column over the operand values −128..127 (exact for whole-number data)."""
    centred = 2 * _VALUES + 1  # 2 (a − mean a): whole numbers, so the sums below are exact in float64
    return (centred.astype(np.float64) @ table.astype(np.float64)) / float(centred @ _VALUES)


def slope_tables(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``lut-1d`` tables ``(Ga, Gb)``: ``Ga[x, w] = β(w)`` and ``Gb[x, w] = γ(x)`` (rank one each)."""
    table = np.asarray(values, dtype=np.int64)
    beta, gamma = _slopes_axis0(table), _slopes_axis0(table.T)
    return np.broadcast_to(beta, table.shape).copy(), np.broadcast_to(gamma[:, None], table.shape).copy()


# --------------------------------------------------------------------------- cache
_CACHE: dict[tuple[str, Gradient], tuple[np.ndarray, np.ndarray]] = {}
_LOCK = threading.Lock()


def gradient_tables(values: np.ndarray, gradient: Gradient) -> tuple[np.ndarray, np.ndarray]:
    """``(Ga, Gb)`` of an oriented int table for ``gradient`` (read-only, cached by the table's sha256).

    ``ste`` gives the exact product's derivatives ``Ga[x, w] = w``, ``Gb[x, w] = x``.
    """
    key = (table_sha256(np.ascontiguousarray(values, dtype=np.int32)), gradient)
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is None:
        if gradient.estimator == "lut-diff":
            ga, gb = diff_tables(values, gradient.window, gradient.edge)
        elif gradient.estimator == "lut-1d":
            ga, gb = slope_tables(values)
        else:
            ga = np.broadcast_to(_VALUES.astype(np.float64), (CODES, CODES)).copy()
            gb = ga.T.copy()
        for t in (ga, gb):
            t.setflags(write=False)
        hit = (ga, gb)
        with _LOCK:
            _CACHE[key] = hit
    return hit
