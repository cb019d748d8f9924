"""The main job behind ``make demo``: RTL → truth table → 8-bit network → error model → retraining → report.

Runs on scikit-learn's digits (shipped with a dependency, no download) in a few minutes on 2 cores:
simulate one SMApprox config's netlist exhaustively with cocotb, export its table, train a small 8-bit
network, fit the error model, retrain with the error model and with the behavioral simulation, evaluate
both with the behavioral simulation, print the result table and write plots. The same steps run on
CIFAR-10 with ResNet8 (``--dataset cifar10 --model resnet8``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from approxhil.allocator import keep_freed_memory
from approxhil.experiments.grid import Cell, Grid
from approxhil.experiments.report import build_report
from approxhil.experiments.runner import base_record, run_grid
from approxhil.models.registry import model_info
from approxhil.multipliers.golden import golden_table
from approxhil.rtl.tools import SIMULATORS
from approxhil.tables import TruthTable
from approxhil.train.config import ConfigError


@dataclass(frozen=True, kw_only=True)
class DemoConfig:
    """Settings of the demo; the defaults finish in a few minutes on a 2-core CPU.

    Every setting is checked when the config is made, before any simulation or training starts.
    """

    config: str = "2222"
    model: str = "digits_cnn"
    dataset: str | None = None  # the network's own data set; naming another one is refused
    simulator: str = "verilator"
    rtl: bool = True
    epochs: int = 3
    fit_samples: int = 1000
    train_subset: int | None = None
    modes: tuple[str, ...] = ("errormodel", "behavioral")
    data: Path | None = None
    out: Path = field(default_factory=lambda: Path("build/demo"))

    def __post_init__(self) -> None:
        info = model_info(self.model)
        if self.dataset is not None and self.dataset != info.dataset:
            raise ConfigError(
                f"network {self.model} runs on {info.dataset}, not {self.dataset}", fix=f"use --dataset {info.dataset} or another --model"
            )
        if self.rtl and self.simulator not in SIMULATORS:
            raise ConfigError(f"unknown simulator {self.simulator!r}", fix=f"use one of: {', '.join(SIMULATORS)}")
        for mode in self.modes:  # the cells the demo will run, validated now
            Cell(
                network=self.model,
                multiplier=self.config,
                mode=mode,
                epochs=self.epochs,
                fit_samples=self.fit_samples,
                train_subset=self.train_subset,
            )


def export_table(cfg: DemoConfig) -> tuple[TruthTable, Path, dict[str, Any]]:
    """Simulate the config's RTL exhaustively (or use the golden model) and write its table."""
    path = cfg.out / "tables" / f"{cfg.config}-{'rtl' if cfg.rtl else 'golden'}.npz"
    info: dict[str, Any] = {}
    if cfg.rtl:
        from approxhil.rtl.export import simulate_table

        table = simulate_table(cfg.config, simulator=cfg.simulator)
        info["matches_golden"] = bool(np.array_equal(table.values, golden_table(cfg.config).values))
    else:
        table = golden_table(cfg.config)
    table.save(path)
    info["table"] = str(path)
    return table, path, info


def run_demo(cfg: DemoConfig, echo: Callable[[str], None] = print, progress: bool = False) -> dict[str, Any]:
    """Run every step, print a summary table, return the records (tables, results, timings)."""
    from approxhil.textable import markdown_table

    keep_freed_memory()
    timings: dict[str, float] = {}

    start = time.perf_counter()
    table, table_path, info = export_table(cfg)
    timings["table export"] = time.perf_counter() - start
    source = f"RTL simulation ({cfg.simulator})" if cfg.rtl else "golden model"
    echo(
        f"[1/4] {table.name} table from {source}: MRE {table.metrics()['mre']:.2f} %, sha256 {table.sha256[:12]}"
        + (f", equals golden model: {info['matches_golden']}" if cfg.rtl else "")
    )

    results_root = cfg.out / "results"
    start = time.perf_counter()
    base = base_record(cfg.model, results_root, cfg.data, progress=progress)
    timings["float training + 8-bit baseline"] = time.perf_counter() - start
    echo(f"[2/4] {cfg.model}: float {_pct(base['float'])}, 8-bit {_pct(base['int8'])}")

    grid = Grid(
        networks=(cfg.model,),
        multipliers=(str(table_path),),
        modes=cfg.modes,
        epochs=cfg.epochs,
        fit_samples=cfg.fit_samples,
        train_subset=cfg.train_subset,
    )
    start = time.perf_counter()
    results = run_grid(grid, results_root, cfg.data, progress=progress)
    timings["fit + retraining"] = time.perf_counter() - start
    echo(f"[3/4] retrained in modes {', '.join(cfg.modes)} for {cfg.epochs} epoch(s)")

    report = build_report(results_root, cfg.out)
    echo(f"[4/4] report: {report}, plots in {cfg.out / 'plots'}")

    rows = [
        {"network": f"{cfg.model} float", "accuracy %": _acc(base["float"]), "s/epoch": None, "fit s": None},
        {"network": f"{cfg.model} 8-bit exact", "accuracy %": _acc(base["int8"]), "s/epoch": None, "fit s": None},
        {"network": f"{table.name} before retraining", "accuracy %": _acc(results[0]["before"]), "s/epoch": None, "fit s": None},
    ]
    for r in results:
        hist = r["history"]
        rows.append(
            {
                "network": f"{table.name} after {r['cell']['mode']}",
                "accuracy %": _acc(r["after"]),
                "s/epoch": float(np.median([h["seconds"] for h in hist])) if hist else None,
                "fit s": r.get("fit_seconds"),
            }
        )
    echo("")
    echo(markdown_table(rows))
    echo("\naccuracies measured with the bit-exact behavioral simulation of the table")
    return {"table": info, "base": base, "results": results, "timings": timings, "rows": rows}


def _acc(acc: dict[str, float]) -> float:
    return acc.get("test_exact", acc["test"])


def _pct(acc: dict[str, float]) -> str:
    return f"{_acc(acc):.2f} %"
