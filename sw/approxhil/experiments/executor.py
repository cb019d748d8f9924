"""Where a grid's cells run: this process, local worker processes, or a Dask cluster.

Every executor runs the same unit of work, :func:`approxhil.experiments.runner.run_cell`, so cell keys,
result files, the skipping of finished cells and the input checks are the same everywhere. Dask
distributed is the distributed engine (why: ``docs/experiments.md``): without an address it starts a
local cluster of ``jobs`` worker processes; with one it uses the workers of a running scheduler — one
started by hand (``dask scheduler`` / ``dask worker``) or by dask-jobqueue on SLURM or PBS. A worker
that dies mid-cell is replaced by Dask, which runs the cell again; the retry takes the cell's lock and
resumes from its last epoch checkpoint (:mod:`approxhil.experiments.lock`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from approxhil.errors import ApproxHilError, ConfigError, ToolMissingError

if TYPE_CHECKING:
    from approxhil.experiments.grid import Cell

EXECUTORS = ("local", "dask")
INSTALL_DASK = "pip install 'approxhil[dask]'"
#: A scheduler address as Dask prints it (``tcp://10.0.0.5:8786``, ``tcp://[::1]:8786``).
ADDRESS = re.compile(r"^(tcp|tls|ws|wss|ucx)://(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):\d{1,5}$")
CONNECT_SECONDS = 20


class ExecutorError(ApproxHilError, RuntimeError):
    """A cluster that cannot be reached or used, or a cell that kept killing its worker."""

    default_fix = "check the Dask scheduler and its workers (`dask scheduler`, `dask worker ADDRESS --nthreads 1`)"


_ONE_CELL_PER_PROCESS = threading.Lock()


@dataclass(frozen=True)
class CellTask:
    """``run_cell`` with one run's shared arguments: sent to worker processes, so it is a plain picklable object.

    ``threads`` sets PyTorch's intra-op threads in the worker (``None`` leaves the worker's setting).
    Retraining seeds PyTorch's process-wide generator per epoch, so a process runs one cell at a time:
    a second cell arriving in the same process (a Dask worker with several threads) is refused.
    """

    root: Path
    data: str | Path | None
    device: str
    jobs: int
    threads: int | None

    def __call__(self, cell: Cell) -> dict[str, Any]:
        import torch

        from approxhil.experiments.runner import run_cell

        if not _ONE_CELL_PER_PROCESS.acquire(blocking=False):
            raise ExecutorError(
                "two cells ran at once in one worker process (results would depend on their timing)",
                fix="start Dask workers with one thread each: `dask worker ADDRESS --nthreads 1` (dask-jobqueue: processes equal to cores)",
            )
        try:
            if self.threads is not None:
                torch.set_num_threads(self.threads)
            return run_cell(cell, self.root, self.data, self.device, progress=False, jobs=self.jobs)
        finally:
            _ONE_CELL_PER_PROCESS.release()


def check_executor(executor: str, address: str | None, jobs: int, threads: int | None) -> None:
    """Refuse unknown executors and malformed settings before any work (and a missing engine package)."""
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}", fix=f"use one of: {', '.join(EXECUTORS)}")
    if jobs < 1:
        raise ConfigError(f"jobs must be >= 1, got {jobs}", fix="1 runs cells one after another; N runs N at once")
    if threads is not None and threads < 1:
        raise ConfigError(f"threads must be >= 1, got {threads}", fix="omit it to share this machine's cores between the jobs")
    if address is not None:
        if executor != "dask":
            raise ConfigError(f"--address is for the dask executor, not {executor}", fix="add --executor dask, or omit --address")
        if not ADDRESS.match(address):
            raise ConfigError(
                f"scheduler address {address!r} is not of the form tcp://HOST:PORT",
                fix="pass the address the Dask scheduler prints, e.g. tcp://10.0.0.5:8786",
            )
    if executor == "dask":
        _distributed()


def _distributed():
    """The ``distributed`` package, or a one-line error naming the install command."""
    try:
        import distributed
    except ImportError:
        raise ToolMissingError("the dask executor needs the Dask distributed package, which is not installed", fix=INSTALL_DASK) from None
    return distributed


def run_cells(
    cells: Sequence[Cell],
    root: Path,
    data: str | Path | None,
    device: str,
    *,
    executor: str = "local",
    jobs: int = 1,
    address: str | None = None,
    threads: int | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Run ``cells`` on ``executor`` and return their results in the order of ``cells``.

    A failing cell does not stop the others; the first failure is raised once all have ended.
    """
    check_executor(executor, address, jobs, threads)
    root = Path(root).resolve()  # workers may start in another folder
    data = None if data is None else Path(data).resolve()
    if executor == "local" and jobs == 1:
        return _run_here(cells, root, data, device, threads, progress)
    if threads is None and address is None:
        threads = max(1, (os.cpu_count() or 1) // jobs)
    if executor == "local":
        outcomes = _run_pool(cells, CellTask(root, data, device, jobs, threads), jobs, progress)
    else:
        outcomes = _run_dask(cells, root, data, device, jobs, address, threads, progress)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return outcomes


def _run_here(
    cells: Sequence[Cell], root: Path, data: Path | None, device: str, threads: int | None, progress: bool
) -> list[dict[str, Any]]:
    """One cell after another in this process (PyTorch's thread count set for them and restored after)."""
    import torch

    from approxhil.experiments.runner import run_cell

    saved = torch.get_num_threads()
    torch.set_num_threads(threads or saved)
    try:
        return [run_cell(cell, root, data, device, progress) for cell in tqdm(cells, desc="grid", disable=not progress)]
    finally:
        torch.set_num_threads(saved)


def _run_pool(cells: Sequence[Cell], task: CellTask, jobs: int, progress: bool) -> list[Any]:
    """Worker processes of this machine (spawned: CUDA cannot be used in forked children)."""
    import multiprocessing

    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(task, cell) for cell in cells]
        for future in tqdm(futures, desc=f"grid ({jobs} jobs)", disable=not progress):
            future.exception()  # wait
    return [f.exception() or f.result() for f in futures]


def _run_dask(
    cells: Sequence[Cell], root: Path, data: Path | None, device: str, jobs: int, address: str | None, threads: int | None, progress: bool
) -> list[Any]:
    distributed = _distributed()
    with _client(distributed, address, jobs) as client:
        workers = client.scheduler_info()["workers"]
        crowded = sorted(w.get("name", a) for a, w in workers.items() if w.get("nthreads", 1) > 1)
        if crowded:
            raise ExecutorError(
                f"Dask workers {', '.join(map(str, crowded))} run several tasks at once",
                fix="start them with one thread each: `dask worker ADDRESS --nthreads 1` (dask-jobqueue: processes equal to cores)",
            )
        task = CellTask(root, data, device, jobs if address is None else max(1, len(workers)), threads)
        token = hashlib.sha256(repr((str(root), str(data), device, threads)).encode()).hexdigest()[:12]
        # One key per cell and run settings: two drivers on one scheduler share the task instead of racing.
        futures = [client.submit(task, cell, key=f"approxhil-cell-{cell.key}-{token}") for cell in cells]
        for _ in tqdm(
            distributed.as_completed(futures), total=len(futures), desc=f"grid (dask, {len(workers)} workers)", disable=not progress
        ):
            pass
        return [_outcome(distributed, future, cell) for future, cell in zip(futures, cells)]


def _outcome(distributed, future, cell: Cell) -> Any:
    """A cell's result or its exception (a cell that killed every worker it ran on is named)."""
    error = future.exception()
    if error is None:
        return future.result()
    if isinstance(error, distributed.KilledWorker):
        return ExecutorError(
            f"cell {cell.key} ended the worker process running it on every attempt ({error})",
            fix="check the worker logs (out of memory?); its last epoch checkpoint is kept and a rerun resumes it",
        )
    return error


@contextlib.contextmanager
def _client(distributed, address: str | None, jobs: int) -> Iterator[Any]:
    """A Dask client: on a new local cluster of ``jobs`` one-thread workers, or on the scheduler at ``address``."""
    if address is None:
        with (
            distributed.LocalCluster(
                n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=logging.ERROR
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = distributed.Client(address, timeout=CONNECT_SECONDS)
    except OSError as exc:
        raise ExecutorError(
            f"cannot reach the Dask scheduler at {address} ({str(exc).splitlines()[0][:160]})",
            fix="start one (`dask scheduler`, or a dask-jobqueue cluster) and pass the address it prints",
        ) from None
    with client:
        yield client
