"""Fixtures of the RTL tests: simulators (skipped with a reason when missing) and one shared sweep.

The exhaustive verification sweeps every multiplier once per simulator and session; pytest-xdist
workers share the result through a file under the session's common temporary folder (one worker
simulates while the others wait on a lock), so ``pytest -n 2`` does not simulate twice.
"""

from __future__ import annotations

import fcntl
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
from approxhil.errors import ToolMissingError
from approxhil.rtl.tools import SIMULATORS, find_simulator, find_yosys
from approxhil.rtl.verify import Verification, verify_rtl


def require_simulator(name: str) -> None:
    try:
        find_simulator(name)
    except ToolMissingError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def yosys_tool():
    try:
        return find_yosys()
    except ToolMissingError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder shared by all xdist workers of this session (the worker's own one without xdist)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    path = root / "rtl-shared"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def verification(session_dir: Path) -> Callable[[str], Verification]:
    """``verification(simulator)``: the exhaustive sweep of every check, run once per session."""
    cache: dict[str, Verification] = {}

    def get(simulator: str) -> Verification:
        require_simulator(simulator)
        if simulator not in cache:
            result_file = session_dir / f"verify-{simulator}.pickle"
            with open(session_dir / f"verify-{simulator}.lock", "a+") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if result_file.is_file():
                    cache[simulator] = pickle.loads(result_file.read_bytes())
                else:
                    cache[simulator] = verify_rtl(simulator, work_dir=session_dir / f"verify-{simulator}")
                    result_file.write_bytes(pickle.dumps(cache[simulator]))
        return cache[simulator]

    return get


@pytest.fixture(params=SIMULATORS)
def simulator(request: pytest.FixtureRequest) -> str:
    require_simulator(request.param)
    return request.param
