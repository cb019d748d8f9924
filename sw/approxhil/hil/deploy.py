"""``approxhil hil deploy``: put the agent, the bitstream and a secret on a board, start it, check it answers.

(Work in progress: staging of the board package.)
"""

from __future__ import annotations

import importlib.resources
import shutil
from pathlib import Path

BOARD_PACKAGE = "approxhil_board"


def board_package_files() -> list[tuple[str, bytes]]:
    """The board package's modules as ``(relative path, content)``: everything the board runs of approxhil."""
    root = importlib.resources.files(BOARD_PACKAGE)
    files: list[tuple[str, bytes]] = []

    def walk(node, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir() and child.name != "__pycache__":
                walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith(".py"):
                files.append((f"{prefix}{child.name}", child.read_bytes()))

    walk(root, f"{BOARD_PACKAGE}/")
    return files


def stage_board_package(dest: Path) -> Path:
    """Copy the board package under ``dest`` (a folder to put on ``PYTHONPATH``) and return ``dest``."""
    shutil.rmtree(dest / BOARD_PACKAGE, ignore_errors=True)
    for rel, data in board_package_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return dest
