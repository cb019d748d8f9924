"""Table-1 / Table-2 style report: each SMApprox design beside the paper's LUT count and MRE."""

from __future__ import annotations

from typing import Any

from approxhil.multipliers.compose import PAPER_CONFIGS
from approxhil.multipliers.designs4x4 import DESIGNS, PAPER_LUTS_4X4
from approxhil.multipliers.golden import golden_table

PAPER_MRE_4X4: dict[int, float | None] = {0: 0.0, 1: 7.2, 2: 12.6, 3: 12.3, 4: None}


def _row(design: str, paper_luts: Any, paper_mre: Any, metrics: dict[str, float]) -> dict[str, Any]:
    return {
        "design": design,
        "paper LUTs": paper_luts,
        "paper MRE %": paper_mre,
        "MRE %": metrics["mre"],
        "MAE": metrics["mae"],
        "WCE": metrics["wce"],
        "err prob": metrics["error_probability"],
        "mean err": metrics["mean_error"],
        "err std": metrics["std_error"],
    }


def design_report(configs: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows for all 4x4 designs (MRE with n = 16) and the given 8x8 configs (n = 128, unsigned)."""
    rows = []
    for d in DESIGNS:
        t = golden_table(f"4x4-{d}")
        rows.append(_row(t.name, PAPER_LUTS_4X4[d], PAPER_MRE_4X4[d], t.metrics()))
    for config in configs or ["0000", *PAPER_CONFIGS]:
        t = golden_table(config, encoding="unsigned")
        paper = PAPER_CONFIGS.get(config, {"luts": 64, "mre": 0.0} if config == "0000" else {})
        rows.append(_row(config, paper.get("luts"), paper.get("mre"), t.metrics()))
    return rows
