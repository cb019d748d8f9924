"""Shared fixtures: paths to the optional shared data, and a skip when it is absent."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("APPROXHIL_DATA", ROOT.parent / "shared" / "data"))
if DATA_DIR.is_dir():
    os.environ["APPROXHIL_DATA"] = str(DATA_DIR)  # the library finds it from any working folder


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder (CIFAR-10 npz, ResNet8 weights); skip the test when it is absent."""
    if not (DATA_DIR / "cifar10_uint8.npz").is_file():
        pytest.skip(f"shared data not found at {DATA_DIR} (set APPROXHIL_DATA to the folder holding cifar10_uint8.npz)")
    return DATA_DIR


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess]:
    """Run ``approxhil ARGS`` as a user does (a new interpreter through ``python -m approxhil``)."""

    def run(*args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "approxhil", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout
        )

    return run
