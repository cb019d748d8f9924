"""A multiplier as an approximate layer uses it: a validated 8-bit signed table in [activation, weight] order."""

from __future__ import annotations

import os

import numpy as np

from approxhil.encoding import OFFSET, OPERAND_BITS
from approxhil.errors import ApproxHilError, TableError
from approxhil.multipliers.golden import resolve_table
from approxhil.multipliers.spec import MultiplierSpec
from approxhil.tables import OPERAND_ROLES, TruthTable

MultiplierLike = TruthTable | str | os.PathLike | MultiplierSpec

#: Operand codes of signed 8-bit layers: values -128..127 index rows/columns 0..255.


def layer_table(multiplier: MultiplierLike, layer: str, operand_a: str | None = None) -> TruthTable:
    """Resolve ``multiplier`` for ``layer`` and check it fits signed 8-bit operands.

    ``operand_a`` (``activation`` or ``weight``) sets which tensor feeds operand A: for a name it
    picks the golden table's role, for a table it overrides the role recorded in the table.
    ``None`` keeps the table's record (``activation`` for names). Errors name the layer.
    """
    if operand_a is not None and operand_a not in OPERAND_ROLES:
        raise TableError(f"layer {layer}: operand_a must be one of {OPERAND_ROLES}, got {operand_a!r}")
    try:
        table = resolve_table(multiplier, operand_a=operand_a or "activation")
    except ApproxHilError as exc:
        raise type(exc)(f"layer {layer}: {exc.message}", fix=exc.fix) from None
    if operand_a is not None and table.operand_a != operand_a:
        table = table.with_operand_a(operand_a)
    if table.bits != OPERAND_BITS:
        raise TableError(
            f"layer {layer}: multiplier {table.name!r} is a {table.bits}-bit table "
            f"({table.values.shape[0]}x{table.values.shape[1]}); the layer multiplies 8-bit operands",
            fix="use an 8x8 multiplier (256x256 table), e.g. an SMApprox config such as 3330",
        )
    if not table.encoding.signed:
        raise TableError(
            f"layer {layer}: multiplier {table.name!r} is an unsigned table but the layer's operands are signed 8-bit values (-128..127)",
            fix="use its sign-magnitude form: golden_table(name) or table.to_sign_magnitude()",
        )
    return table


def oriented_values(table: TruthTable) -> np.ndarray:
    """The table as int32 ``[256, 256]`` indexed ``[activation + 128, weight + 128]``."""
    if table.low != -OFFSET:
        raise TableError(f"table {table.name!r}: operand grid starts at {table.low}, expected {-OFFSET}")
    values = table.values if table.operand_a == "activation" else table.values.T
    return np.array(values, dtype=np.int32, order="C", copy=True)
