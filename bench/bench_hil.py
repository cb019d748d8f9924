"""Hardware-in-the-loop targets: a full 65,536-pair table on the simulated board (Verilator) in at
most 30 s, pairs/s on Icarus too, layer outputs for the error-model fit, and the board's pairs/s
(estimated from clock and widths; measured when a PYNQ board with the bitstream is present).

The board path: a full table through host -> loopback -> agent -> real pynq -> emulated Zynq ->
Verilator (the digital twin) beside the simulated backend alone; the link's own cost on loopback
with the software model of the core (target >= 5e7 pairs/s in products mode, so the software never
limits a board on gigabit Ethernet); and the traffic of a ResNet8 error-model fit (bytes per
multiply-accumulate, and which of wire, board CPU and fabric limits it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from approxhil.errors import ApproxHilError, ToolMissingError
from approxhil.hil import LayerMeasure, measure_table
from approxhil.hil.sim import DEFAULT_LANES, SimBackend
from approxhil.multipliers import golden_table
from approxhil.nn import approx_layers
from approxhil_board import auth
from approxhil_board.pynq_backend import estimate_throughput

TABLE_TARGET_S = 30.0
CONFIG = "3330"
LINK_TARGET = 5e7
#: Gigabit Ethernet's TCP payload rate, and a PYNQ-Z2 fabric: 4 lanes at 100 MHz.
GIGABIT_BYTES_S = 117e6
FABRIC_MAC_S = 4 * 100e6


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
        {
            "benchmark": name,
            "metric": f"65,536 pairs, {CONFIG}, {DEFAULT_LANES} lanes (s)",
            "value": seconds,
            "target": f"<= {TABLE_TARGET_S:.0f} s" if simulator == "verilator" else None,
            "ok": (seconds <= TABLE_TARGET_S and ok) if simulator == "verilator" else ok,
        },
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
    hooks = [layer.register_forward_pre_hook(lambda m, a, n=n: inputs.__setitem__(n, a[0])) for n, layer in layers.items()]
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
        {
            "benchmark": name,
            "metric": "estimate: table streaming time (s)",
            "value": est["table_stream_s"],
            "target": "< 1 s",
            "ok": est["table_stream_s"] < 1.0,
        },
    ]
    try:
        from approxhil.hil import open_backend

        with open_backend("pynq") as board:
            start = time.perf_counter()
            table = measure_table(board, CONFIG)
            seconds = time.perf_counter() - start
        rows.append(
            {
                "benchmark": name,
                "metric": "measured: table (s)",
                "value": seconds,
                "target": "< 1 s",
                "ok": seconds < 1.0 and table.sha256 == golden_table(CONFIG).sha256,
            }
        )
        rows.append({"benchmark": name, "metric": "measured: pairs/s", "value": 65536 / seconds})
    except ApproxHilError as exc:  # no pynq here, no board, or no bitstream
        rows.append({"benchmark": name, "metric": "measured", "value": f"no board here ({exc.message.split('(')[0].strip()})"})
    return rows


def _twin_rows(sim_seconds: float | None) -> list[dict]:
    """A full table through the whole board stack, emulated: the overhead of the real stack over SimBackend."""
    from approxhil.hil.remote import RemoteBackend
    from approxhil.hil.twin.launch import Twin

    name = "twin table (remote -> agent -> pynq -> emulated Zynq -> verilator)"
    start = time.perf_counter()
    try:
        twin = Twin(configs=(CONFIG,))
    except ToolMissingError as exc:
        return [{"benchmark": name, "metric": "skipped", "value": str(exc)}]
    opened = time.perf_counter() - start
    with twin, RemoteBackend(twin.address, secret_file=twin.secret_file) as board:
        start = time.perf_counter()
        table = measure_table(board, CONFIG)
        seconds = time.perf_counter() - start
    ok = table.sha256 == golden_table(CONFIG).sha256
    rows = [
        {"benchmark": name, "metric": "start: fabric simulator + agent with pynq (s)", "value": opened},
        {"benchmark": name, "metric": f"65,536 pairs, {CONFIG} (s)", "value": seconds, "ok": ok},
        {"benchmark": name, "metric": "pairs/s", "value": 65536 / seconds},
    ]
    if sim_seconds:
        rows.append({"benchmark": name, "metric": "time over SimBackend alone (same core, same run)", "value": seconds / sim_seconds})
    return rows


class _ModelAgent:
    """The agent in its own process serving the software model of a core (exact products): the link alone."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="approxhil-bench-agent-"))
        self.secret = auth.write_secret(self.dir / "secret", auth.new_secret())
        self.log = self.dir / "agent.log"
        command = [sys.executable, "-m", "approxhil_board.agent", "--model-core", "0000", "--secret-file", str(self.secret), "--port", "0"]
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
        deadline = time.monotonic() + 60
        while not (found := re.search(r"listening on (\S+):(\d+)", self.log.read_text())):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the model agent did not start: {self.log.read_text()[-2000:]}")
            time.sleep(0.05)
        self.address = f"{found.group(1)}:{found.group(2)}"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def _link_rows(pairs: int, repeats: int) -> list[dict]:
    from approxhil.hil.remote import RemoteBackend

    name = "link on loopback (agent process, software core)"
    agent = _ModelAgent()
    rng = np.random.default_rng(0)
    a, b = (rng.integers(-128, 128, pairs, dtype=np.int8) for _ in range(2))
    try:
        with RemoteBackend(agent.address, secret_file=agent.secret) as board:
            board.products("0000", a[:4096], b[:4096])  # warm up
            rates, dot_rates = [], []
            for _ in range(repeats):
                start = time.perf_counter()
                out = board.products("0000", a, b)
                rates.append(pairs / (time.perf_counter() - start))
                start = time.perf_counter()
                board.dot("0000", a.reshape(-1, 512), b.reshape(-1, 512))
                dot_rates.append(pairs / (time.perf_counter() - start))
            exact = bool(np.array_equal(out, a.astype(np.int32) * b))
    finally:
        agent.close()
    best = max(rates)
    return [
        {
            "benchmark": name,
            "metric": f"products mode, {pairs:,} pairs, best of {repeats} (pairs/s)",
            "value": best,
            "target": f">= {LINK_TARGET:.0e}",
            "ok": best >= LINK_TARGET and exact,
        },
        {"benchmark": name, "metric": "products mode, median (pairs/s)", "value": float(np.median(rates))},
        {"benchmark": name, "metric": "dot-product mode, K=512, best (pairs/s)", "value": max(dot_rates)},
        {
            "benchmark": name,
            "metric": "for scale: gigabit Ethernet in products mode, 4 result bytes per pair (pairs/s)",
            "value": GIGABIT_BYTES_S / 4,
        },
    ]


def _resnet8_rows(images: int) -> list[dict]:
    """Layer outputs of ResNet8 through the link (software core): bytes per MAC and what limits a fit."""
    from approxhil.hil.remote import RemoteBackend
    from approxhil.models import ResNet8
    from approxhil.workflow import approximate_network

    torch.manual_seed(0)
    x = torch.rand(images, 3, 32, 32) * 2 - 1
    model = approximate_network(ResNet8(), "0000", [(x, None)], calibration_batches=1)
    layers = approx_layers(model)
    inputs: dict[str, torch.Tensor] = {}
    hooks = [layer.register_forward_pre_hook(lambda m, a, n=n: inputs.__setitem__(n, a[0])) for n, layer in layers.items()]
    with torch.no_grad():
        model.eval()(x)
    for h in hooks:
        h.remove()
    name = f"ResNet8 layer outputs through the link ({images} images, software core)"
    agent = _ModelAgent()
    try:
        with RemoteBackend(agent.address, secret_file=agent.secret) as board:
            measure = LayerMeasure(board)
            start = time.perf_counter()
            exact = True
            for layer_name, layer in layers.items():
                x_int, w_int, _ = layer.int_operands(inputs[layer_name])
                exact &= bool(torch.equal(measure.accumulations(layer, x_int, w_int), layer.integer_output(x_int, w_int)))
            seconds = time.perf_counter() - start
            macs = board.stats.pairs
            wire = sum(j["bytes"] for j in board.stats.per_job)
            agent_s = sum(j["agent_seconds"] for j in board.stats.per_job)
    finally:
        agent.close()
    per_mac = wire / macs
    wire_rate = GIGABIT_BYTES_S / per_mac
    return [
        {"benchmark": name, "metric": "MACs per image (incl. padding to whole vectors)", "value": macs / images},
        {"benchmark": name, "metric": "bytes on the wire per MAC (2 per pair in, 4 per result out)", "value": per_mac},
        {"benchmark": name, "metric": "end to end here: host unfold + link + agent (MAC/s)", "value": macs / seconds, "ok": exact},
        {"benchmark": name, "metric": "agent's own time here (MAC/s; an ARM Cortex-A9 is roughly 10-30x slower)", "value": macs / agent_s},
        {"benchmark": name, "metric": "limit: gigabit wire (MAC/s)", "value": wire_rate},
        {"benchmark": name, "metric": "limit: PYNQ-Z2 fabric, 4 lanes at 100 MHz (MAC/s)", "value": FABRIC_MAC_S},
        {"benchmark": name, "metric": "fit of 256 images at the wire's limit (s)", "value": 256 * macs / images / wire_rate},
    ]


def run(quick: bool = False) -> list[dict]:
    rows = _table_rows("verilator") + _table_rows("icarus")
    sim = next((r["value"] for r in rows if r["benchmark"] == "sim table (verilator)" and str(r["metric"]).startswith("65,536")), None)
    rows += _twin_rows(sim)
    rows += _link_rows(1 << 22 if quick else 1 << 24, 2 if quick else 5)
    rows += _resnet8_rows(1 if quick else 2)
    rows += _layer_rows(8 if quick else 32)
    rows += _board_rows()
    return rows
