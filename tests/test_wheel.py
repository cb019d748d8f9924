"""The package as users install it: a wheel built from this checkout, installed into a fresh virtual
environment, run from a folder outside the repository (RTL, simulated board, C kernel, demo).

The environment reuses the installed dependencies (``--system-site-packages``, ``--no-deps``), so the
test needs no network; everything approxhil itself needs must come from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from approxhil import __version__
from approxhil.multipliers import golden_table
from approxhil.tables import TruthTable

ROOT = Path(__file__).resolve().parent.parent
IMPORTER_V = ROOT / "tests" / "rtl" / "importer" / "mul8u_bam4.v"

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("wheel")]


class Installed:
    """A virtual environment holding the wheel, and a working folder outside the repository."""

    def __init__(self, root: Path, wheel: Path) -> None:
        self.root = root
        self.wheel = wheel
        self.venv = root / "venv"
        self.work = root / "work"
        self.cache = root / "cache"
        self.work.mkdir()
        self.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "APPROXHIL_BUILD", "APPROXHIL_RTL", "APPROXHIL_HW")}
        self.env["APPROXHIL_CACHE"] = str(self.cache)  # fresh: every build and the C kernel compile from the wheel

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """``approxhil ARGS`` through the installed console script, in the working folder."""
        res = subprocess.run(
            [str(self.venv / "bin" / "approxhil"), *args], cwd=self.work, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        assert res.returncode == 0, f"approxhil {' '.join(args)} failed:\n{res.stdout[-2000:]}\n{res.stderr[-3000:]}"
        return res

    def python_code(self, code: str) -> str:
        res = subprocess.run([self.python, "-c", code], cwd=self.work, env=self.env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-3000:]
        return res.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    dist = root / "dist"
    source = root / "source"  # a clean copy: an in-tree build would leave build/ behind (and reuse stale files from it)
    shutil.copytree(
        ROOT,
        source,
        symlinks=True,
        ignore=shutil.ignore_patterns(".git", "build", "results", ".make", ".pytest_cache", "__pycache__", "*.egg-info"),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("approxhil-*.whl")
    inst = Installed(root, wheel)
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(inst.venv)], check=True, timeout=120)
    subprocess.run(
        [inst.python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        env=inst.env,
        timeout=300,
    )
    return inst


def test_wheel_carries_the_hdl_and_the_kernel_source(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    assert installed.wheel.name.startswith(f"approxhil-{__version__}-")
    for path in ROOT.joinpath("rtl").rglob("*"):
        if path.suffix in (".v", ".f"):
            assert f"approxhil/hdl/rtl/{path.relative_to(ROOT / 'rtl')}" in names
    for path in ROOT.joinpath("hw").rglob("*"):
        if path.suffix in (".v", ".f", ".tcl") and "build" not in path.parts:
            assert f"approxhil/hdl/hw/{path.relative_to(ROOT / 'hw')}" in names
    assert "approxhil/hdl/hw/Makefile" in names and "approxhil/nn/engines/kernels.c" in names
    where = installed.python_code(
        "import approxhil, approxhil.hdl as h; print(approxhil.__file__); print(h.rtl_dir()); print(approxhil.__version__)"
    ).split()
    assert all(str(installed.venv) in w for w in where[:2]), where  # the wheel, not this checkout
    assert where[2] == __version__


def test_tables_and_rtl_from_the_wheel(installed: Installed) -> None:
    installed.run("tables", "export", "--config", "3330", "-o", "golden.npz")
    installed.run("rtl", "export", "--config", "3330", "--simulator", "icarus", "-o", "rtl.npz")
    assert (
        TruthTable.load(installed.work / "rtl.npz").sha256
        == TruthTable.load(installed.work / "golden.npz").sha256
        == golden_table("3330").sha256
    )
    installed.run("rtl", "import", str(IMPORTER_V), "--top", "mul8u_bam4", "--simulator", "icarus", "-o", "bam.npz")
    bam = TruthTable.load(installed.work / "bam.npz")
    a, b = (x.astype(int) for x in __import__("numpy").meshgrid(range(256), range(256), indexing="ij"))
    dropped = sum(((a >> i) & 1) * ((b >> j) & 1) << (i + j) for i in range(8) for j in range(8) if i + j < 4)
    assert (bam.values == a * b - dropped).all()
    assert sorted(p.name for p in installed.work.iterdir()) == ["bam.npz", "golden.npz", "rtl.npz"]  # builds went to the cache
    assert any(installed.cache.joinpath("build").iterdir())


def test_simulated_board_from_the_wheel(installed: Installed) -> None:
    res = installed.run("hil", "table", "--backend", "sim", "--simulator", "icarus", "--config", "2222", "-o", "hil.npz")
    assert "equals the golden model" in res.stdout
    assert TruthTable.load(installed.work / "hil.npz").sha256 == golden_table("2222").sha256


def test_gather_kernel_compiles_from_the_installed_source(installed: Installed) -> None:
    code = (
        "import torch\n"
        "from approxhil.multipliers import golden_table\n"
        "from approxhil.nn import approx_layers, approximate, set_mode\n"
        "from approxhil.nn.engines import native\n"
        "from approxhil.quant import calibrate\n"
        "torch.manual_seed(0)\n"
        "model = approximate(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Flatten(), torch.nn.Linear(8 * 36, 5)), golden_table('3330'), engine='gather')\n"
        "x = torch.randn(4, 3, 8, 8)\n"
        "calibrate(model, [x])\n"
        "set_mode(model, 'behavioral'); gather = model(x)\n"
        "for layer in approx_layers(model).values(): layer.engine = 'lowrank'\n"
        "lowrank = model(x)\n"
        "print(bool(torch.equal(gather, lowrank)), native.SOURCE, native.library()._name)\n"
    )
    equal, source, library = installed.python_code(code).split()
    assert equal == "True"  # the C gather kernel agrees bit for bit with the low-rank engine
    assert str(installed.venv) in source and library.startswith(str(installed.cache))


def test_demo_from_the_wheel(installed: Installed) -> None:
    """The main job end to end with a tiny setting: RTL simulation → table → fit → retrain → report."""
    res = installed.run(
        "demo",
        "--config",
        "3333",
        "--simulator",
        "icarus",
        "--epochs",
        "1",
        "--fit-samples",
        "200",
        "--train-subset",
        "256",
        "--out",
        "demo",
    )
    text = res.stdout
    assert "equals golden model: True" in text
    assert "3333 after errormodel" in text and "3333 after behavioral" in text
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
        for line in text.splitlines()
        if line.startswith("| digits_cnn") or line.startswith("| 3333")
    }
    assert float(rows["digits_cnn 8-bit exact"][0]) > 85
    assert float(rows["3333 after errormodel"][2]) > 0  # fit seconds
    out = installed.work / "demo"
    assert (out / "results.md").is_file() and (out / "tables" / "3333-rtl.npz").is_file()
    assert (out / "plots" / "digits_cnn_accuracy_ep1.png").stat().st_size > 1000  # one figure per retraining length
