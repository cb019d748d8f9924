"""The ``approxhil tables`` commands, run as a user runs them (subprocess, exit codes)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from approxhil.tables import TruthTable


def test_report_lists_designs(cli: Callable) -> None:
    out = cli("tables", "report")
    assert out.returncode == 0, out.stderr
    assert "| 3330" in out.stdout and "6.39" in out.stdout and "12.62" in out.stdout


def test_export_info_import(tmp_path: Path, cli: Callable) -> None:
    path = tmp_path / "t.npz"
    out = cli("tables", "export", "--config", "3330", "-o", str(path))
    assert out.returncode == 0, out.stderr
    info = cli("tables", "info", str(path))
    assert info.returncode == 0 and "sign-magnitude" in info.stdout and "6.386" in info.stdout
    np.save(tmp_path / "f.npy", TruthTable.load(path).values)
    imp = cli("tables", "import", str(tmp_path / "f.npy"), "--encoding", "sign-magnitude", "-o", str(tmp_path / "f.npz"))
    assert imp.returncode == 0, imp.stderr
    assert TruthTable.load(tmp_path / "f.npz").sha256 == TruthTable.load(path).sha256


def test_errors_are_one_line_and_leave_no_file(tmp_path: Path, cli: Callable) -> None:
    for args in (["--config", "39300"], ["--config", "3930"], ["--config", "3330", "--encoding", "bogus"]):
        out = cli("tables", "export", *args, "-o", str(tmp_path / "x.npz"))
        assert out.returncode == 2
        assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) == 1
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04garbage")
    out = cli("tables", "info", str(tmp_path / "bad.npz"))
    assert out.returncode == 2 and "corrupt" in out.stderr
    assert not (tmp_path / "x.npz").exists()
