"""RTL stage targets: the whole exhaustive verification (every 4x4 design, 0000, the paper's eight
configs and the signed wrapper) on Icarus and Verilator, from fresh builds, in at most 60 s.

The two simulators run side by side (one per core); each row gives build and sweep time and the
swept pairs per second. Every table must equal its golden model.
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from approxhil.rtl.tools import available_simulators
from approxhil.rtl.verify import Verification, verify_rtl

TARGET_S = 60.0


def run(quick: bool = False) -> list[dict]:
    sims = available_simulators()
    with tempfile.TemporaryDirectory(prefix="bench-rtl-") as tmp:
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(sims) or 1) as pool:
            results: list[Verification] = list(pool.map(lambda s: verify_rtl(s, build_root=Path(tmp) / "build"), sims))
        total = time.perf_counter() - start
    rows = [
        {
            "benchmark": "rtl verification",
            "metric": f"all designs, exhaustive, {' + '.join(sims)} in parallel, fresh builds (s)",
            "value": total,
            "target": f"<= {TARGET_S:.0f} s",
            "ok": total <= TARGET_S and len(sims) == 2,
        }
    ]
    for r in results:
        sweep = r.result
        rows += [
            {"benchmark": "rtl verification", "metric": f"{r.simulator} {r.version}: build (s)", "value": sweep.build_seconds},
            {"benchmark": "rtl verification", "metric": f"{r.simulator}: sweep of {r.pairs:,} pairs (s)", "value": sweep.run_seconds},
            {"benchmark": "rtl verification", "metric": f"{r.simulator}: pairs/s", "value": r.pairs / sweep.run_seconds},
            {"benchmark": "rtl verification", "metric": f"{r.simulator}: {len(r.checks)} tables equal golden", "value": r.ok, "ok": r.ok},
        ]
    return rows
