"""Golden models of the SMApprox multipliers, operand encodings and multiplier names."""

from approxhil.encoding import Encoding, operand_range, sign_magnitude
from approxhil.multipliers.compose import PAPER_CONFIGS, mul8x8, parse_config
from approxhil.multipliers.designs4x4 import DESIGNS, PAPER_LUTS_4X4, mul4x4
from approxhil.multipliers.golden import golden_table, resolve_table, unsigned_core
from approxhil.multipliers.spec import MultiplierSpec, parse_multiplier

__all__ = [
    "DESIGNS",
    "PAPER_CONFIGS",
    "PAPER_LUTS_4X4",
    "Encoding",
    "MultiplierSpec",
    "golden_table",
    "mul4x4",
    "mul8x8",
    "operand_range",
    "parse_config",
    "parse_multiplier",
    "resolve_table",
    "sign_magnitude",
    "unsigned_core",
]
