"""Operand encodings of a truth table and the signed sign-magnitude form of an unsigned core.

A table over ``bits``-bit operands is stored as a ``2^bits x 2^bits`` array indexed by
``operand - low`` where ``low`` is 0 (unsigned) or ``-2^(bits-1)`` (signed encodings).
"""

from __future__ import annotations

import enum

import numpy as np

from approxhil.errors import SpecError


class Encoding(str, enum.Enum):
    """How the multiplier interprets its operands."""

    UNSIGNED = "unsigned"
    SIGN_MAGNITUDE = "sign-magnitude"
    TWOS_COMPLEMENT = "twos-complement"

    @classmethod
    def parse(cls, value: str | Encoding) -> Encoding:
        """Return the encoding named ``value`` or raise a :class:`SpecError` listing the valid names."""
        if isinstance(value, Encoding):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            names = ", ".join(e.value for e in cls)
            raise SpecError(f"unknown operand encoding {value!r}", fix=f"use one of: {names}") from None

    @property
    def signed(self) -> bool:
        return self is not Encoding.UNSIGNED

    def __str__(self) -> str:
        return self.value


def operand_range(encoding: Encoding, bits: int) -> tuple[int, int]:
    """Inclusive ``(low, high)`` operand values of a ``bits``-bit operand in ``encoding``."""
    if encoding.signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def operands(encoding: Encoding, bits: int) -> np.ndarray:
    """All operand values in table-index order."""
    low, high = operand_range(encoding, bits)
    return np.arange(low, high + 1, dtype=np.int64)


def sign_magnitude(unsigned_core: np.ndarray) -> np.ndarray:
    """Signed table ``p(a, b) = sign(a) sign(b) M(|a|, |b|)`` from an unsigned core table ``M``.

    Uses rows/columns ``0..2^(bits-1)`` of the core (``|a| <= 2^(bits-1)``).
    """
    size = unsigned_core.shape[0]
    half = size // 2
    vals = np.arange(-half, half, dtype=np.int64)
    mag = np.abs(vals)
    sgn = np.sign(vals)
    return (sgn[:, None] * sgn[None, :]) * unsigned_core[np.ix_(mag, mag)]
