"""Exhaustive verification of every SMApprox netlist on Icarus and Verilator, and the pyverilog model.

One shared sweep per simulator (see ``conftest.verification``) covers all 256 pairs of each 4x4
design and all 65,536 pairs of 0000, every paper config and the signed wrapper; each test checks
one table bit for bit against the golden model, then against the netlist evaluated in Python.
"""

from __future__ import annotations

import numpy as np
import pytest
from approxhil.rtl.netlist import smapprox_table
from approxhil.rtl.sweep import compare
from approxhil.rtl.tools import available_simulators
from approxhil.rtl.verify import verification_checks

CHECKS = verification_checks()
PARAMS = [pytest.param(c, sim, id=f"{c.spec}-{c.encoding}-{sim}") for c in CHECKS for sim in ("icarus", "verilator")]


@pytest.mark.rtl
@pytest.mark.parametrize(("check", "sim"), PARAMS)
def test_rtl_equals_golden(check, sim, verification) -> None:
    result = verification(sim)
    table = result.result.tables[check.target.label]
    expected_pairs = (1 << check.target.bits) ** 2
    assert table.size == expected_pairs
    report = compare(table, check.golden(), f"{check.spec} {check.encoding} on {sim}")
    assert report is None, report


@pytest.mark.rtl
@pytest.mark.parametrize("check", CHECKS, ids=[f"{c.spec}-{c.encoding}" for c in CHECKS])
def test_pyverilog_model_equals_golden_and_simulators(check, verification) -> None:
    model = smapprox_table(check.spec, check.encoding)
    assert compare(model, check.golden(), f"pyverilog {check.spec}") is None
    for sim in available_simulators():
        table = verification(sim).result.tables[check.target.label]
        assert np.array_equal(model, table), compare(model, table, f"pyverilog vs {sim}")


@pytest.mark.rtl
def test_sweep_reports_timings(verification) -> None:
    result = verification("icarus")
    assert result.ok and result.result.run_seconds > 0
    assert result.pairs == 5 * 256 + (len(CHECKS) - 5) * 65536
