"""``approxhil rtl import``: third-party Verilog multipliers become tables; bad modules are refused
with a clear message and no table file is written."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from approxhil.encoding import Encoding
from approxhil.errors import ToolFailedError
from approxhil.rtl.importer import VerilogImportError, import_verilog
from approxhil.tables import TruthTable

HERE = Path(__file__).parent
BAM = HERE / "mul8u_bam4.v"
SIGNED = HERE / "mul8s_exact.v"
pytestmark = pytest.mark.rtl


def bam4_reference() -> np.ndarray:
    a = np.arange(256)
    return sum((((a[:, None] >> i) & 1) * ((a[None, :] >> j) & 1)) << (i + j) for i in range(8) for j in range(8) if i + j >= 4)


@pytest.fixture(autouse=True)
def _needs_yosys(yosys_tool):
    return yosys_tool


def test_unsigned_import(simulator: str) -> None:
    table = import_verilog(BAM, "mul8u_bam4", simulator=simulator)
    assert table.encoding is Encoding.UNSIGNED and table.name == "mul8u_bam4"
    assert np.array_equal(table.values, bam4_reference())
    prov = table.provenance
    assert prov["source"] == "import" and prov["simulator"] == simulator and prov["module"] == "mul8u_bam4"
    assert set(prov["rtl_sha256"]) == {"mul8u_bam4.v"}


def test_signed_import_with_port_names() -> None:
    table = import_verilog(SIGNED, "mul8s_exact", a="x", b="w", y="prod", signed=True, simulator="icarus")
    assert table.encoding is Encoding.TWOS_COMPLEMENT and table.is_exact


def test_cli_import_writes_a_verified_table(tmp_path: Path, cli: Callable) -> None:
    out = tmp_path / "bam.npz"
    res = cli("rtl", "import", str(BAM), "--top", "mul8u_bam4", "-o", str(out), "--simulator", "icarus")
    assert res.returncode == 0, res.stderr
    assert np.array_equal(TruthTable.load(out).values, bam4_reference())


BAD = {
    "syntax": ("module m (input [7:0] A, input [7:0] B, output [15:0] O);\nassign O = A * B\nendmodule\n", "m", "bad.v:3"),
    "no_module": (
        "module other (input [7:0] A, input [7:0] B, output [15:0] O);\nassign O = A * B;\nendmodule\n",
        "m",
        "no module named 'm'",
    ),
    "port_name": ("module m (input [7:0] X, input [7:0] B, output [15:0] O);\nassign O = X * B;\nendmodule\n", "m", "no port 'A'"),
    "width": ("module m (input [3:0] A, input [7:0] B, output [15:0] O);\nassign O = A * B;\nendmodule\n", "m", "port A is input [3:0]"),
    "out_width": (
        "module m (input [7:0] A, input [7:0] B, output [7:0] O);\nassign O = A * B;\nendmodule\n",
        "m",
        "port O is output [7:0]",
    ),
    "clocked": (
        "module m (input clk, input [7:0] A, input [7:0] B, output reg [15:0] O);\nalways @(posedge clk) O <= A * B;\nendmodule\n",
        "m",
        "inputs besides A and B: clk",
    ),
    "latch": (
        "module m (input [7:0] A, input [7:0] B, output reg [15:0] O);\nalways @* if (A[0]) O = A * B;\nendmodule\n",
        "m",
        "holds state",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_modules_are_refused_without_a_table(case: str, tmp_path: Path, cli: Callable) -> None:
    text, top, message = BAD[case]
    src = tmp_path / "bad.v"
    src.write_text(text)
    with pytest.raises((VerilogImportError, ToolFailedError)) as info:
        import_verilog(src, top, simulator="icarus", build_root=tmp_path / "build")
    assert message in str(info.value)
    out = tmp_path / "t.npz"
    res = cli("rtl", "import", str(src), "--top", top, "-o", str(out), "--simulator", "icarus")
    assert res.returncode == 2 and res.stderr.startswith("error: ") and len(res.stderr.strip().splitlines()) == 1
    assert message.split(":")[0] in res.stderr
    assert not out.exists() and not list(tmp_path.glob(".t.npz*"))


def test_import_refuses_a_hang(tmp_path: Path, cli: Callable) -> None:
    src = tmp_path / "ring.v"
    src.write_text(
        "module ring (input [7:0] A, input [7:0] B, output [15:0] O);\n"
        "wire x;\nassign x = (A == 8'd9) ? ~x : 1'b0;\nassign O = {15'd0, x};\nendmodule\n"
    )
    out = tmp_path / "t.npz"
    res = cli("rtl", "import", str(src), "--top", "ring", "-o", str(out), "--simulator", "icarus", "--timeout", "8")
    assert res.returncode == 2 and ("did not finish" in res.stderr or "loop" in res.stderr), res.stderr
    assert not out.exists()
    if "did not finish" in res.stderr:  # the message names a log the user can still open
        log = Path(re.search(r"log (\S+\.log)", res.stderr).group(1))
        assert log.is_file() and log.stat().st_size > 0, res.stderr
