"""GPU targets, measured on a CUDA device: the table-lookup engines' MAC rate (the CUDA kernel for any
table, the torch gathers, the low-rank int8 GEMMs and ``auto``'s measured choice), and the error-model
measurements of ``bench_errormodel`` (ResNet8, batch 64) on CUDA — the paper's Table 5/6 ran on a GPU.

Rows say so where no CUDA device is present.
"""

from __future__ import annotations

import time

import torch

from approxhil.multipliers import golden_table
from approxhil.nn.engines import Geometry, plan_for, select_engine
from approxhil.nn.errors import EngineError
from approxhil.nn.multiplier import oriented_values
from bench import bench_errormodel
from bench.bench_nn import BATCH, random_table


def _engine_rows(quick: bool, device: torch.device) -> list[dict]:
    rows = []
    geometry = Geometry((1, 1), (1, 1), (1, 1), 1)
    x = torch.randint(-128, 128, (BATCH, 64, 32, 32), device=device).float()
    w = torch.randint(-128, 128, (64, 64, 3, 3), device=device).float()
    macs = BATCH * 64 * 32 * 32 * 64 * 9
    cases = (
        ("gather-cuda", random_table(), 1e12),
        ("gather-gpu", random_table(), 1e12),
        ("lowrank-gpu", golden_table("3330"), 2e12),
        ("auto", random_table(), 1e12),
        ("auto", golden_table("3330"), 2e12),
    )
    for engine_name, table, target in cases:
        plan = plan_for(oriented_values(table))
        try:
            engine = select_engine(engine_name, plan, device, x, w, geometry)
        except EngineError as exc:
            rows.append({"benchmark": f"GPU {engine_name}", "metric": f"table-lookup MAC/s ({table.name})", "value": f"unavailable: {exc}"})
            continue
        engine(x, w, plan, geometry)
        torch.cuda.synchronize()
        best = float("inf")
        for _ in range(2 if quick else 5):
            start = time.perf_counter()
            engine(x, w, plan, geometry)
            torch.cuda.synchronize()
            best = min(best, time.perf_counter() - start)
        rate = macs / best
        label = engine_name if engine_name != "auto" else f"auto ({engine.name})"
        rows.append(
            {
                "benchmark": f"GPU {label}",
                "metric": f"table-lookup MAC/s ({table.name}, 64x64x3x3 conv, batch 64)",
                "value": rate,
                "target": f">= {target:.0e}",
                "ok": rate >= target,
            }
        )
    return rows


def run(quick: bool = False) -> list[dict]:
    if not torch.cuda.is_available():
        return [
            {
                "benchmark": "GPU",
                "metric": "engines and error-model step times on CUDA",
                "value": "no CUDA device here (see docs/benchmarks-gpu.md)",
            }
        ]
    device = torch.device("cuda")
    name = torch.cuda.get_device_name(device)
    rows = _engine_rows(quick, device)
    rows += [
        {**row, "benchmark": f"GPU {row['benchmark']}", "metric": f"{row['metric']} [{name}]"}
        for row in bench_errormodel.measure(quick, device)
    ]
    return rows
