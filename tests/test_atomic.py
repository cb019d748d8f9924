"""Atomic writes: the old file or the complete new one, with the user's usual permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from approxhil.atomic import write_text


def test_written_files_follow_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    write_text(path, "hello")
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask


def test_a_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    write_text(path, "good")
    with pytest.raises(TypeError):
        write_text(path, None)  # type: ignore[arg-type]
    assert path.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
