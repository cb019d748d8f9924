"""The loop: open a backend by name, measure on it, and fit the error model from its measured outputs.

The fitted model records the backend (simulator or bitstream hash) and is used for retraining like
one fitted from the behavioral simulation (``approxhil retrain --error-model ...``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

from approxhil_board.backend import Backend
from torch import nn

from approxhil.errormodel.fit import fit_error_model
from approxhil.errormodel.model import ErrorModel
from approxhil.errors import SpecError
from approxhil.hil.errors import HilError
from approxhil.hil.measure import LayerMeasure, measure_table
from approxhil.multipliers.spec import parse_multiplier
from approxhil.nn import approx_layers
from approxhil.tables import TruthTable

BACKENDS = ("sim", "pynq", "remote")


def open_backend(
    kind: str,
    config: str | None = None,
    configs: Sequence[str] | str | None = None,
    simulator: str = "verilator",
    lanes: int | None = None,
    bitstream: str | os.PathLike | None = None,
    board: str | None = None,
    secret_file: str | os.PathLike | None = None,
) -> Backend:
    """A backend by name: ``sim`` (the ``hw/`` RTL under cocotb), ``pynq`` (on the board itself, with the
    bitstream) or ``remote`` (the board's agent at ``board`` = ``HOST[:PORT]``).

    ``config`` is the multiplier measured when none is named (:func:`measure_table`); a simulated core
    holds ``configs``, by default just ``config`` (or three configs when neither is given). For
    ``remote``, ``configs``, ``lanes`` and ``bitstream`` are what the board must have (a mismatch is
    refused by name), and the secret comes from ``secret_file`` or where ``approxhil hil deploy`` put it.
    """
    if config is not None:
        config = parse_multiplier(config).name
    if kind == "sim":
        from approxhil.hil.sim import DEFAULT_CONFIGS, DEFAULT_LANES, SimBackend

        backend: Backend = SimBackend(
            configs or ([config] if config else DEFAULT_CONFIGS), simulator=simulator, lanes=lanes or DEFAULT_LANES
        )
    elif kind == "pynq":
        from approxhil_board.pynq_backend import DEFAULT_BOARD, PynqBackend

        from approxhil.hil.boards import default_bitstream

        name = board or DEFAULT_BOARD
        backend = PynqBackend(bitstream or default_bitstream(name), board=name)
    elif kind == "remote":
        from approxhil.hil.remote import RemoteBackend
        from approxhil.hil.sim import normalize_configs

        if not board:
            raise SpecError(
                "the remote backend needs the board's address", fix="pass --board HOST[:PORT] (the host `approxhil hil deploy` set up)"
            )
        expect = normalize_configs(configs) if configs else None
        backend = RemoteBackend(board, secret_file=secret_file, expect_bitstream=bitstream, expect_configs=expect, expect_lanes=lanes)
    else:
        raise SpecError(f"unknown backend {kind!r}", fix=f"use one of: {', '.join(BACKENDS)}")
    backend.default_config = config
    return backend


def check_layer_tables(backend: Backend, model: nn.Module, tables: dict[str, TruthTable] | None = None) -> dict[str, TruthTable]:
    """Measure the core's table of every multiplier the model's layers use and require it to equal theirs.

    Returns the measured tables by config. :class:`HilError` when a layer's table is not what the core
    computes (the error model would describe other hardware than the table it is recorded with).
    """
    tables = dict(tables or {})
    layers = approx_layers(model)
    if not layers:
        raise HilError("the model has no approximate layers to measure", fix="convert it with approxhil.nn.approximate()")
    for name, layer in layers.items():
        config = layer.multiplier_name
        if config is None:
            raise HilError(f"layer {name} has no multiplier", fix="approximate the model with the core's multiplier")
        if config not in tables:
            tables[config] = measure_table(backend, config, operand_a=layer.operand_a or "activation")
        measured = tables[config]
        if measured.sha256 != layer.multiplier_sha256:
            raise HilError(
                f"layer {name}: the core's multiplier {config} ({measured.sha256[:12]}) is not the layer's table "
                f"({str(layer.multiplier_sha256)[:12]})",
                fix="approximate the model with the table measured on this backend (`approxhil hil table`)",
            )
    return tables


def fit_on_backend(
    backend: Backend,
    model: nn.Module,
    batches: Iterable,
    samples: int,
    progress: bool = True,
    tables: dict[str, TruthTable] | None = None,
) -> ErrorModel:
    """Fit the per-neuron error model of ``model`` with every approximate layer's output measured on ``backend``.

    The layers' tables are first checked against the core (:func:`check_layer_tables`); the model's
    statistics then come from the accelerator's outputs instead of the table engine.
    """
    checked = check_layer_tables(backend, model, tables)
    measure = LayerMeasure(backend)
    model_ = fit_error_model(model, batches, samples, measure=measure, source=f"hil-{backend.name}", progress=progress)
    model_.meta["hil"] = {
        **backend.provenance(),
        "tables": {config: table.sha256 for config, table in checked.items()},
        "layers": measure.stats,
        "jobs": backend.stats.jobs,
        "pairs": backend.stats.pairs,
    }
    return model_
