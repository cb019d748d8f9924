"""Hardware-in-the-loop targets: a full 65,536-pair table on the simulated board (Verilator) in at
most 30 s, pairs/s on Icarus too, layer outputs for the error-model fit, and the board's pairs/s
(estimated from clock and widths; measured when a PYNQ board with the bitstream is present).
"""

from __future__ import annotations

import time

import torch

from approxhil.errors import ToolMissingError
from approxhil.hil import LayerMeasure, measure_table
from approxhil_board.pynq_backend import estimate_throughput
from approxhil.hil.sim import DEFAULT_LANES, SimBackend
from approxhil.multipliers import golden_table
from approxhil.nn import approx_layers

TABLE_TARGET_S = 30.0
CONFIG = "3330"


def _table_rows(simulator: str) -> list[dict]:
    name = f"sim table ({simulator})"
    start = time.perf_counter()
    try:
        board = SimBackend((CONFIG,), simulator=simulator)
    except ToolMissingError as exc:
        return [{"benchmark": name, "metric": "skipped", "value": str(exc)}]
    opened = time.perf_counter() - start
    with board:
        table = measure_table(board, CONFIG)
        seconds = board.stats.per_job[-1]["seconds"] if board.stats.jobs == 1 else board.stats.seconds
    ok = table.sha256 == golden_table(CONFIG).sha256
    rows = [
        {"benchmark": name, "metric": f"build (cached: {board.build.cached}) + start (s)", "value": opened},
        {"benchmark": name, "metric": f"65,536 pairs, {CONFIG}, {DEFAULT_LANES} lanes (s)", "value": seconds,
         "target": f"<= {TABLE_TARGET_S:.0f} s" if simulator == "verilator" else None,
         "ok": (seconds <= TABLE_TARGET_S and ok) if simulator == "verilator" else ok},
        {"benchmark": name, "metric": "pairs/s", "value": 65536 / seconds},
        {"benchmark": name, "metric": "table equals golden model", "value": ok, "ok": ok},
    ]
    return rows


def _layer_rows(images: int) -> list[dict]:
    from approxhil.models import DigitsCNN
    from approxhil.workflow import approximate_network, load_splits, make_batches

    torch.manual_seed(0)
    digits = load_splits("digits")
    model = approximate_network(DigitsCNN(), CONFIG, make_batches("digits_cnn", digits.train, 64, train=False))
    x = next(iter(make_batches("digits_cnn", digits.test, images, train=False)))[0]
    inputs: dict[str, torch.Tensor] = {}
    layers = approx_layers(model)
    hooks = [l.register_forward_pre_hook(lambda m, a, n=n: inputs.__setitem__(n, a[0])) for n, l in layers.items()]
    with torch.no_grad():
        model.eval()(x)
    for h in hooks:
        h.remove()
    with SimBackend((CONFIG,), simulator="verilator") as board:
        measure = LayerMeasure(board)
        start = time.perf_counter()
        exact = True
        for name, layer in layers.items():
            x_int, w_int, _ = layer.int_operands(inputs[name])
            exact &= bool(torch.equal(measure.accumulations(layer, x_int, w_int), layer.integer_output(x_int, w_int)))
        seconds = time.perf_counter() - start
        pairs = board.stats.pairs
    name = "sim layer outputs (verilator)"
    return [
        {"benchmark": name, "metric": f"digits_cnn, {images} images, all layers (s)", "value": seconds},
        {"benchmark": name, "metric": "operand pairs/s (dot-product mode)", "value": pairs / seconds},
        {"benchmark": name, "metric": "equal to the behavioral simulation", "value": exact, "ok": exact},
    ]


def _board_rows() -> list[dict]:
    est = estimate_throughput(lanes=4, fclk_mhz=100.0, hp_bits=64)
    name = "board (pynq-z2, 4 lanes, 100 MHz)"
    rows = [
        {"benchmark": name, "metric": "estimate: products mode pairs/s (result stream bound)", "value": est["products_pairs_per_s"]},
        {"benchmark": name, "metric": "estimate: dot-product mode pairs/s", "value": est["dot_pairs_per_s"]},
        {"benchmark": name, "metric": "estimate: table streaming time (s)", "value": est["table_stream_s"], "target": "< 1 s", "ok": est["table_stream_s"] < 1.0},
    ]
    try:
        from approxhil_board.pynq_backend import PynqBackend

        with PynqBackend() as board:
            start = time.perf_counter()
            table = measure_table(board, CONFIG)
            seconds = time.perf_counter() - start
        rows.append({"benchmark": name, "metric": "measured: table (s)", "value": seconds, "target": "< 1 s", "ok": seconds < 1.0 and table.sha256 == golden_table(CONFIG).sha256})
        rows.append({"benchmark": name, "metric": "measured: pairs/s", "value": 65536 / seconds})
    except ToolMissingError as exc:
        rows.append({"benchmark": name, "metric": "measured", "value": f"no board here ({exc.message.split('(')[0].strip()})"})
    return rows


def run(quick: bool = False) -> list[dict]:
    rows = _table_rows("verilator") + _table_rows("icarus")
    rows += _layer_rows(8 if quick else 32)
    rows += _board_rows()
    return rows
