"""Where the RTL is: the shipped ``rtl/`` folder (:mod:`approxhil.hdl`) and its file lists (``*.f``).

Simulators, Yosys and Vivado read the same lists: ``rtl/primitives.f`` (simulation models of
LUT6_2/CARRY4, simulators only) and ``rtl/smapprox.f`` (the multipliers), one path per line,
relative to the list, ``//`` comments.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from approxhil_board.hashing import file_sha256

from approxhil.errors import ToolMissingError
from approxhil.hdl import rtl_dir


def read_file_list(path: Path) -> list[Path]:
    """Absolute paths named by a ``.f`` file list, in order."""
    if not path.is_file():
        raise ToolMissingError(
            f"RTL file list {path} not found",
            fix="reinstall approxhil, or set APPROXHIL_RTL / APPROXHIL_HW to folders holding complete copies",
        )
    files = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("//", 1)[0].strip()
        if line:
            files.append((path.parent / line).resolve())
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise ToolMissingError(f"{path.name} names files that do not exist: {', '.join(missing)}")
    return files


def primitive_sources() -> list[Path]:
    """Simulation models of LUT6_2 and CARRY4."""
    return read_file_list(rtl_dir() / "primitives.f")


def smapprox_sources(simulation: bool = True) -> list[Path]:
    """Sources of every SMApprox module, primitive models first when ``simulation``."""
    return (primitive_sources() if simulation else []) + read_file_list(rtl_dir() / "smapprox.f")


def file_hashes(files: Iterable[Path]) -> dict[str, str]:
    """``{file name: sha256}`` of each source: recorded in the provenance of exported tables."""
    return {Path(f).name: file_sha256(f) for f in files}


def sources_sha256(files: Iterable[Path]) -> str:
    """One hash over the names and contents of ``files`` (identifies a build)."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(Path(f).name.encode())
        digest.update(Path(f).read_bytes())
    return digest.hexdigest()
