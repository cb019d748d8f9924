"""The backend interface: one accelerator, reached on a PYNQ board or in an RTL simulation.

A backend implements only :meth:`Backend.execute` (run one :class:`~approxhil.hil.protocol.Job`:
register writes, DMA out and in, register reads) and :meth:`Backend.provenance`. Everything else —
identifying the core, choosing the multiplier, packing operands, splitting work into transfers,
checking and unpacking results — lives here and in :mod:`approxhil.hil.protocol`, shared by both.
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from approxhil.hil import protocol
from approxhil.hil.errors import HilError
from approxhil.hil.regs import CoreInfo
from approxhil.multipliers.spec import parse_multiplier


@dataclass
class BackendStats:
    """Work done through a backend: jobs, operand pairs streamed and wall time spent executing."""

    jobs: int = 0
    pairs: int = 0
    seconds: float = 0.0
    per_job: list[dict[str, Any]] = field(default_factory=list)

    def add(self, job: protocol.Job, seconds: float, extra: dict[str, Any]) -> None:
        self.jobs += 1
        self.pairs += protocol.job_pairs(job)
        self.seconds += seconds
        self.per_job.append({"label": job.label, "seconds": seconds, **extra})


class Backend(abc.ABC):
    """An approxhil accelerator: measure raw products and dot products of int8 operands."""

    #: Short name recorded in provenance (``sim`` or ``pynq``).
    kind: str = "backend"
    #: Largest single DMA transfer in bytes; work is split into jobs below it.
    max_transfer_bytes: int = 1 << 22

    def __init__(self) -> None:
        self._info: CoreInfo | None = None
        self.stats = BackendStats()
        #: The multiplier measured when a call names none (set by :func:`approxhil.hil.open_backend`).
        self.default_config: str | None = None

    # --------------------------------------------------------------- what a backend implements
    @abc.abstractmethod
    def execute(self, job: protocol.Job) -> protocol.JobResult:
        """Run one job on the hardware and report what was observed (no interpretation)."""

    @abc.abstractmethod
    def provenance(self) -> dict[str, Any]:
        """Where measurements come from: backend kind, simulator or bitstream hash, core parameters."""

    def close(self) -> None:
        """Release the hardware (simulator process, overlay)."""

    def __enter__(self) -> "Backend":
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
        return parse_multiplier(config).name

    def select(self, config: str) -> int:
        """Select index of SMApprox ``config`` in this core; :class:`HilError` lists the available ones."""
        spec = parse_multiplier(config)
        if spec.kind != "smapprox8":
            raise HilError(
                f"the accelerator holds signed 8x8 SMApprox multipliers; {spec} is not one",
                fix="name a four-digit config such as 3330",
            )
        try:
            return self.info.configs.index(spec.name)
        except ValueError:
            raise HilError(
                f"{self.name}: multiplier {spec} is not in this core (it holds {', '.join(self.info.configs)})",
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
        return np.concatenate(parts) if parts else np.zeros(0, np.int32)

    def dot(self, config: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Dot products ``sum_k M(a[n, k], b[n, k])`` of the rows of two ``[N, K]`` int8 arrays, as int32."""
        a = protocol.as_int8(a, "operand A")
        b = protocol.as_int8(b, "operand B")
        if a.ndim != 2 or a.shape != b.shape:
            raise HilError(f"dot products need two [N, K] arrays of one shape, got {a.shape} and {b.shape}")
        if a.shape[0] == 0:
            return np.zeros(0, np.int32)
        select, lanes = self.select(config), self.info.lanes
        step = protocol.results_per_job(a.shape[1], lanes, self.max_transfer_bytes)
        parts = [self.run(protocol.dot_job(select, a[i : i + step], b[i : i + step], lanes)) for i in range(0, a.shape[0], step)]
        return np.concatenate(parts)
