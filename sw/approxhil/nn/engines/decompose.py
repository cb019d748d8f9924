"""Exact integer low-rank decomposition of a multiplier table into int8 factors.

A signed 8-bit table is ``T(x, w) = x·w + E(x, w)``. The error ``E`` of an SMApprox multiplier
has rank 8–13 because it is a sum of 4×4-block errors. We write

    T(x, w) = Σ_i 2^{s_i} · u_i(x) · v_i(w)        exactly, with u_i(x), v_i(w) ∈ [-128, 127],

component 0 being the exact product (``u_0(x) = x``, ``v_0(w) = w``). Then a layer's sum of
table products is ``Σ_i 2^{s_i} · conv(u_i(X), v_i(W))``: a few int8 convolutions with int32
accumulation, which are exact.

The error factors come from the integer lattice spanned by the rows of ``E``: gcd row reduction
gives an integer basis ``B`` (rank ``r`` rows), LLL reduction (sympy) makes the basis short, and
each row of ``E`` is an integer combination ``U·B``. Factors that do not fit int8 are balanced by moving
powers of two between ``u`` and ``v`` or split into signed base-128 digits. Tables whose error has
high rank (or whose lattice reduction fails) use the always-exact one-hot factorization
``E = Σ_a [x = a] · E(a, ·)``. Every decomposition is verified entry by entry before use.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from approxhil.encoding import OFFSET
from approxhil.errors import TableError
from approxhil.tables import table_sha256

INT8_MIN, INT8_MAX = -128, 127
#: Above this error rank the lattice reduction is not attempted (the one-hot factorization is used).
MAX_LATTICE_RANK = 40
_DIGIT_BITS = 7
#: A leftover output shift of at most this is paid with 2^shift identical shift-0 components.
_MAX_COPIES_SHIFT = 1

_OPS = np.arange(-OFFSET, OFFSET, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Decomposition:
    """``T = Σ_i 2^shift[i] · outer(u[i], v[i])`` with int8 factors indexed by operand + 128."""

    u: np.ndarray  # int8 [n, 256]: u[i, x + 128]
    v: np.ndarray  # int8 [n, 256]: v[i, w + 128]
    shift: np.ndarray  # int64 [n]
    rank: int  # rank of the error matrix E = T - x·w
    method: str  # "exact", "lattice" or "one-hot"

    @property
    def components(self) -> int:
        return int(self.u.shape[0])

    def groups(self) -> list[tuple[int, np.ndarray]]:
        """Component indices grouped by output shift, smallest shift first."""
        return [(int(s), np.flatnonzero(self.shift == s)) for s in np.unique(self.shift)]

    def partial_table(self, index: np.ndarray) -> np.ndarray:
        """``Σ_{i ∈ index} u_i(x) v_i(w)`` as int64 ``[256, 256]`` (shifts not applied)."""
        u = self.u[index].astype(np.int64)
        v = self.v[index].astype(np.int64)
        return u.T @ v

    def tap_bound(self, index: np.ndarray) -> int:
        """Largest ``|Σ_{i ∈ index} u_i(x) v_i(w)|`` over all operand pairs: the bound of one tap."""
        return int(np.abs(self.partial_table(index)).max(initial=0))

    def abs_tap_bound(self, index: np.ndarray) -> int:
        """Largest ``Σ_{i ∈ index} |u_i(x)|·|v_i(w)|``: bounds every partial sum of one tap's products,
        whatever order a convolution adds them in."""
        u = np.abs(self.u[index].astype(np.int64))
        v = np.abs(self.v[index].astype(np.int64))
        return int((u.T @ v).max(initial=0))

    def is_identity(self, index: np.ndarray) -> bool:
        """Whether ``index`` is the single component ``u(x) = x, v(w) = w`` (the exact product)."""
        return len(index) == 1 and np.array_equal(self.u[index[0]], _OPS) and np.array_equal(self.v[index[0]], _OPS)

    def reconstruct(self) -> np.ndarray:
        """The table the factors multiply out to (int64)."""
        total = np.zeros((2 * OFFSET, 2 * OFFSET), dtype=np.int64)
        for shift, index in self.groups():
            total += self.partial_table(index) << shift
        return total

    @cached_property
    def summary(self) -> str:
        shifts = sorted({int(s) for s in self.shift})
        return f"{self.method}: error rank {self.rank}, {self.components} int8 components, shifts {shifts}"


def error_matrix(values: np.ndarray) -> np.ndarray:
    """``E = T - x·w`` of a table in [activation, weight] order (int64)."""
    return np.asarray(values, dtype=np.int64) - np.outer(_OPS, _OPS)


def decompose(values: np.ndarray) -> Decomposition:
    """Exact int8 factorization of a signed 8-bit table (``[256, 256]``, [activation, weight] order)."""
    values = np.asarray(values, dtype=np.int64)
    if values.shape != (2 * OFFSET, 2 * OFFSET):
        raise TableError(f"low-rank decomposition needs a 256x256 table, got shape {values.shape}")
    err = error_matrix(values)
    exact = [(_OPS.copy(), _OPS.copy(), 0)]
    if not err.any():
        return _finish(exact, values, 0, "exact")
    if _projected_rank(err) <= MAX_LATTICE_RANK:
        factors = _lattice_factors(err)
        if factors is not None:
            parts = exact + [part for u, v in factors for part in _fit_int8(u, v, 0)]
            decomposition = _finish(parts, values, len(factors), "lattice", verify=False)
            if np.array_equal(decomposition.reconstruct(), values):
                return decomposition
    rank = int(np.linalg.matrix_rank(err.astype(np.float64)))
    parts = exact + [part for a in np.flatnonzero(err.any(axis=1)) for part in _fit_int8(_one_hot(a), err[a], 0)]
    return _finish(parts, values, rank, "one-hot")


def _projected_rank(err: np.ndarray) -> int:
    """Rank of ``err`` when it is at most :data:`MAX_LATTICE_RANK`, else a value above it (cheap random projection)."""
    probe = err.astype(np.float64) @ np.random.default_rng(0).standard_normal((err.shape[1], MAX_LATTICE_RANK + 8))
    return int(np.linalg.matrix_rank(probe))


def _one_hot(index: int) -> np.ndarray:
    u = np.zeros(2 * OFFSET, dtype=np.int64)
    u[index] = 1
    return u


def _finish(
    parts: list[tuple[np.ndarray, np.ndarray, int]], values: np.ndarray, rank: int, method: str, verify: bool = True
) -> Decomposition:
    parts = [(u, v, s) for u, v, s in parts if u.any() and v.any()] or [parts[0]]
    parts.sort(key=lambda p: p[2])
    result = Decomposition(
        u=np.stack([p[0] for p in parts]).astype(np.int8),
        v=np.stack([p[1] for p in parts]).astype(np.int8),
        shift=np.array([p[2] for p in parts], dtype=np.int64),
        rank=rank,
        method=method,
    )
    if verify and not np.array_equal(result.reconstruct(), values):
        raise TableError(f"internal error: {method} decomposition does not reproduce the table")
    return result


# --------------------------------------------------------------------------- lattice factorization
def _lattice_factors(err: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Integer factors ``err = Σ_i outer(u_i, v_i)`` from an LLL-reduced basis of the row (or column) lattice.

    Tries both orientations and keeps the one with fewer int8 components; ``None`` if both fail.
    """
    best: list[tuple[np.ndarray, np.ndarray]] | None = None
    best_cost = None
    for transpose in (False, True):
        matrix = err.T if transpose else err
        factors = _row_lattice_factors(matrix)
        if factors is None:
            continue
        if transpose:
            factors = [(v, u) for u, v in factors]
        cost = sum(len(_fit_int8(u, v, 0)) for u, v in factors)
        if best_cost is None or cost < best_cost:
            best, best_cost = factors, cost
        if cost == len(factors):  # every factor pair already fits int8: nothing to gain
            break
    return best


def _row_lattice_factors(matrix: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]] | None:
    rows = np.unique(matrix[matrix.any(axis=1)], axis=0)
    basis = _integer_row_basis(rows)
    if basis is None:
        basis = _sympy_row_basis(rows)
    if basis is None or basis.size == 0:
        return None
    basis = _lll(basis)
    coords = np.linalg.lstsq(basis.T.astype(np.float64), matrix.T.astype(np.float64), rcond=None)[0].T
    if not np.isfinite(coords).all() or np.abs(coords).max() >= _GROWTH_LIMIT:
        return None
    coords = np.round(coords).astype(np.int64)
    if not np.array_equal(coords @ basis, matrix):
        return None
    return [(coords[:, i].copy(), basis[i].copy()) for i in range(basis.shape[0])]


_GROWTH_LIMIT = 1 << 40


def _integer_row_basis(rows: np.ndarray) -> np.ndarray | None:
    """Echelon basis of the integer lattice spanned by ``rows`` (gcd row reduction in int64).

    For each column, Euclid's algorithm on the remaining rows leaves one row with a non-zero entry
    there (the gcd); it joins the basis. ``None`` if entries grow past 2^40 (no overflow risk).
    """
    rest = rows.astype(np.int64)
    basis = []
    for col in range(rest.shape[1]):
        if rest.shape[0] == 0:
            break
        while True:
            live = np.flatnonzero(rest[:, col])
            if live.size <= 1:
                break
            pivot = live[np.argmin(np.abs(rest[live, col]))]
            others = live[live != pivot]
            rest[others] -= (rest[others, col] // rest[pivot, col])[:, None] * rest[pivot]
            if np.abs(rest).max() >= _GROWTH_LIMIT:
                return None
        if live.size == 1:
            basis.append((col, rest[live[0]].copy()))
            rest = np.delete(rest, live[0], axis=0)
        rest = rest[rest.any(axis=1)]
    return np.array([row for _, row in basis], dtype=np.int64).reshape(len(basis), rows.shape[1])


def _sympy_row_basis(rows: np.ndarray) -> np.ndarray | None:
    """Hermite normal form basis of the row lattice with exact big integers (slower, no growth limit)."""
    try:
        from sympy import Matrix
        from sympy.matrices.normalforms import hermite_normal_form

        hnf = np.array(hermite_normal_form(Matrix(rows.T.tolist())).T.tolist(), dtype=object)
    except Exception:
        return None
    if hnf.size == 0 or np.abs(hnf).max() >= _GROWTH_LIMIT:
        return None
    return hnf.astype(np.int64)


def _lll(basis: np.ndarray) -> np.ndarray:
    """LLL-reduced basis of the same lattice (sympy, exact); the input basis if sympy cannot."""
    try:
        from sympy import ZZ
        from sympy.polys.matrices import DomainMatrix

        reduced = DomainMatrix([[ZZ(int(v)) for v in row] for row in basis.tolist()], basis.shape, ZZ).lll()
        out = np.array([[int(v) for v in row] for row in reduced.to_list()], dtype=object)
    except Exception:
        return basis
    if out.shape != basis.shape or np.abs(out).max() >= _GROWTH_LIMIT:
        return basis
    return out.astype(np.int64)


# --------------------------------------------------------------------------- int8 fitting
def _fits(a: np.ndarray) -> bool:
    return bool(a.min() >= INT8_MIN and a.max() <= INT8_MAX)


def _twos(a: np.ndarray) -> int:
    """Largest ``k`` with every entry of ``a`` divisible by ``2^k`` (0 for the zero vector)."""
    nonzero = np.abs(a[a != 0])
    if nonzero.size == 0:
        return 0
    k = 0
    while np.all(nonzero % 2 == 0):
        nonzero //= 2
        k += 1
    return k


def _headroom(a: np.ndarray) -> int:
    """How many doublings ``a`` takes while staying inside int8."""
    k = 0
    while _fits(a << (k + 1)) and k < 16:
        k += 1
    return k


def _digits(a: np.ndarray) -> list[np.ndarray]:
    """Signed base-128 digits in [-64, 63]: ``a = Σ_j 128^j d_j``."""
    digits, rest, half = [], a.copy(), 1 << (_DIGIT_BITS - 1)
    while rest.any():
        digit = ((rest + half) % (1 << _DIGIT_BITS)) - half
        digits.append(digit)
        rest = (rest - digit) >> _DIGIT_BITS
    return digits


def _fit_int8(u: np.ndarray, v: np.ndarray, shift: int) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Rewrite ``2^shift · outer(u, v)`` as components with int8 factors (few output shifts)."""
    if not u.any() or not v.any():
        return []
    a, b = _twos(u), _twos(v)
    u, v, shift = u >> a, v >> b, shift + a + b
    if _fits(u) and _fits(v):
        take_u = min(shift, _headroom(u))
        u, shift = u << take_u, shift - take_u
        take_v = min(shift, _headroom(v))
        v, shift = v << take_v, shift - take_v
        if 0 < shift <= _MAX_COPIES_SHIFT:  # 2^s copies at shift 0 cost less than a separate convolution
            return [(u, v, 0)] * (1 << shift)
        return [(u, v, shift)]
    if (np.abs(u).max() > INT8_MAX) and (np.abs(u).max() >= np.abs(v).max() or _fits(v)):
        return [part for j, d in enumerate(_digits(u)) for part in _fit_int8(d, v, shift + _DIGIT_BITS * j)]
    return [part for j, d in enumerate(_digits(v)) for part in _fit_int8(u, d, shift + _DIGIT_BITS * j)]


# --------------------------------------------------------------------------- cache
_CACHE: dict[str, Decomposition] = {}
_LOCK = threading.Lock()


def cached_decomposition(values: np.ndarray) -> Decomposition:
    """:func:`decompose` memoized by the sha256 of the (oriented) table."""
    key = table_sha256(values)
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is None:
        hit = decompose(values)
        with _LOCK:
            _CACHE[key] = hit
    return hit
