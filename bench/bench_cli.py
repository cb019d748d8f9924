"""Start-up of the command line: `approxhil --help` and a usage error answer before any heavy import."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time


def _seconds(args: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "approxhil", *args], capture_output=True, timeout=60)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(quick: bool = False) -> list[dict]:
    repeats = 3 if quick else 7
    rows = []
    for label, args in (
        ("approxhil --help", ["--help"]),
        ("usage error (unknown option)", ["tables", "export", "--bogus"]),
        ("approxhil fit --help", ["fit", "--help"]),
    ):
        seconds = _seconds(args, repeats)
        rows.append(
            {
                "benchmark": "cli start-up",
                "metric": f"{label}: seconds (median of {repeats})",
                "value": seconds,
                "target": "≤ 1",
                "ok": seconds <= 1.0,
            }
        )
    return rows
