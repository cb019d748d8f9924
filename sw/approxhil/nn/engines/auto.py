"""``engine="auto"``: the fastest engine that is exact on this machine, measured per layer workload.

Candidates are the registered engines that run on the tensors' device and pass their exactness check
here (oneDNN's int8 convolution only where its probe is exact, the C kernels only where they build, …);
the low-rank family only for tables of at most :data:`AUTO_MAX_COMPONENTS` int8 components. On the CPU
the torch-op engines (``-gpu``, 10–100× slower there) are candidates only when no CPU engine can run.

A workload of at least :data:`MEASURE_MACS` products is measured on first use, like cuDNN's benchmark
mode: every candidate runs once untimed (warm-up: kernel set-up, oneDNN primitives) and once timed,
then the ones within :data:`HOPELESS` times the fastest run :data:`REPS` more times, interleaved; the
fastest (best time) wins. On the CPU the candidates run on one thread, timed in CPU time, so other
work on a shared machine does not decide the choice; on a GPU, wall time. The choice is cached for the process and on disk
(:mod:`tuning`), keyed by device, thread count, operand shapes (batch rounded up to a power of two),
geometry and the table's component count — on disk only when the machine was not oversubscribed by
other work while measuring (:func:`oversubscribed`). Smaller workloads take the static preference (engine
``rank``: the C gather kernel first, whose per-call overhead is the smallest): measuring them would
cost more than it could save.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor

from approxhil.nn.engines import tuning
from approxhil.nn.engines.base import AUTO_MAX_COMPONENTS, Engine, Geometry, TablePlan, engines, timed_at_one_thread
from approxhil.nn.errors import EngineError

#: Workloads below this many table lookups are not measured (the static preference runs).
MEASURE_MACS = 1 << 22
#: Timed runs per candidate after the warm-up.
REPS = 3
#: A candidate whose warm-up run is this many times slower than the fastest one is not timed further.
HOPELESS = 8.0

_LOG = logging.getLogger(__name__)
_LOCK = threading.Lock()
_MEMO: dict[str, str] = {}
_SECONDS: dict[str, dict[str, float]] = {}
_DISK: dict[str, dict[str, dict[str, Any]]] = {}


def candidates(plan: TablePlan, device: torch.device, w_shape: tuple[int, ...] = ()) -> list[Engine]:
    """Engines that compute this layer exactly on ``device``, in static preference order."""
    lowrank_ok = plan.decomposition.components <= AUTO_MAX_COMPONENTS
    found = [e for e in engines() if (e.family != "lowrank" or lowrank_ok) and e.unavailable(plan, device, w_shape) is None]
    if device.type == "cpu":
        native = [e for e in found if not e.gpu]
        found = native or found
    return found


def static_choice(plan: TablePlan, device: torch.device, w_shape: tuple[int, ...] = (), family: str | None = None) -> Engine:
    """The preferred exact engine without measuring (of ``family`` where one is exact here)."""
    found = candidates(plan, device, w_shape)
    if family is not None:
        found = [e for e in found if e.family == family] or found
    if not found:  # the torch engines run on any device, so this needs an unusual table or device
        raise EngineError(
            f"no engine computes this layer exactly on {device.type} tensors",
            fix="move the model to the CPU, or check the table (|T| must fit int32 sums)",
        )
    return found[0]


def macs(x: Tensor, w: Tensor, geometry: Geometry) -> int:
    """Table lookups of one call."""
    if geometry.linear:
        return int(x.shape[0]) * int(w.numel())
    oh, ow = geometry.output_size(int(x.shape[2]), int(x.shape[3]), int(w.shape[2]), int(w.shape[3]))
    return int(x.shape[0]) * oh * ow * int(w.numel())


def _device_label(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def workload_key(plan: TablePlan, device: torch.device, x: Tensor, w: Tensor, geometry: Geometry) -> str:
    """What an engine's speed depends on: device, threads, shapes (batch bucketed), geometry, table rank."""
    n = int(x.shape[0])
    bucket = 1 << max(0, (n - 1).bit_length())
    dec = plan.decomposition
    return "|".join(
        [
            _device_label(device),
            f"threads{torch.get_num_threads()}",
            "x" + "x".join(map(str, (bucket, *x.shape[1:]))),
            "w" + "x".join(map(str, w.shape)),
            f"s{geometry.stride}p{geometry.padding}d{geometry.dilation}g{geometry.groups}{'L' if geometry.linear else ''}",
            f"components{dec.components}/{len(dec.groups())}",
        ]
    ).replace(" ", "")


def choose(
    plan: TablePlan, device: torch.device, x: Tensor | None = None, w: Tensor | None = None, geometry: Geometry | None = None
) -> Engine:
    """The fastest exact engine for this layer call (measured once per workload), or the static choice."""
    w_shape = tuple(w.shape) if w is not None else ()
    found = candidates(plan, device, w_shape)
    if not found:
        return static_choice(plan, device, w_shape)  # raises with the reason
    if x is None or w is None or geometry is None or len(found) == 1 or macs(x, w, geometry) < MEASURE_MACS:
        return found[0]
    key = workload_key(plan, device, x, w, geometry)
    names = {e.name: e for e in found}
    with _LOCK:
        name = _MEMO.get(key)
        if name is None and tuning.enabled():
            entry = _disk_entries().get(key)
            name = entry["engine"] if entry is not None else None
        if name in names:
            _MEMO[key] = name
            return names[name]
    seconds = measure(found, x, w, plan, geometry)
    best = min(seconds, key=seconds.__getitem__)
    keep = tuning.enabled() and not oversubscribed()
    with _LOCK:
        _MEMO[key] = best
        _SECONDS[key] = seconds
        if keep:
            _disk_entries()[key] = {"engine": best, "seconds": seconds}
    if keep:
        tuning.store(key, {"engine": best, "seconds": seconds})
    _LOG.info(
        "auto engine for %s: %s (%s)",
        key,
        best,
        ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in sorted(seconds.items(), key=lambda kv: kv[1])),
    )
    return names[best]


def oversubscribed() -> bool:
    """Whether other work keeps this machine's cores busy (1-minute load average above the core count).

    Timings taken then mostly measure the other work: the choice is used in this process but not
    written to disk, so a later process on a quieter machine measures again.
    """
    try:
        return os.getloadavg()[0] > (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    except OSError:  # no load average on this platform
        return False


def _disk_entries() -> dict[str, dict[str, Any]]:
    """This machine's on-disk choices, read once per process (callers hold the lock)."""
    location = str(tuning.path())
    if location not in _DISK:
        _DISK[location] = tuning.load()
    return _DISK[location]


def _timed(engine: Engine, x: Tensor, w: Tensor, plan: TablePlan, geometry: Geometry) -> float:
    """Seconds of one run: GPU wall time, or on the CPU this thread's CPU time (:func:`measure` runs one thread)."""
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
        start = time.perf_counter()
        engine(x, w, plan, geometry)
        torch.cuda.synchronize(x.device)
        return time.perf_counter() - start
    start = time.thread_time()
    engine(x, w, plan, geometry)
    return time.thread_time() - start


@contextlib.contextmanager
def _one_thread(device: torch.device) -> Iterator[None]:
    """On the CPU, run the candidates on the calling thread alone (torch, oneDNN and the C kernels)."""
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with timed_at_one_thread(threads):
            yield
    finally:
        torch.set_num_threads(threads)


def measure(found: list[Engine], x: Tensor, w: Tensor, plan: TablePlan, geometry: Geometry) -> dict[str, float]:
    """Best seconds of each candidate on these operands: an untimed warm-up run (one-time set-up such as
    oneDNN's kernel generation), a timed run, then :data:`REPS` more for those within :data:`HOPELESS`
    times the fastest, interleaved.

    CPU candidates run on one thread and are timed in that thread's CPU time: other work on the machine
    does not count, and neither do threads waiting at barriers for a core another process holds — on a
    shared machine wall-clock timings of two-thread runs mostly measured the other work. (The engines
    split work the same way over threads, so the one-thread ranking is the ranking.)
    """
    with _one_thread(x.device):
        return _measure(found, x, w, plan, geometry)


def _measure(found: list[Engine], x: Tensor, w: Tensor, plan: TablePlan, geometry: Geometry) -> dict[str, float]:
    working = []
    for engine in found:
        try:
            engine(x, w, plan, geometry)
            working.append(engine)
        except (EngineError, RuntimeError, MemoryError) as exc:  # e.g. out of memory: not a candidate
            warnings.warn(f"approxhil: engine {engine.name} failed while auto measured it ({exc})", RuntimeWarning, stacklevel=2)
    if not working:
        raise EngineError("every exact engine failed on this layer", fix="see the warnings above; try a smaller batch")
    seconds = {engine.name: _timed(engine, x, w, plan, geometry) for engine in working}
    fastest = min(seconds.values())
    timed = [e for e in working if seconds[e.name] <= HOPELESS * fastest]
    for _ in range(REPS):
        for engine in timed:
            seconds[engine.name] = min(seconds[engine.name], _timed(engine, x, w, plan, geometry))
    return seconds


def decisions() -> dict[str, dict[str, Any]]:
    """Choices made in this process: ``{workload key: {"engine": name, "seconds": {...}}}`` (measured ones carry times)."""
    with _LOCK:
        return {key: {"engine": name, "seconds": dict(_SECONDS.get(key, {}))} for key, name in _MEMO.items()}


def reset(disk: bool = False) -> None:
    """Forget this process's choices (and with ``disk``, what was read from the on-disk cache)."""
    with _LOCK:
        _MEMO.clear()
        _SECONDS.clear()
        if disk:
            _DISK.clear()


__all__ = [
    "HOPELESS",
    "MEASURE_MACS",
    "REPS",
    "candidates",
    "choose",
    "decisions",
    "macs",
    "measure",
    "reset",
    "static_choice",
    "workload_key",
]
