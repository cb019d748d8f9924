"""The twin's board environment: a virtual environment with the real ``pynq`` 3.1 from PyPI.

pynq pins ``numpy<2`` (and an exact grpcio), so it cannot share the host's environment. The twin
gets its own, cached in the user cache folder and keyed by pynq version, Python version and the
start-up hook, so it is built once (about half a minute, with network) and reused. With a Python
3.10 on the machine it is the board's stack exactly: Python 3.10, numpy 1.21, pynq 3.1.

The start-up hook (a ``.pth`` file) makes the environment an emulated board: when pynq defines its
``Device`` class, :mod:`approxhil_board.twin.device` is imported and registers the twin's device,
provided ``approxhil_board`` is importable (``PYTHONPATH``, as the deployed agent has it).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from approxhil.cache import cache_dir
from approxhil.errors import ToolMissingError

PYNQ_VERSION = "3.1.2"
#: pycparser 3 dropped the module pynq.lib's Microblaze RPC imports; the board images ship 2.x.
COMMON_REQUIREMENTS = (f"pynq=={PYNQ_VERSION}", "pycparser<3")
#: numpy of the PYNQ 3.x images (Ubuntu 22.04) where the Python allows it, else the newest numpy 1.
NUMPY_BY_PYTHON = {(3, 10): "numpy==1.21.6"}
NUMPY_OTHERWISE = "numpy<2"
PYTHON_ENV = "APPROXHIL_TWIN_PYTHON"
READY = "approxhil-twin-ready"
INSTALL_TIMEOUT_S = 900.0

BOOT_MODULE = '''"""Start-up hook of the approxhil twin environment (written by approxhil.hil.twin.venv)."""
import importlib.abc
import sys

_TARGET = "pynq.pl_server.device"


class _TwinHook(importlib.abc.MetaPathFinder):
    """After pynq defines Device, import the twin's Device subclass so pynq's probe finds it."""

    def find_spec(self, name, path, target=None):
        if name != _TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            try:
                import approxhil_board.twin.device  # noqa: F401
            except ModuleNotFoundError as exc:
                if exc.name != "approxhil_board":
                    raise

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _TwinHook())
'''
PTH = "import approxhil_twin_boot\n"


def _version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = out.stdout.split()
    return (int(parts[0]), int(parts[1])) if out.returncode == 0 and len(parts) == 2 else None


def _pyenv_python310() -> str | None:
    """A Python 3.10 that pyenv installed, if pyenv is there (its shims run only the selected version)."""
    pyenv = shutil.which("pyenv")
    if not pyenv:
        return None
    try:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30).stdout.strip()
        versions = subprocess.run([pyenv, "versions", "--bare"], capture_output=True, text=True, timeout=30).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return None
    for version in sorted((v for v in versions if v.startswith("3.10.")), reverse=True):
        candidate = Path(root) / "versions" / version / "bin" / "python3.10"
        if candidate.is_file():
            return str(candidate)
    return None


def board_python() -> tuple[str, tuple[int, int]]:
    """The Python the twin's board runs: ``$APPROXHIL_TWIN_PYTHON``, a Python 3.10 (the board's), or this one."""
    candidates = [os.environ.get(PYTHON_ENV), shutil.which("python3.10"), _pyenv_python310(), sys.executable]
    for python in filter(None, candidates):
        version = _version(python)
        if version is not None and (version == (3, 10) or python in (sys.executable, os.environ.get(PYTHON_ENV))):
            return python, version
    return sys.executable, sys.version_info[:2]


def requirements(version: tuple[int, int]) -> list[str]:
    return [*COMMON_REQUIREMENTS, NUMPY_BY_PYTHON.get(version, NUMPY_OTHERWISE)]


def venv_dir(version: tuple[int, int]) -> Path:
    key = hashlib.sha256("\n".join([BOOT_MODULE, PTH, *requirements(version)]).encode()).hexdigest()[:10]
    return cache_dir() / f"twin-pynq{PYNQ_VERSION}-py{version[0]}{version[1]}-{key}"


def install_command(python: str, version: tuple[int, int]) -> str:
    """The shell command that builds the environment by hand (for error messages and docs)."""
    where = venv_dir(version)
    reqs = " ".join(f"'{r}'" for r in requirements(version))
    return f"{python} -m venv {where} && {where}/bin/pip install {reqs}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_venv() -> Path:
    """The twin environment's Python, built on first use (locked, so parallel tests build it once)."""
    python, version = board_python()
    where = venv_dir(version)
    exe = where / "bin" / "python"
    if (where / READY).exists():
        return exe
    with _locked(where.with_name(where.name + ".lock")):
        if (where / READY).exists():
            return exe
        shutil.rmtree(where, ignore_errors=True)
        steps = [[python, "-m", "venv", str(where)], [str(exe), "-m", "pip", "install", "-q", *requirements(version)]]
        for step in steps:
            try:
                proc = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired) as exc:
                proc, error = None, str(exc)
            else:
                error = (proc.stderr or proc.stdout).strip().splitlines()[-1:] if proc.returncode else None
            if proc is None or proc.returncode:
                shutil.rmtree(where, ignore_errors=True)
                raise ToolMissingError(
                    f"cannot build the twin's pynq environment ({' '.join(step[:4])}...: {error})",
                    fix=f"it needs PyPI access once; by hand: {install_command(python, version)}",
                )
        site = Path(
            subprocess.run(
                [str(exe), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        (site / "approxhil_twin_boot.py").write_text(BOOT_MODULE)
        (site / "approxhil-twin.pth").write_text(PTH)
        (where / READY).write_text(f"pynq {PYNQ_VERSION}, python {version[0]}.{version[1]}\n")
    return exe
