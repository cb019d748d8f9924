"""The toolkit's entry points, in pipeline order: what the CLI, the notebook and the demo call.

rtl → tables → simulation → error model → retraining → hardware, plus the experiment grid and its
report. Each name is a library function or type defined in the module that owns it; this module only
gathers them, so the command line, the notebook and a user's script run the same code. Names load on
first use (``approxhil --help`` does not pay for PyTorch).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    # multipliers and truth tables
    "PAPER_CONFIGS": "approxhil.multipliers.compose",
    "parse_multiplier": "approxhil.multipliers.spec",
    "golden_table": "approxhil.multipliers.golden",
    "resolve_table": "approxhil.multipliers.golden",
    "design_report": "approxhil.multipliers.report",
    "TruthTable": "approxhil.tables",
    "import_array": "approxhil.tables",
    # RTL
    "simulate_table": "approxhil.rtl.export",
    "import_verilog": "approxhil.rtl.importer",
    "verify_rtl": "approxhil.rtl.verify",
    "lut_report": "approxhil.rtl.yosys",
    "write_lut_report": "approxhil.rtl.yosys",
    # the retraining workflow
    "load_splits": "approxhil.workflow",
    "make_batches": "approxhil.workflow",
    "test_sets": "approxhil.workflow",
    "float_network": "approxhil.workflow",
    "base_network": "approxhil.workflow",
    "prepare": "approxhil.workflow",
    "Prepared": "approxhil.workflow",
    "approximate_network": "approxhil.workflow",
    "fit": "approxhil.workflow",
    "fit_network": "approxhil.workflow",
    "accuracies": "approxhil.workflow",
    "evaluation_rows": "approxhil.workflow",
    "summary_rows": "approxhil.workflow",
    "recover": "approxhil.workflow",
    "load_retrained": "approxhil.workflow",
    "fit_on_hardware": "approxhil.workflow",
    "ErrorModel": "approxhil.errormodel",
    "sample_neurons": "approxhil.errormodel.fit",
    "RetrainConfig": "approxhil.train",
    "layer_fidelity": "approxhil.train.hybrid",
    "approx_layers": "approxhil.nn",
    "Gradient": "approxhil.nn.gradients",
    "set_gradient": "approxhil.nn.gradients",
    "gradient_tables": "approxhil.nn.gradients",
    # hardware in the loop
    "open_backend": "approxhil.hil",
    "measure_table": "approxhil.hil",
    "compare_tables": "approxhil.hil",
    "fit_on_backend": "approxhil.hil",
    "deploy": "approxhil.hil.deploy",
    # experiments, report, demo
    "Cell": "approxhil.experiments.grid",
    "Grid": "approxhil.experiments.grid",
    "run_cell": "approxhil.experiments.runner",
    "run_grid": "approxhil.experiments.runner",
    "build_report": "approxhil.experiments.report",
    "DemoConfig": "approxhil.demo",
    "run_demo": "approxhil.demo",
    # files, plots and printing
    "check_output_path": "approxhil.atomic",
    "table_error_figure": "approxhil.plots",
    "neuron_figure": "approxhil.plots",
    "markdown_table": "approxhil.textable",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'approxhil.api' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
