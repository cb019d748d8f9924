"""Truth tables from the golden models, and resolution of any multiplier name to a table."""

from __future__ import annotations

import os

import numpy as np

from approxhil.encoding import Encoding
from approxhil.errors import TableError
from approxhil.multipliers.compose import mul8x8
from approxhil.multipliers.designs4x4 import mul4x4
from approxhil.multipliers.spec import MultiplierSpec, parse_multiplier
from approxhil.tables import TruthTable, provenance

_GRID8 = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
_GRID4 = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")


def unsigned_core(spec: str | MultiplierSpec) -> np.ndarray:
    """The unsigned product table of an SMApprox multiplier (16x16 or 256x256, int64)."""
    spec = parse_multiplier(spec)
    if spec.kind == "smapprox8":
        return mul8x8(spec.name, *_GRID8)
    if spec.kind == "smapprox4":
        return mul4x4(int(spec.name.split("-")[1]), *_GRID4)
    raise TableError(f"{spec} is a table file, not a golden model")


def golden_table(
    spec: str | MultiplierSpec,
    encoding: Encoding | str | None = None,
    operand_a: str = "activation",
) -> TruthTable:
    """Truth table of an SMApprox multiplier from its golden model.

    Default encoding: sign-magnitude for 8x8 configs (what a signed 8-bit network uses),
    unsigned for 4x4 designs.
    """
    spec = parse_multiplier(spec)
    core = unsigned_core(spec)
    if encoding is None:
        encoding = Encoding.SIGN_MAGNITUDE if spec.kind == "smapprox8" else Encoding.UNSIGNED
    encoding = Encoding.parse(encoding)
    table = TruthTable(core, name=spec.name, operand_a=operand_a, provenance=provenance("golden", config=spec.name))
    if encoding is Encoding.SIGN_MAGNITUDE:
        return table.to_sign_magnitude()
    if encoding is Encoding.TWOS_COMPLEMENT:
        raise TableError(
            f"SMApprox {spec} is an unsigned core; it has no two's-complement form",
            fix="use --encoding sign-magnitude or unsigned",
        )
    return table


def resolve_table(
    multiplier: str | os.PathLike | MultiplierSpec | TruthTable,
    encoding: Encoding | str | None = None,
    operand_a: str = "activation",
) -> TruthTable:
    """Any multiplier reference (config name, 4x4 design, table file, table) as a :class:`TruthTable`."""
    if isinstance(multiplier, TruthTable):
        return multiplier
    spec = parse_multiplier(multiplier)
    if spec.kind == "file":
        return TruthTable.load(spec.name)
    return golden_table(spec, encoding=encoding, operand_a=operand_a)
