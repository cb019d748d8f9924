"""Hardware in the loop: the approxhil accelerator on a PYNQ board or in an RTL simulation, one interface.

``open_backend("sim")`` runs the ``hw/`` RTL under cocotb (Icarus or Verilator);
``open_backend("remote", board="HOST")`` reaches the core on a board through the board's agent
(set up by ``approxhil hil deploy``); ``open_backend("pynq", bitstream=...)`` drives it on the board
itself. All measure truth tables (:func:`measure_table`) and approximate layers' outputs
(:class:`LayerMeasure`, the measured-output source of the error-model fit, see :func:`fit_on_backend`).

What runs on the board — registers, job protocol, ``PynqBackend``, the agent and its link — is the
torch-free package :mod:`approxhil_board`; this package is the host side.

Names are imported on first use, so the simulated board (which imports :mod:`approxhil.hil.wire`
inside the simulator) does not pay for PyTorch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Backend": "approxhil_board.backend",
    "BackendStats": "approxhil_board.backend",
    "BitstreamError": "approxhil.hil.errors",
    "HilError": "approxhil.hil.errors",
    "HilProtocolError": "approxhil.hil.errors",
    "HilTimeoutError": "approxhil.hil.errors",
    "BACKENDS": "approxhil.hil.loop",
    "check_layer_tables": "approxhil.hil.loop",
    "fit_on_backend": "approxhil.hil.loop",
    "open_backend": "approxhil.hil.loop",
    "LayerMeasure": "approxhil.hil.measure",
    "compare_tables": "approxhil.hil.measure",
    "measure_table": "approxhil.hil.measure",
    "CoreInfo": "approxhil_board.regs",
    "PynqBackend": "approxhil_board.pynq_backend",
    "RemoteBackend": "approxhil.hil.remote",
    "SimBackend": "approxhil.hil.sim",
    "deploy": "approxhil.hil.deploy",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'approxhil.hil' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
