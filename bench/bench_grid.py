"""Grid executor overhead: the same grid of tiny cells through the local runner and through Dask distributed.

Both run ``JOBS`` worker processes with one PyTorch thread each on fresh results folders that already hold
the float network (so only cells are timed, each from process start to the last result file). The two
executors alternate ``REPEATS`` times and the best wall time of each is compared: the target is an engine
overhead of at most 10 % of the local runner's wall time. The overhead is nearly all fixed (starting and
closing the cluster, about a second here; a task costs milliseconds), so its share falls as the grid grows. For scaling, the same grid also runs on one
Dask worker (one thread per worker throughout, so the number of processes is all that changes).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from approxhil.experiments import Grid, run_grid
from approxhil.experiments.runner import base_record

JOBS = 2
TARGET = 0.10


def _grid(quick: bool) -> Grid:
    seeds = (0, 1) if quick else (0, 1, 2, 3)
    return Grid(
        networks=("digits_cnn",),
        multipliers=("2222", "1100"),
        modes=("errormodel", "behavioral"),
        seeds=seeds,
        epochs=1,
        fit_samples=200,
        train_subset=256,
    )


def _timed(executor: str, grid: Grid, template: Path, work: Path, jobs: int = JOBS, threads: int = 1) -> float:
    root = work / f"{executor}-{time.monotonic_ns()}"
    shutil.copytree(template, root)
    start = time.perf_counter()
    run_grid(grid, root, progress=False, executor=executor, jobs=jobs, threads=threads)
    seconds = time.perf_counter() - start
    assert len(list(root.glob("**/result.json"))) == sum(1 for _ in grid.cells())
    return seconds


def run(quick: bool = False) -> list[dict]:
    try:
        import distributed  # noqa: F401
    except ImportError:
        return [{"benchmark": "grid executor", "metric": "dask", "value": "not measured: pip install 'approxhil[dask]'"}]
    grid = _grid(quick)
    cells = sum(1 for _ in grid.cells())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        base_record("digits_cnn", work / "template", progress=False)  # the float network, trained once
        times: dict[str, list[float]] = {"local": [], "dask": []}
        for _ in range(1 if quick else 2):
            for executor in times:
                times[executor].append(_timed(executor, grid, work / "template", work))
        one = _timed("dask", grid, work / "template", work, jobs=1, threads=1)  # scaling: the same workers, one of them
    local, dask = min(times["local"]), min(times["dask"])
    overhead = dask / local - 1
    name = f"{cells} tiny cells, {JOBS} workers"
    return [
        {"benchmark": "grid executor", "metric": f"{name}: local runner wall (s)", "value": local},
        {"benchmark": "grid executor", "metric": f"{name}: dask local cluster wall (s)", "value": dask},
        {"benchmark": "grid executor", "metric": "dask minus local runner (s): cluster start, import, shut-down", "value": dask - local},
        {
            "benchmark": "grid executor",
            "metric": "dask overhead vs local runner",
            "value": overhead,
            "target": f"≤ {TARGET:.2f}",
            "ok": overhead <= TARGET,
        },
        {"benchmark": "grid executor", "metric": f"{cells} tiny cells: dask, 1 worker (s)", "value": one},
        {"benchmark": "grid executor", "metric": f"speed-up of {JOBS} workers over 1 (1 thread each)", "value": one / dask},
    ]
