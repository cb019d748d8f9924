"""The board package runs on what a PYNQ-Z1/Z2 image has: Python 3.10, numpy 1.21, pynq 3.x, and no
torch, cocotb, Verilator, pyverilog or the host package; the wheel carries it."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from approxhil.hil.deploy import board_package_files, stage_board_package

#: Host-side packages the board never has; the board package must not import them.
HOST_ONLY = ("torch", "cocotb", "cocotb_tools", "cocotbext", "pyverilog", "verilator", "approxhil", "typer", "h5py", "sklearn")
#: numpy names that a numpy 1.21 lacks (added in 1.22 .. 2.x) or that numpy 2 removed: the board
#: package runs on the board's numpy 1.21 and, as the host's client, on numpy 2.
NUMPY_DENY = {
    "isdtype",
    "unstack",
    "concat",
    "permute_dims",
    "pow",
    "acos",
    "asin",
    "atan",
    "acosh",
    "asinh",
    "atanh",
    "atan2",
    "bitwise_left_shift",
    "bitwise_right_shift",
    "bitwise_invert",
    "vecdot",
    "matrix_transpose",
    "cumulative_sum",
    "cumulative_prod",
    "astype",
    "trapezoid",
    "exceptions",
    "dtypes",
    "long",
    "ulong",
    "matvec",
    "vecmat",
    "float_",
    "complex_",
    "NaN",
    "Inf",
    "NINF",
    "PINF",
    "product",
    "cumproduct",
    "alltrue",
    "sometrue",
    "asfarray",
    "find_common_type",
    "round_",
    "row_stack",
    "trapz",
    "msort",
    "unicode_",
    "string_",
    "in1d",
    "issubclass_",
}

PROBE = """
import importlib, importlib.abc, json, sys, warnings
BLOCKED = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is not on the board")
sys.meta_path.insert(0, Block())
for name in {modules!r}:
    importlib.import_module(name)
warnings.simplefilter("error", DeprecationWarning)  # our code, from here on: no deprecated numpy API
import threading
import numpy as np
from approxhil_board import auth, protocol
from approxhil_board.agent import Agent
from approxhil_board.client import AgentClient
from approxhil_board.memcore import MemoryCore
core = MemoryCore({{"0000": None, "3330": None}}, lanes=3)
secret = auth.new_secret()
agent = Agent(core, secret, port=0)
threading.Thread(target=agent.serve_forever, daemon=True).start()
client = AgentClient.connect(*agent.address, secret)
a = np.arange(-128, 128, dtype=np.int16)
products = client.request("products", {{"config": "0000"}}, {{"a": a, "b": a[::-1].copy()}}).arrays["out"]
dots = client.request("dot", {{"config": "3330"}}, {{"a": a.reshape(16, 16), "b": a.reshape(16, 16)}}).arrays["out"]
client.close()
agent.shutdown(wait=1.0)
assert products.tolist() == (a.astype(np.int32) * a[::-1]).tolist()
assert dots.tolist() == (a.astype(np.int64) ** 2).reshape(16, 16).sum(1).tolist()
print(json.dumps({{"python": "%d.%d" % sys.version_info[:2], "numpy": np.__version__,
    "host_only": sorted({{m.split(".")[0] for m in sys.modules}} & set(BLOCKED))}}))
"""


def _modules(with_pynq: bool) -> list[str]:
    names = [rel[:-3].replace("/", ".").removesuffix(".__init__") for rel, _ in board_package_files()]
    return [n for n in names if with_pynq or n != "approxhil_board.twin.device"]


def _run_probe(python: str, lib: Path, blocked: tuple[str, ...], with_pynq: bool) -> dict:
    script = PROBE.format(blocked=set(blocked), modules=_modules(with_pynq))
    env = {**os.environ, "PYTHONPATH": str(lib)}
    proc = subprocess.run([python, "-c", script], capture_output=True, text=True, env=env, timeout=120, cwd=lib)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_board_package_never_imports_the_host_stack(tmp_path: Path) -> None:
    """Every module imports, and the agent serves, with torch, cocotb, ... and approxhil unimportable."""
    lib = stage_board_package(tmp_path / "lib")
    report = _run_probe(sys.executable, lib, (*HOST_ONLY, "pynq"), with_pynq=False)
    assert report["host_only"] == []


@pytest.mark.slow
def test_board_package_runs_on_the_board_stack(tmp_path: Path, twin_python: str) -> None:
    """In the twin environment (Python 3.10 with numpy 1.21.6 and pynq 3.1.2 where a Python 3.10
    exists): every module imports, pynq's included, and the agent serves without deprecated numpy API."""
    lib = stage_board_package(tmp_path / "lib")
    report = _run_probe(twin_python, lib, HOST_ONLY, with_pynq=True)
    assert report["host_only"] == []
    if report["python"] == "3.10":
        assert report["numpy"].startswith("1.21."), report


def test_board_modules_parse_as_python_310() -> None:
    for rel, data in board_package_files():
        ast.parse(data.decode(), filename=rel, feature_version=(3, 10))


def test_board_modules_use_no_numpy_api_outside_1_21_to_2() -> None:
    found = []
    for rel, data in board_package_files():
        for node in ast.walk(ast.parse(data.decode(), filename=rel)):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("np", "numpy")
                and node.attr in NUMPY_DENY
            ):
                found.append(f"{rel}:{node.lineno} np.{node.attr}")
            if isinstance(node, ast.Call) and any(k.arg == "copy" for k in node.keywords):
                func = ast.unparse(node.func)
                if func in ("np.array", "np.asarray", "numpy.array", "numpy.asarray"):
                    found.append(f"{rel}:{node.lineno} {func}(copy=...) changed meaning in numpy 2")
    assert not found, found


def test_the_wheel_ships_the_board_package() -> None:
    """setuptools' package discovery as pyproject configures it (under sw/, approxhil*) finds the board package."""
    from setuptools import find_packages

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    found = find_packages(where=str(root / config["where"][0]), include=config.get("include", ["*"]))
    assert {"approxhil_board", "approxhil_board.twin"} <= set(found)
