"""``approxhil rtl export`` and ``approxhil rtl yosys`` as a user runs them; the LUT report in docs/."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from approxhil.multipliers import PAPER_LUTS_4X4, golden_table
from approxhil.rtl.sources import file_hashes, smapprox_sources
from approxhil.rtl.tools import find_simulator
from approxhil.rtl.yosys import SynthTarget, synthesize
from approxhil.tables import TruthTable

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.rtl
def test_export_writes_the_simulated_table_with_provenance(tmp_path: Path, cli: Callable) -> None:
    find_simulator("verilator")
    out = tmp_path / "t.npz"
    res = cli("rtl", "export", "--config", "3330", "--simulator", "verilator", "-o", str(out))
    assert res.returncode == 0, res.stderr
    table = TruthTable.load(out)
    golden = golden_table("3330")
    assert table.sha256 == golden.sha256 and table.encoding == golden.encoding
    prov = table.provenance
    assert prov["source"] == "rtl-sim" and prov["simulator"] == "verilator" and prov["simulator_version"] >= "5.036"
    assert prov["module"] == "smapprox_mul8x8_signed" and prov["parameters"] == {"CONFIG": 3330}
    assert prov["rtl_sha256"] == file_hashes(smapprox_sources())


@pytest.mark.rtl
def test_export_of_a_4x4_design_on_icarus(tmp_path: Path, cli: Callable) -> None:
    out = tmp_path / "d3.npz"
    res = cli("rtl", "export", "--config", "4x4-3", "--simulator", "icarus", "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert np.array_equal(TruthTable.load(out).values, golden_table("4x4-3").values)


@pytest.mark.parametrize(
    "args", [["--config", "3930"], ["--config", "3330", "--simulator", "modelsim"], ["--config", "4x4-2", "--encoding", "sign-magnitude"]]
)
def test_export_errors_are_one_line_and_leave_no_file(args: list[str], tmp_path: Path, cli: Callable) -> None:
    out = tmp_path / "x.npz"
    res = cli("rtl", "export", *args, "-o", str(out))
    assert res.returncode == 2 and res.stderr.startswith("error: ") and len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.rtl
def test_approximate_4x4_designs_fit_the_paper_lut_budget(yosys_tool) -> None:
    counts = synthesize([SynthTarget(f"4x4-{d}", f"smapprox_mul4x4_d{d}", {}) for d in range(5)])
    for d in (1, 2, 3):
        allowed = 8 if d == 3 else PAPER_LUTS_4X4[d]
        assert counts[f"4x4-{d}"].luts <= allowed, counts[f"4x4-{d}"]
    assert counts["4x4-0"].luts <= 12 and counts["4x4-0"].carry4 >= 1
    assert counts["4x4-2"].carry4 == 0


@pytest.mark.rtl
def test_docs_report_matches_synthesis(yosys_tool) -> None:
    """docs/rtl.md is current: its 4x4 and 3330 rows equal a fresh synthesis."""
    doc = (ROOT / "docs" / "rtl.md").read_text()
    counts = synthesize([SynthTarget("4x4-2", "smapprox_mul4x4_d2", {}), SynthTarget("3330", "smapprox_mul8x8", {"CONFIG": 3330})])
    for label, c in counts.items():
        row = re.search(rf"^\| {re.escape(label)} +\| \S+ +\| (\d+) +\| (\d+) ", doc, re.MULTILINE)
        assert row, f"no row {label} in docs/rtl.md (run approxhil rtl yosys --write)"
        assert (int(row.group(1)), int(row.group(2))) == (c.luts, c.carry4)
