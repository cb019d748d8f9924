"""8x8 unsigned SMApprox multipliers composed from four 4x4 blocks, named by a four-digit config.

Config ``d_LL d_HL d_LH d_HH``: ``LL = M[d_LL](A_lo, B_lo)``, ``HL = M[d_HL](A_hi, B_lo)``,
``LH = M[d_LH](A_lo, B_hi)``, ``HH = M[d_HH](A_hi, B_hi)``; the partial products add exactly.
"""

from __future__ import annotations

import numpy as np

from approxhil.errors import SpecError
from approxhil.multipliers.designs4x4 import DESIGNS, mul4x4

#: The eight configs of the paper's Table 2 with its LUT counts and MREs (n = 128).
PAPER_CONFIGS: dict[str, dict[str, float]] = {
    "1100": {"luts": 64, "mre": 2.1},
    "2200": {"luts": 62, "mre": 3.8},
    "3300": {"luts": 62, "mre": 3.6},
    "1110": {"luts": 64, "mre": 4.0},
    "3330": {"luts": 59, "mre": 6.4},
    "2220": {"luts": 59, "mre": 6.7},
    "3333": {"luts": 54, "mre": 13.6},
    "2222": {"luts": 52, "mre": 16.6},
}


def parse_config(config: str | int) -> tuple[int, int, int, int]:
    """Split a four-digit config (``"3330"``) into its digits, validating each design."""
    text = str(config).strip()
    if len(text) != 4 or not text.isdigit():
        raise SpecError(
            f"8x8 config {text!r} must have exactly four digits (LL HL LH HH)",
            fix="write e.g. 3330 or 0000",
        )
    digits = tuple(int(c) for c in text)
    for d in digits:
        if d not in DESIGNS:
            raise SpecError(
                f"8x8 config {text!r} has unknown design digit {d}",
                fix=f"use digits from {''.join(str(k) for k in DESIGNS)}",
            )
    return digits  # type: ignore[return-value]


def mul8x8(config: str | int, a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Product of 8-bit unsigned operands through the SMApprox 8x8 multiplier ``config``."""
    d_ll, d_hl, d_lh, d_hh = parse_config(config)
    a_arr = np.asarray(a, dtype=np.int64)
    b_arr = np.asarray(b, dtype=np.int64)
    if (a_arr < 0).any() or (a_arr > 255).any() or (b_arr < 0).any() or (b_arr > 255).any():
        raise SpecError("8x8 operands must lie in 0..255")
    a_lo, a_hi = a_arr & 15, a_arr >> 4
    b_lo, b_hi = b_arr & 15, b_arr >> 4
    ll = mul4x4(d_ll, a_lo, b_lo)
    hl = mul4x4(d_hl, a_hi, b_lo)
    lh = mul4x4(d_lh, a_lo, b_hi)
    hh = mul4x4(d_hh, a_hi, b_hi)
    return ll + ((hl + lh) << 4) + (hh << 8)
