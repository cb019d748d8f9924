"""The backend interface: one accelerator, reached on a PYNQ board, in an RTL simulation or through an agent.

A backend implements only :meth:`Backend.execute` (run one :class:`~approxhil_board.protocol.Job`:
register writes, DMA out and in, register reads) and :meth:`Backend.provenance`. Everything else —
identifying the core, choosing the multiplier, packing operands, splitting work into transfers,
checking and unpacking results — lives here and in :mod:`approxhil_board.protocol`, shared by all.
(The remote backend overrides :meth:`Backend.products` and :meth:`Backend.dot` instead: the agent on
the board runs them through its own backend.)
"""

from __future__ import annotations

import abc
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from approxhil_board import protocol
from approxhil_board.errors import HilError
from approxhil_board.regs import CoreInfo

_CONFIG = re.compile(r"[0-4]{4}")


def config_name(config: object) -> str:
    """The canonical name of an SMApprox 8x8 config (four digits 0..4, e.g. ``"3330"``)."""
    text = str(config).strip()
    if not _CONFIG.fullmatch(text):
        raise HilError(
            f"the accelerator holds signed 8x8 SMApprox multipliers; {text!r} is not one",
            fix="name a four-digit config such as 3330",
        )
    return text


@dataclass
class BackendStats:
    """Work done through a backend: jobs, operand pairs streamed and wall time spent executing."""

    jobs: int = 0
    pairs: int = 0
    seconds: float = 0.0
    per_job: list[dict[str, Any]] = field(default_factory=list)

    def add(self, job: protocol.Job, seconds: float, extra: dict[str, Any]) -> None:
        self.record(job.label, protocol.job_pairs(job), seconds, extra)

    def record(self, label: str, pairs: int, seconds: float, extra: dict[str, Any], jobs: int = 1) -> None:
        """Count ``jobs`` jobs (or one remote request of that many) streaming ``pairs`` operand pairs."""
        self.jobs += jobs
        self.pairs += pairs
        self.seconds += seconds
        self.per_job.append({"label": label, "seconds": seconds, **extra})


class Backend(abc.ABC):
    """An approxhil accelerator: measure raw products and dot products of int8 operands."""

    #: Short name recorded in provenance (``sim``, ``pynq``, ``remote`` or ``memory``).
    kind: str = "backend"
    #: Where a measured table comes from (``TruthTable`` provenance): ``board``, ``rtl-sim``, ...
    source: str = "board"
    #: Largest single DMA transfer in bytes; work is split into jobs below it.
    max_transfer_bytes: int = 1 << 22

    def __init__(self) -> None:
        self._info: CoreInfo | None = None
        self.stats = BackendStats()
        #: The multiplier measured when a call names none (set by :func:`approxhil.hil.open_backend`).
        self.default_config: str | None = None
        #: Asked between the jobs of one call; ``True`` abandons the call (the agent: the host left).
        self.abort_check: Callable[[], bool] | None = None

    # --------------------------------------------------------------- what a backend implements
    @abc.abstractmethod
    def execute(self, job: protocol.Job) -> protocol.JobResult:
        """Run one job on the hardware and report what was observed (no interpretation)."""

    @abc.abstractmethod
    def provenance(self) -> dict[str, Any]:
        """Where measurements come from: backend kind, simulator or bitstream hash, core parameters."""

    def close(self) -> None:  # noqa: B027 - optional: most backends hold nothing to release
        """Release the hardware (simulator process, overlay)."""

    def recover(self) -> None:  # noqa: B027 - optional: only hardware backends have a core to reset
        """Leave the core idle after a failed or abandoned call (cancel it, reset the DMA): no-op here."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --------------------------------------------------------------- shared protocol
    @property
    def name(self) -> str:
        """How errors and logs name this backend."""
        return self.kind

    def run(self, job: protocol.Job) -> np.ndarray:
        """Execute ``job`` and return its checked int32 results."""
        if self.abort_check is not None and self.abort_check():
            raise HilError(f"{self.name}: call abandoned before job {job.label} (the caller left)")
        start = time.perf_counter()
        result = self.execute(job)
        result.seconds = time.perf_counter() - start
        self.stats.add(job, result.seconds, result.extra)
        return protocol.check_result(job, result, self.name)

    def identify(self) -> CoreInfo:
        """Read and check the core's identity registers (once): version, lanes, selectable configs."""
        if self._info is None:
            result = self.execute(protocol.identity_job())
            self._info = protocol.check_identity(result, self.name)
        return self._info

    @property
    def info(self) -> CoreInfo:
        return self.identify()

    def resolve_config(self, config: str | None) -> str:
        """``config``, else the backend's default, else the core's only config."""
        if config is None:
            config = self.default_config
        if config is None:
            if len(self.info.configs) != 1:
                raise HilError(
                    f"{self.name}: name the multiplier to measure (the core holds {', '.join(self.info.configs)})",
                    fix="pass config=, e.g. measure_table(backend, '3330')",
                )
            config = self.info.configs[0]
        return config_name(config)

    def select(self, config: str) -> int:
        """Select index of SMApprox ``config`` in this core; :class:`HilError` lists the available ones."""
        name = config_name(config)
        try:
            return self.info.configs.index(name)
        except ValueError:
            raise HilError(
                f"{self.name}: multiplier {name} is not in this core (it holds {', '.join(self.info.configs)})",
                fix="choose one of those, or build the core with it (CONFIGS parameter)",
            ) from None

    def products(self, config: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Products ``M(a[i], b[i])`` of int8 operand pairs (1-D, equal length) as int32."""
        a = protocol.as_int8(a, "operand A").reshape(-1)
        b = protocol.as_int8(b, "operand B").reshape(-1)
        if a.shape != b.shape:
            raise HilError(f"operand arrays differ in length ({a.size} and {b.size})")
        select, lanes = self.select(config), self.info.lanes
        step = protocol.results_per_job(None, lanes, self.max_transfer_bytes)
        parts = [self.run(protocol.products_job(select, a[i : i + step], b[i : i + step], lanes)) for i in range(0, a.size, step)]
        return _joined(parts)

    def dot(self, config: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Dot products ``sum_k M(a[n, k], b[n, k])`` of the rows of two ``[N, K]`` int8 arrays, as int32."""
        a = protocol.as_int8(a, "operand A")
        b = protocol.as_int8(b, "operand B")
        if a.ndim != 2 or a.shape != b.shape:
            raise HilError(f"dot products need two [N, K] arrays of one shape, got {a.shape} and {b.shape}")
        if a.shape[0] == 0:
            return np.zeros(0, np.int32)
        if a.shape[1] == 0:
            raise HilError(f"dot products need at least one pair per vector, got {a.shape[0]}x0")
        select, lanes = self.select(config), self.info.lanes
        step = protocol.results_per_job(a.shape[1], lanes, self.max_transfer_bytes)
        parts = [self.run(protocol.dot_job(select, a[i : i + step], b[i : i + step], lanes)) for i in range(0, a.shape[0], step)]
        return _joined(parts)


def _joined(parts: list[np.ndarray]) -> np.ndarray:
    """The results of consecutive jobs as one array (no copy for a single job)."""
    if len(parts) == 1:
        return parts[0]
    return np.concatenate(parts) if parts else np.zeros(0, np.int32)
