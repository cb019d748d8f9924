"""Foundation targets: building every paper table from the golden models takes well under a second."""

from __future__ import annotations

import time

from approxhil.multipliers.compose import PAPER_CONFIGS
from approxhil.multipliers.golden import golden_table


def run(quick: bool = False) -> list[dict]:
    reps = 1 if quick else 5
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        for config in PAPER_CONFIGS:
            golden_table(config)
        best = min(best, time.perf_counter() - start)
    return [
        {
            "benchmark": "golden tables",
            "metric": "all 8 paper configs, sign-magnitude 256x256 (s)",
            "value": best,
            "target": "< 1 s",
            "ok": best < 1.0,
        }
    ]
