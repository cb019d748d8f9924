"""The paper's experiments: a resumable grid of retraining cells, cross-evaluation, and the report."""

from approxhil.experiments.grid import Cell, Grid, load_results
from approxhil.experiments.report import build_report
from approxhil.experiments.runner import base_record, cross_evaluate, run_cell, run_grid

__all__ = ["Cell", "Grid", "base_record", "build_report", "cross_evaluate", "load_results", "run_cell", "run_grid"]
