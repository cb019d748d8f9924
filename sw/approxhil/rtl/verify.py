"""Exhaustive verification of the SMApprox RTL against the golden models, one sweep per simulator.

A single harness holds every 4x4 design, the 8x8 core for 0000 and each paper config, and the
signed wrapper, so one build and one sweep per simulator cover everything.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from approxhil.errors import ToolFailedError
from approxhil.multipliers.compose import PAPER_CONFIGS
from approxhil.multipliers.designs4x4 import DESIGNS
from approxhil.multipliers.golden import golden_table
from approxhil.rtl.export import smapprox_target
from approxhil.rtl.sources import smapprox_sources
from approxhil.rtl.sweep import SweepResult, Target, compare, sweep

#: 8x8 configs verified by default: the exact one and the paper's eight.
DEFAULT_CONFIGS: tuple[str, ...] = ("0000", *PAPER_CONFIGS)
#: Configs whose signed (sign-magnitude) wrapper is verified: the wrapper's logic does not depend
#: on the config, so the exact core and the default config cover it.
DEFAULT_SIGNED: tuple[str, ...] = ("0000", "3330")


@dataclass(frozen=True)
class Check:
    """One verified multiplier: its spec, encoding, the sweep target, the golden table."""

    spec: str
    encoding: str
    target: Target

    def golden(self) -> np.ndarray:
        return golden_table(self.spec, encoding=self.encoding).values


def verification_checks(
    configs: Sequence[str] = DEFAULT_CONFIGS,
    signed: Sequence[str] = DEFAULT_SIGNED,
    designs: Sequence[int] = tuple(DESIGNS),
) -> list[Check]:
    """Every 4x4 design, the unsigned 8x8 cores of ``configs``, the signed wrappers of ``signed``."""
    checks = [Check(f"4x4-{d}", "unsigned", smapprox_target(f"4x4-{d}", label=f"d{d}")) for d in designs]
    checks += [Check(c, "unsigned", smapprox_target(c, "unsigned", label=f"u{c}")) for c in configs]
    checks += [Check(c, "sign-magnitude", smapprox_target(c, "sign-magnitude", label=f"s{c}")) for c in signed]
    return checks


@dataclass
class Verification:
    """Outcome of one simulator's verification: per-check mismatch reports and timings."""

    simulator: str
    version: str
    checks: list[Check]
    result: SweepResult
    seconds: float
    reports: dict[str, str | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r is None for r in self.reports.values())

    def check(self) -> Verification:
        """Raise :class:`ToolFailedError` naming every table that differs from its golden model."""
        failed = [r for r in self.reports.values() if r]
        if failed:
            raise ToolFailedError(
                "RTL differs from the golden models: " + " | ".join(failed), fix="fix the netlists (or golden models) named"
            )
        return self

    @property
    def pairs(self) -> int:
        return sum(c.golden().size for c in self.checks)

    def rows(self) -> list[dict[str, object]]:
        return [
            {
                "simulator": self.simulator,
                "multiplier": c.spec,
                "encoding": c.encoding,
                "module": c.target.module,
                "pairs": int(self.result.tables[c.target.label].size),
                "equal to golden": self.reports[c.target.label] is None,
            }
            for c in self.checks
        ]


def verify_rtl(
    simulator: str,
    checks: Sequence[Check] | None = None,
    work_dir: Path | None = None,
    build_root: Path | None = None,
    timeout: float = 600.0,
) -> Verification:
    """Sweep every check on ``simulator`` in one run and compare each table with its golden model."""
    import tempfile

    checks = list(checks or verification_checks())
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="approxhil-verify-") as tmp:
        result = sweep(
            [c.target for c in checks], smapprox_sources(), simulator, Path(work_dir or tmp), build_root=build_root, timeout=timeout
        )
    reports = {c.target.label: compare(result.tables[c.target.label], c.golden(), f"{c.spec} ({c.encoding}, {simulator})") for c in checks}
    return Verification(result.simulator, result.version, checks, result, time.perf_counter() - start, reports)
