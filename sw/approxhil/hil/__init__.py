"""Hardware in the loop: the approxhil accelerator on a PYNQ board or in an RTL simulation, one interface.

``open_backend("sim")`` runs the ``hw/`` RTL under cocotb (Icarus or Verilator);
``open_backend("pynq", bitstream=...)`` drives the same core on a board through AXI DMA. Both measure
truth tables (:func:`measure_table`) and approximate layers' outputs (:class:`LayerMeasure`, the
measured-output source of the error-model fit, see :func:`fit_on_backend`).

Names are imported on first use, so the simulated board (which imports :mod:`approxhil.hil.wire`
inside the simulator) does not pay for PyTorch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Backend": "backend",
    "BackendStats": "backend",
    "BitstreamError": "errors",
    "HilError": "errors",
    "HilProtocolError": "errors",
    "HilTimeoutError": "errors",
    "BACKENDS": "loop",
    "check_layer_tables": "loop",
    "fit_on_backend": "loop",
    "open_backend": "loop",
    "LayerMeasure": "measure",
    "compare_tables": "measure",
    "measure_table": "measure",
    "CoreInfo": "regs",
    "PynqBackend": "board",
    "SimBackend": "sim",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'approxhil.hil' has no attribute {name!r}")
    return getattr(importlib.import_module(f"approxhil.hil.{_EXPORTS[name]}"), name)
