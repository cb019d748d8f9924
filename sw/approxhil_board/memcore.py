"""``MemoryCore``: a software model of the accelerator behind the backend interface (no hardware).

It executes the same jobs the board executes — register writes, the operand stream, the result
stream, the counters read back — on numpy arrays, so the agent, the link and the shared checking
code can be tested and timed without RTL or a board. Products come from 256x256 tables (operand A
indexes rows, -128..127); a config without a table multiplies exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from approxhil_board import protocol, regs
from approxhil_board.backend import Backend, config_name


def exact_table() -> np.ndarray:
    """The exact signed 8x8 products as a 256x256 int32 table, rows and columns -128..127."""
    ops = np.arange(-128, 128, dtype=np.int32)
    return np.outer(ops, ops).astype(np.int32)


def _pair_lookup(table: np.ndarray) -> np.ndarray:
    """The table re-indexed by the stream's 16-bit pair word (operand A in the low byte)."""
    table = np.asarray(table)
    if table.shape != (256, 256):
        raise ValueError(f"a product table is 256x256, got {table.shape}")
    word = np.arange(1 << 16, dtype=np.uint32)
    a = (word & 0xFF).astype(np.uint8).view(np.int8).astype(np.int32)
    b = (word >> 8).astype(np.uint8).view(np.int8).astype(np.int32)
    return np.ascontiguousarray(table[a + 128, b + 128], dtype=np.int32)


class MemoryCore(Backend):
    """The core's register protocol and arithmetic on the CPU; ``tables`` maps config to its products."""

    kind = "memory"
    source = "model"

    def __init__(self, tables: Mapping[str, np.ndarray | None], lanes: int = 4) -> None:
        super().__init__()
        if not 1 <= lanes <= regs.MAX_LANES or not 1 <= len(tables) <= regs.MAX_CONFIGS:
            raise ValueError(f"a core has 1..{regs.MAX_LANES} lanes and 1..{regs.MAX_CONFIGS} configs")
        self.lanes = lanes
        self.configs = tuple(config_name(c) for c in tables)
        self._lookup = [_pair_lookup(exact_table() if t is None else t) for t in tables.values()]
        self._regs: dict[int, int] = {reg: 0 for reg in regs.NAMES}
        self._regs.update(
            {regs.MAGIC: regs.MAGIC_VALUE, regs.VERSION: regs.VERSION_MAJOR << 16, regs.LANES: lanes, regs.NCONFIGS: len(self.configs)}
        )
        for i, config in enumerate(self.configs):
            self._regs[regs.CONFIG0 + 4 * i] = int(config)

    def execute(self, job: protocol.Job) -> protocol.JobResult:
        output = np.zeros(0, np.uint8)
        started = False
        for offset, value in job.writes:
            if offset == regs.CTRL:
                if value & regs.CTRL_CLEAR:
                    for reg in (regs.STATUS, regs.IN_BEATS, regs.OUT_BEATS, regs.CYCLES):
                        self._regs[reg] = 0
                started |= bool(value & regs.CTRL_START)
            elif offset in (regs.MODE, regs.SELECT, regs.LENGTH, regs.DOT_LEN):
                self._regs[offset] = int(value) & 0xFFFFFFFF
        send_done = recv_done = not job.streams
        if started:
            output, send_done, recv_done = self._run(job.payload)
        reads = {offset: self._regs.get(offset, 0) for offset in job.reads}
        return protocol.JobResult(output=output, reads=reads, send_done=send_done, recv_done=recv_done)

    def _run(self, payload: np.ndarray) -> tuple[np.ndarray, bool, bool]:
        """One started job: the results, or a refusal (the core then takes no stream at all)."""
        mode, select, length, dot_len = (self._regs[r] for r in (regs.MODE, regs.SELECT, regs.LENGTH, regs.DOT_LEN))
        ok = select < len(self.configs) and length >= 1 and (mode == regs.MODE_PRODUCTS or (mode == regs.MODE_DOT and dot_len >= 1))
        if not ok:
            self._regs[regs.STATUS] = regs.STATUS_ERR_CONFIG | regs.STATUS_DONE
            return np.zeros(0, np.uint8), False, False
        lanes = self.lanes
        beats_per_result = 1 if mode == regs.MODE_PRODUCTS else -(-dot_len // lanes)
        in_beats = length * beats_per_result if mode == regs.MODE_DOT else -(-length // lanes)
        words = np.ascontiguousarray(payload).view("<u2")
        if words.size != in_beats * lanes:
            self._regs[regs.STATUS] = regs.STATUS_DONE | (
                regs.STATUS_ERR_TLAST_EARLY if words.size < in_beats * lanes else regs.STATUS_ERR_TLAST_MISSING
            )
            self._regs[regs.IN_BEATS] = min(words.size // lanes, in_beats)
            return np.zeros(0, np.uint8), True, False
        products = self._lookup[select].take(words)
        out_beats = -(-length // lanes)
        if mode == regs.MODE_PRODUCTS and products.size == length:
            out = products
        elif mode == regs.MODE_PRODUCTS:
            out = np.zeros(out_beats * lanes, np.int32)
            out[:length] = products[:length]
        else:
            out = np.zeros(out_beats * lanes, np.int32)
            per_vector = products.reshape(length, beats_per_result * lanes)
            out[:length] = per_vector[:, :dot_len].sum(axis=1, dtype=np.int64).astype(np.int32)
        self._regs.update({regs.STATUS: regs.STATUS_DONE, regs.IN_BEATS: in_beats, regs.OUT_BEATS: out_beats, regs.CYCLES: in_beats + 3})
        return out.view(np.uint8), True, True

    def provenance(self) -> dict[str, Any]:
        return {"backend": "memory", "lanes": self.lanes, "core_configs": list(self.configs)}
