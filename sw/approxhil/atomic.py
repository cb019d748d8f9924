"""Atomic file writes: a reader sees the old file or the complete new one, never a partial one."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from approxhil.errors import ApproxHilError


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    """The process umask, read without changing it where the OS allows (other threads may be creating files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class OutputPathError(ApproxHilError, ValueError):
    """An output path that cannot hold a file (a folder, or below a file)."""


def check_output_path(path: str | os.PathLike) -> Path:
    """``path`` if a file can be written there; else :class:`OutputPathError` before any work is done."""
    target = Path(path)
    if target.is_dir():
        raise OutputPathError(f"output {target} is a folder", fix=f"name a file, e.g. {target / 'out'}")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputPathError(f"output {target} lies below {parent}, which is a file", fix="choose a path in a folder")
            break
    return target


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    ``suffix`` keeps an extension that a writer insists on (``np.savez`` appends ``.npz``).
    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    check_output_path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp creates 0600; the result gets the user's usual mode
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """Open a temporary file beside ``path`` for writing; it becomes ``path`` only on success."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
