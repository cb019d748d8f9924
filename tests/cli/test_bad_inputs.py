"""Catalogue of bad input through the command line, as a user would type it.

Every case must end with exit status 2 and exactly one ``error:`` line that names a fix, print no
traceback, and leave the folder it works in exactly as it was (no new, changed or partial file).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from approxhil.multipliers import golden_table

Case = Callable[[Path], list[str]]


def _table(tmp: Path) -> Path:
    path = tmp / "good.npz"
    golden_table("3330").save(path)
    return path


def _truncated(tmp: Path) -> Path:
    data = _table(tmp).read_bytes()
    path = tmp / "truncated.npz"
    path.write_bytes(data[: len(data) // 2])
    return path


def _garbage(tmp: Path, name: str) -> Path:
    path = tmp / name
    path.write_bytes(b"\x00not a file of this kind\xff" * 10)
    return path


def _unsigned_16(tmp: Path) -> Path:
    path = tmp / "mul4u.npy"
    ops = np.arange(16)
    np.save(path, np.outer(ops, ops))  # products up to 225: not a two's-complement 4-bit table
    return path


def _damaged_result(tmp: Path) -> Path:
    cell = tmp / "res" / "resnet8" / "3330" / "errormodel" / "ep5-p1000-nall-s0"
    cell.mkdir(parents=True)
    (cell / "result.json").write_text('{"cell": {"network": "resnet8", ')
    return tmp / "res"


def _damaged_float(tmp: Path) -> Path:
    path = tmp / "res" / "digits_cnn" / "float" / "model.pt"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 truncated")
    return tmp / "res"


def _a_file(tmp: Path) -> Path:
    path = tmp / "plain.txt"
    path.write_text("not a folder")
    return path


CASES: dict[str, Case] = {
    # usage mistakes (Typer/Click)
    "no arguments": lambda t: [],
    "misspelt command": lambda t: ["tabels", "export"],
    "group without command": lambda t: ["tables"],
    "unknown option": lambda t: ["tables", "export", "--config", "3330", "-o", "t.npz", "--bogus"],
    "missing required option": lambda t: ["tables", "export", "-o", "t.npz"],
    "non-integer epochs": lambda t: ["retrain", "--multiplier", "3330", "--epochs", "five"],
    "non-number hybrid": lambda t: ["retrain", "--multiplier", "3330", "--hybrid", "lots"],
    # tables
    "unknown config": lambda t: ["tables", "export", "--config", "39", "-o", "t.npz"],
    "unknown design digit": lambda t: ["tables", "export", "--config", "3390", "-o", "t.npz"],
    "unknown encoding": lambda t: ["tables", "export", "--config", "3330", "--encoding", "gray", "-o", "t.npz"],
    "unknown operand role": lambda t: ["tables", "export", "--config", "3330", "--operand-a", "bias", "-o", "t.npz"],
    "output is a folder": lambda t: ["tables", "export", "--config", "3330", "-o", str(t)],
    "output below a file": lambda t: ["tables", "export", "--config", "3330", "-o", str(_a_file(t) / "t.npz")],
    "missing table": lambda t: ["tables", "info", "missing.npz"],
    "truncated table": lambda t: ["tables", "info", str(_truncated(t))],
    "garbage table": lambda t: ["tables", "info", str(_garbage(t, "garbage.npz"))],
    "missing foreign table": lambda t: ["tables", "import", "missing.npy", "-o", "t.npz"],
    "foreign table of unknown kind": lambda t: ["tables", "import", str(_garbage(t, "table.xlsx")), "-o", "t.npz"],
    "unsigned 4-bit table as two's complement": lambda t: [
        "tables",
        "import",
        str(_unsigned_16(t)),
        "--encoding",
        "twos-complement",
        "-o",
        "t.npz",
    ],
    # rtl
    "unknown simulator": lambda t: ["rtl", "export", "--config", "3330", "--simulator", "modelsim", "-o", "t.npz"],
    "rtl export to a folder": lambda t: ["rtl", "export", "--config", "3330", "-o", str(t)],
    "missing verilog": lambda t: ["rtl", "import", "missing.v", "--top", "m", "-o", "t.npz"],
    # hardware in the loop
    "unknown backend": lambda t: ["hil", "table", "--backend", "fpga", "--config", "3330", "-o", "t.npz"],
    "hil table to a folder": lambda t: ["hil", "table", "--config", "3330", "-o", str(t)],
    "no lanes": lambda t: ["hil", "table", "--config", "3330", "--lanes", "0", "-o", "t.npz"],
    "too many lanes": lambda t: ["hil", "table", "--config", "3330", "--lanes", "99", "-o", "t.npz"],
    "config not in the simulated core": lambda t: ["hil", "table", "--config", "3330", "--configs", "0000 2222", "-o", "t.npz"],
    "remote backend without a board": lambda t: ["hil", "info", "--backend", "remote"],
    # fit / retrain / evaluate
    "unknown network": lambda t: ["fit", "--model", "lenet", "--multiplier", "3330", "-o", "em.pt"],
    "no fit samples": lambda t: ["fit", "--model", "digits_cnn", "--multiplier", "3330", "--samples", "0", "-o", "em.pt"],
    "unreadable weights": lambda t: [
        "fit",
        "--model",
        "digits_cnn",
        "--multiplier",
        "3330",
        "--weights",
        str(_garbage(t, "w.pt")),
        "-o",
        "em.pt",
    ],
    "missing weights": lambda t: ["retrain", "--multiplier", "3330", "--weights", "/nonexistent/w.h5", "--results", "res"],
    "negative epochs": lambda t: ["retrain", "--multiplier", "3330", "--epochs", "-1", "--results", "res"],
    "empty train subset": lambda t: ["retrain", "--multiplier", "3330", "--train-subset", "0", "--results", "res"],
    "no fit samples for retraining": lambda t: ["retrain", "--multiplier", "3330", "--samples", "0", "--results", "res"],
    "unknown mode": lambda t: ["retrain", "--multiplier", "3330", "--mode", "sgd", "--results", "res"],
    "negative hybrid": lambda t: ["retrain", "--multiplier", "3330", "--hybrid", "-0.5", "--results", "res"],
    "unknown gradient estimator": lambda t: [
        "retrain",
        "--multiplier",
        "3330",
        "--mode",
        "behavioral",
        "--gradient",
        "bogus",
        "--results",
        "res",
    ],
    "negative gradient window": lambda t: [
        "retrain",
        "--multiplier",
        "3330",
        "--gradient",
        "lut-diff",
        "--gradient-window",
        "-1",
        "--results",
        "res",
    ],
    "gradient window beyond the table": lambda t: ["experiments", "--gradient", "lut-diff", "--gradient-window", "200", "--results", "res"],
    "non-integer gradient window": lambda t: ["retrain", "--multiplier", "3330", "--gradient-window", "two", "--results", "res"],
    "missing error model": lambda t: ["retrain", "--multiplier", "3330", "--error-model", "missing.pt", "--results", "res"],
    "garbage error model": lambda t: ["retrain", "--multiplier", "3330", "--error-model", str(_garbage(t, "em.pt")), "--results", "res"],
    "damaged result": lambda t: ["retrain", "--multiplier", "3330", "--results", str(_damaged_result(t))],
    "damaged cached float network": lambda t: [
        "retrain",
        "--model",
        "digits_cnn",
        "--multiplier",
        "2222",
        "--results",
        str(_damaged_float(t)),
    ],
    "missing retrained network": lambda t: ["evaluate", "--model", "digits_cnn", "--multiplier", "2222", "--retrained", "missing.pt"],
    # experiments and report
    "no parallel jobs": lambda t: ["experiments", "--networks", "digits_cnn", "--multipliers", "2222", "--jobs", "0", "--results", "res"],
    "unknown grid mode": lambda t: ["experiments", "--modes", "errormodel,sgd", "--results", "res"],
    "non-integer seeds": lambda t: ["experiments", "--seeds", "a,b", "--results", "res"],
    "unknown executor": lambda t: ["experiments", "--networks", "digits_cnn", "--executor", "ray", "--results", "res"],
    "dask executor without its package": lambda t: ["experiments", "--networks", "digits_cnn", "--executor", "dask", "--results", "res"],
    "malformed scheduler address": lambda t: ["experiments", "--executor", "dask", "--address", "localhost:8786", "--results", "res"],
    "scheduler address without dask": lambda t: ["experiments", "--address", "tcp://127.0.0.1:8786", "--results", "res"],
    "no threads per cell": lambda t: ["experiments", "--executor", "dask", "--threads", "0", "--results", "res"],
    "missing results folder": lambda t: ["report", "--results", "/nonexistent", "--out", "docs"],
    "empty results folder": lambda t: ["report", "--results", str(t), "--out", "docs"],
    # demo
    "demo on the wrong data set": lambda t: ["demo", "--model", "resnet8", "--dataset", "digits"],
    "demo with an unknown config": lambda t: ["demo", "--config", "39"],
    "demo with negative epochs": lambda t: ["demo", "--epochs", "-1"],
}


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(folder)): (p.stat().st_mode, p.read_bytes() if p.is_file() else b"") for p in sorted(folder.rglob("*"))}


#: Run as a user does (a new interpreter); the rest call the same entry point in-process, which is faster.
SUBPROCESS = ("no arguments", "misspelt command", "unknown option", "missing required option", "missing weights")
#: Packages a case runs without, as if they were not installed.
UNINSTALLED = {"dask executor without its package": ("distributed",)}


def _run(
    args: list[str], work: Path, cache: Path, in_process: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    if not in_process:
        env = {**os.environ, "APPROXHIL_CACHE": str(cache)}
        res = subprocess.run([sys.executable, "-m", "approxhil", *args], cwd=work, env=env, capture_output=True, text=True, timeout=300)
        return res.returncode, res.stdout, res.stderr
    from approxhil.cli import main

    monkeypatch.chdir(work)
    monkeypatch.setenv("APPROXHIL_CACHE", str(cache))
    capsys.readouterr()
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_gets_one_line_and_exit_2(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    args = CASES[name](work)
    (work / "docs").mkdir(exist_ok=True)
    (work / "docs" / "results.md").write_text("a good report")
    before = _snapshot(work)
    for module in UNINSTALLED.get(name, ()):
        monkeypatch.setitem(sys.modules, module, None)  # `import module` raises ImportError
    start = time.perf_counter()
    code, stdout, stderr = _run(args, work, tmp_path / "cache", name not in SUBPROCESS, monkeypatch, capsys)
    seconds = time.perf_counter() - start
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert code == 2, f"{name}: exit {code}\n{stdout[-1500:]}\n{stderr[-3000:]}"
    assert len(errors) == 1 and "fix:" in errors[0], f"{name}: {stderr[-3000:]}"
    assert "Traceback" not in stderr + stdout, name
    assert _snapshot(work) == before, f"{name}: files changed"
    if name in SUBPROCESS[:4]:
        assert seconds < 5, f"{name}: {seconds:.1f} s"  # usage errors answer before any heavy import (≤ 1 s measured in bench)


def test_unexpected_errors_print_one_line_and_keep_the_traceback(tmp_path: Path) -> None:
    """A defect (not a user mistake) exits 1 with one line naming the file that holds its traceback."""
    code = (
        "import sys\n"
        "from approxhil import cli\n"
        "@cli.app.command('boom')\n"
        "def boom() -> None:\n"
        "    raise ZeroDivisionError('a defect')\n"
        "cli.main(['boom'])\n"
    )
    env = {**os.environ, "APPROXHIL_CACHE": str(tmp_path)}
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    (line,) = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    log = Path(line.split("full traceback in ")[1].split(";")[0])
    assert "ZeroDivisionError: a defect" in log.read_text()


def test_catalogue_size() -> None:
    assert len(CASES) >= 40
    json.dumps(sorted(CASES))  # names print in the closing report
