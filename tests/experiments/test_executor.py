"""The grid on Dask distributed: the same result files as the local runner, a killed worker's cell resumed
from its checkpoint, two executors sharing one results folder, and one-line errors for bad settings."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import distributed  # the dask extra, which `make install` installs: these tests must not skip silently
import pytest
import torch

from approxhil.errors import ApproxHilError
from approxhil.experiments import Grid, run_grid
from approxhil.experiments import executor as ex
from approxhil.experiments.runner import base_record

TINY = dict(networks=("digits_cnn",), fit_samples=200, train_subset=256, epochs=1)
#: What a cell's result is made of, bar timings (which differ between any two computations).
COMPARED = ("key", "cell", "inputs", "table", "before", "after", "after_bn", "error_model", "hybrid", "complete")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results root holding the float digits network (trained once for every test of this module)."""
    root = tmp_path_factory.mktemp("float")
    base_record("digits_cnn", root, progress=False, float_epochs=3)  # a rough float network is all these tests need
    return root


def _root(trained: Path, path: Path) -> Path:
    """A fresh results root with the shared float network and its base record."""
    shutil.copytree(trained / "digits_cnn", path / "digits_cnn", ignore=shutil.ignore_patterns("*.lock"))
    return path


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock"))


def _same(a: dict, b: dict) -> None:
    assert {k: a.get(k) for k in COMPARED} == {k: b.get(k) for k in COMPARED}, a["key"]
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]], a["key"]


@pytest.mark.slow
def test_dask_gives_the_local_runners_result_files(trained: Path, tmp_path: Path) -> None:
    grid = Grid(multipliers=("2222",), modes=("errormodel", "behavioral"), **TINY)
    before = torch.get_num_threads()
    local = run_grid(grid, _root(trained, tmp_path / "local"), progress=False, threads=1)  # in this process, one thread
    assert torch.get_num_threads() == before  # the caller's setting is restored
    dask = run_grid(grid, _root(trained, tmp_path / "dask"), progress=False, executor="dask", jobs=2, threads=1)
    assert _files(tmp_path / "local") == _files(tmp_path / "dask")
    assert len(list((tmp_path / "dask").glob("**/result.json"))) == 2
    for a, b in zip(local, dask, strict=True):
        _same(a, b)  # bit-identical on the CPU with the same threads per cell


@pytest.mark.slow
def test_a_killed_workers_cell_is_retried_from_its_checkpoint(trained: Path, tmp_path: Path) -> None:
    """SIGKILL the worker after its first epoch: no result appears, Dask reruns the cell on a new worker,
    the rerun resumes the checkpoint and ends exactly as an uninterrupted run."""
    grid = Grid(multipliers=("2222",), modes=("errormodel",), **{**TINY, "epochs": 3, "train_subset": 768})
    cell = next(grid.cells())
    root = _root(trained, tmp_path / "killed")
    checkpoint = cell.folder(root) / "checkpoint.pt"
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0", silence_logs=40) as cluster,
        distributed.Client(cluster) as client,
    ):
        (pid,) = client.run(os.getpid).values()
        outcome: dict = {}
        runner = threading.Thread(
            target=lambda: outcome.update(
                results=run_grid(grid, root, progress=False, executor="dask", address=cluster.scheduler_address, threads=1)
            )
        )
        runner.start()
        deadline = time.monotonic() + 120
        while not checkpoint.is_file() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(pid, signal.SIGKILL)
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)  # the killed attempt's last epoch
        assert not cell.done(root), "the cell finished before its worker was killed: nothing was tested"
        runner.join(timeout=180)
        assert "results" in outcome, "the grid did not finish after the worker was killed"
        assert pid not in client.run(os.getpid).values()  # the cell ended on a new worker process
    (resumed,) = outcome["results"]
    assert resumed["history"][: state["epoch"]] == state["history"]  # the killed attempt's epochs, timings included: resumed
    whole = run_grid(grid, _root(trained, tmp_path / "whole"), progress=False, threads=1)
    _same(resumed, whole[0])
    assert not list(cell.folder(root).glob(".*.tmp*"))  # partial files of the killed writer are gone


@pytest.mark.slow
def test_two_executors_share_one_results_folder(trained: Path, tmp_path: Path) -> None:
    """A local run and a Dask run fill one folder at once: every cell is computed once, by one writer."""
    grid = Grid(multipliers=("2222", "1100"), modes=("behavioral",), **TINY)
    root = _root(trained, tmp_path / "shared")
    outcome: dict = {}
    local = threading.Thread(target=lambda: outcome.update(local=run_grid(grid, root, progress=False)))
    local.start()
    outcome["dask"] = run_grid(grid, root, progress=False, executor="dask", jobs=1, threads=1)
    local.join(timeout=180)
    assert len(list(root.glob("**/result.json"))) == 2 and not list(root.glob("**/.*.tmp*"))
    for a, b in zip(outcome["local"], outcome["dask"], strict=True):
        assert a == b  # the same record, epoch timings included: one computation, read by the other run


def test_bad_executor_settings_are_refused_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    grid = Grid(multipliers=("2222",), modes=("behavioral",), **TINY)
    for kwargs, message in (
        ({"executor": "ray"}, "unknown executor"),
        ({"executor": "dask", "address": "localhost:8786"}, "tcp://HOST:PORT"),
        ({"address": "tcp://127.0.0.1:8786"}, "for the dask executor"),
        ({"threads": 0}, "threads"),
    ):
        with pytest.raises(ApproxHilError, match=message):
            run_grid(grid, tmp_path / "res", progress=False, **kwargs)
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the package were not installed
    with pytest.raises(ApproxHilError, match=r"pip install 'approxhil\[dask\]'"):
        run_grid(grid, tmp_path / "res", progress=False, executor="dask")
    assert not (tmp_path / "res").exists()


def test_unreachable_scheduler_and_multithreaded_workers_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ex, "CONNECT_SECONDS", 1)
    cells = list(Grid(multipliers=("2222",), modes=("behavioral",), **TINY).cells())
    with pytest.raises(ex.ExecutorError, match="cannot reach the Dask scheduler"):
        ex.run_cells(cells, tmp_path, None, "cpu", executor="dask", address="tcp://127.0.0.1:9", progress=False)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, protocol="tcp", dashboard_address=":0", silence_logs=40
        ) as cluster,
        pytest.raises(ex.ExecutorError, match="--nthreads 1"),
    ):
        ex.run_cells(cells, tmp_path, None, "cpu", executor="dask", address=cluster.scheduler_address, progress=False)
    assert not list(tmp_path.iterdir())
    task = ex.CellTask(tmp_path, None, "cpu", 1, None)
    with ex._ONE_CELL_PER_PROCESS, pytest.raises(ex.ExecutorError, match="two cells ran at once"):
        task(cells[0])  # a second cell in a process that runs one already
