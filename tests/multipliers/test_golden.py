"""Golden models reproduce docs/multipliers.md (the paper's Tables 1 and 2)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from approxhil.errors import SpecError
from approxhil.multipliers import PAPER_CONFIGS, golden_table, mul4x4, mul8x8, parse_multiplier

MRE_4X4 = {0: 0.0, 1: 7.22, 2: 12.62, 3: 12.34, 4: 9.08}
MRE_8X8 = {"1100": 2.08, "2200": 3.78, "3300": 3.63, "1110": 3.96, "3330": 6.39, "2220": 6.66, "3333": 13.63, "2222": 16.56}


@pytest.mark.parametrize("design", sorted(MRE_4X4))
def test_mre_4x4(design: int) -> None:
    assert round(golden_table(f"4x4-{design}").metrics()["mre"], 2) == MRE_4X4[design]


@pytest.mark.parametrize("config", sorted(MRE_8X8))
def test_mre_8x8(config: str) -> None:
    for encoding in ("unsigned", "sign-magnitude"):
        assert round(golden_table(config, encoding=encoding).metrics()["mre"], 2) == MRE_8X8[config]


def test_exact_designs() -> None:
    a, b = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    assert np.array_equal(mul4x4(0, a, b), a * b)
    assert golden_table("0000").is_exact
    assert golden_table("0000", encoding="unsigned").is_exact


def test_design2_equations_bitwise() -> None:
    """Spot-check design 2 against its equations written out for one operand pair."""
    a, b = 0b1111, 0b1111
    # g = 1, P7 = 1, P6 = a3b3 ^ g = 0, P5 = 0, P4 = 1^1^1^1 = 0, P3 = 0^1 = 1, P2 = 1^1^1^1 = 0, P1 = 0, P0 = 1
    assert int(mul4x4(2, a, b)) == 0b10001001


def test_composition_uses_each_block() -> None:
    """Config digits select the block in position LL, HL, LH, HH (asymmetric in A and B)."""
    a, b = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    for pos in range(4):
        digits = ["0"] * 4
        digits[pos] = "2"
        table = mul8x8("".join(digits), a, b)
        a_nib = (a & 15) if pos in (0, 2) else (a >> 4)
        b_nib = (b & 15) if pos in (0, 1) else (b >> 4)
        shift = [0, 4, 4, 8][pos]
        want = a * b + ((mul4x4(2, a_nib, b_nib) - a_nib * b_nib) << shift)
        assert np.array_equal(table, want)
    assert not np.array_equal(mul8x8("1110", a, b), mul8x8("1110", a, b).T)


def test_sign_magnitude_symmetry() -> None:
    for config in PAPER_CONFIGS:
        t = golden_table(config)
        vals = np.arange(-127, 128)
        A, B = np.meshgrid(vals, vals, indexing="ij")
        assert np.array_equal(t.lookup(-A, B), -t.lookup(A, B))
        assert np.array_equal(t.lookup(A, -B), -t.lookup(A, B))
        core = golden_table(config, encoding="unsigned")
        assert int(t.lookup(-128, 5)) == -int(core.lookup(128, 5))


def test_all_tables_fast() -> None:
    start = time.perf_counter()
    for config in PAPER_CONFIGS:
        golden_table(config)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("bad", ["333", "33300", "3935", "abcd", "", "evo:mul8u_1JFF", "4x4-7"])
def test_bad_names(bad: str) -> None:
    with pytest.raises(SpecError):
        parse_multiplier(bad)


def test_spec_strings() -> None:
    assert str(parse_multiplier("3330")) == "3330"
    assert str(parse_multiplier("d2")) == "4x4-2"
    assert parse_multiplier("x/t.npz").kind == "file"
