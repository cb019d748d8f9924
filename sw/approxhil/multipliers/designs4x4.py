"""Golden models of the SMApprox 4x4 unsigned multipliers (designs 0-4), vectorized over numpy arrays.

Each design maps ``a[3:0] x b[3:0] -> p[7:0]``. The designs are asymmetric: ``a`` is the slice of
operand A. The boolean equations are the specification of the RTL netlists in ``rtl/smapprox``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from approxhil.errors import SpecError


def _bits(x: np.ndarray, n: int) -> list[np.ndarray]:
    return [(x >> k) & 1 for k in range(n)]


def _pack(bits: list[np.ndarray]) -> np.ndarray:
    out = np.zeros_like(bits[0])
    for k, bit in enumerate(bits):
        out |= bit << k
    return out


def design0(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact product."""
    return a * b


def _xor_array_23(a: np.ndarray, b: np.ndarray, carries: bool) -> np.ndarray:
    """Designs 2 (``carries=True``) and 3: xor partial-product columns, with one-level carries."""
    a0, a1, a2, a3 = _bits(a, 4)
    b0, b1, b2, b3 = _bits(b, 4)
    g = a3 & a2 & b3 & b2
    p0 = a0 & b0
    p1 = (a1 & b0) ^ (a0 & b1)
    p2 = (a2 & b0) ^ (a1 & b1) ^ (a0 & b2) ^ (a1 & b0 & a0 & b1)
    p3 = (a3 & b0) ^ (a2 & b1) ^ (a1 & b2) ^ (a0 & b3)
    p4 = (a3 & b1) ^ (a2 & b2) ^ (a1 & b3)
    if carries:
        p3 = p3 ^ (a2 & b0 & a1 & b1)
        p4 = p4 ^ (a2 & b1 & a1 & b2)
    p5 = (a3 & b2) ^ (a2 & b3)
    p6 = (a3 & b3) ^ g
    return _pack([p0, p1, p2, p3, p4, p5, p6, g])


def design2(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """7-LUT design: xor columns with a one-level carry into bits 2-4, no carry chain."""
    return _xor_array_23(a, b, carries=True)


def design3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """As design 2 without the carries into bits 3 and 4."""
    return _xor_array_23(a, b, carries=False)


def _partial_products(a: np.ndarray, b: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    x = a * (b & 3)
    y = a * ((b >> 2) & 3)
    return _bits(x, 6), _bits(y, 6)


def design1(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """12-LUT design: exact partial products ``a*b[1:0]`` and ``a*b[3:2]``, carries look back one bit."""
    x, y = _partial_products(a, b)
    p = [
        x[0],
        x[1],
        x[2] ^ y[0],
        x[3] ^ y[1] ^ (x[2] & y[0]),
        x[4] ^ y[2] ^ (x[3] & y[1]),
        x[5] ^ y[3] ^ (x[4] & y[2]),
        y[4] ^ (x[5] & y[3]),
        y[5] ^ (y[4] & x[5] & y[3]),
    ]
    return _pack(p)


def design4(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Labelled variant of design 1 (another published netlist); does not reproduce the paper's MREs."""
    x, y = _partial_products(a, b)
    a0, a1, a2, _ = _bits(a, 4)
    _, b1, b2, _ = _bits(b, 4)
    p = [
        x[0],
        x[1],
        x[2] ^ y[0],
        x[3] ^ y[1] ^ (a1 & b1 & a0 & b2),
        x[4] ^ y[2] ^ (a2 & b1 & a1 & b2),
        x[5] ^ y[3],
        y[4],
        y[5],
    ]
    return _pack(p)


DESIGNS: dict[int, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    0: design0,
    1: design1,
    2: design2,
    3: design3,
    4: design4,
}

#: LUT counts the paper gives for each 4x4 design (None: not in the paper).
PAPER_LUTS_4X4: dict[int, int | None] = {0: 12, 1: 12, 2: 7, 3: 7, 4: None}


def check_design(design: int) -> int:
    """Return ``design`` if it names a 4x4 design, else raise a :class:`SpecError`."""
    if design not in DESIGNS:
        raise SpecError(
            f"unknown 4x4 design digit {design!r}",
            fix=f"use one of {', '.join(str(d) for d in DESIGNS)}",
        )
    return design


def mul4x4(design: int, a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Product of 4-bit unsigned operands through 4x4 design ``design`` (broadcasting)."""
    fn = DESIGNS[check_design(int(design))]
    a_arr = np.asarray(a, dtype=np.int64)
    b_arr = np.asarray(b, dtype=np.int64)
    if (a_arr < 0).any() or (a_arr > 15).any() or (b_arr < 0).any() or (b_arr > 15).any():
        raise SpecError("4x4 operands must lie in 0..15")
    return fn(a_arr, b_arr)
