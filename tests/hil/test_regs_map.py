"""The register map is written twice, in hw/rtl/hil_axil_regs.v and approxhil_board/regs.py: they agree.

Read from the Verilog: the ``REG_*`` localparams (offsets), which registers the read mux and the write
case serve, the CTRL bits the write arm decodes, the STATUS bit order, MAGIC and the VERSION default.
"""

from __future__ import annotations

import re

from approxhil.hdl import hw_dir
from approxhil_board import regs

VERILOG = (hw_dir() / "rtl" / "hil_axil_regs.v").read_text()


def _body(start: str, end: str) -> str:
    return VERILOG[VERILOG.index(start) : VERILOG.index(end, VERILOG.index(start))]


def _offsets() -> dict[str, int]:
    return {name: int(value, 16) for name, value in re.findall(r"localparam \[\d+:0\] REG_(\w+) = \d+'h([0-9A-Fa-f]+);", VERILOG)}


def test_offsets_agree() -> None:
    rtl = _offsets()
    python = {name: getattr(regs, name) for name in rtl}
    assert rtl == python
    assert set(rtl) - {"CONFIG0"} == set(regs.NAMES.values())  # every register has a name in messages, and no other


def test_readable_and_writable_registers_agree() -> None:
    read_case = _body("case (raddr)", "endcase")
    readable = set(re.findall(r"^\s*REG_(\w+):", read_case, re.M))
    write_case = _body("case (waddr)", "endcase")
    writable = set(re.findall(r"^\s*REG_(\w+):", write_case, re.M))
    assert writable == {"CTRL", "MODE", "SELECT", "LENGTH", "DOT_LEN"}
    # the driver writes exactly the writable registers, and reads back only readable ones
    job_writes = {regs.NAMES[o] for o, _ in _example_job_writes()}
    assert job_writes == writable
    expected_reads = {regs.NAMES[o] for o in regs.JOB_READS + regs.IDENTITY_READS} | {"MODE", "SELECT", "LENGTH", "DOT_LEN"}
    assert expected_reads <= readable
    assert "REG_CONFIG0" in read_case and "4 * NUM_CONFIGS" in read_case  # configs at CONFIG0 + 4 i


def _example_job_writes():
    import numpy as np
    from approxhil_board import protocol

    return protocol.dot_job(0, np.ones((1, 4), np.int8), np.ones((1, 4), np.int8), 4).writes


def test_control_and_status_bits_agree() -> None:
    ctrl = _body("REG_CTRL: begin", "end")
    bits = {name: int(bit) for name, bit in re.findall(r"(\w+) <= s_axi_wdata\[(\d+)\];", ctrl)}
    assert bits == {"start": 0, "cancel": 1, "clear": 2}
    assert (1 << bits["start"], 1 << bits["cancel"], 1 << bits["clear"]) == (regs.CTRL_START, regs.CTRL_CANCEL, regs.CTRL_CLEAR)
    status = re.search(r"REG_STATUS: rdata = \{\d+'d0, ([\w, ]+)\};", VERILOG).group(1).split(", ")
    order = list(reversed(status))  # the concatenation lists the highest bit first
    python = {
        "busy": regs.STATUS_BUSY,
        "done": regs.STATUS_DONE,
        "err_tlast_early": regs.STATUS_ERR_TLAST_EARLY,
        "err_tlast_missing": regs.STATUS_ERR_TLAST_MISSING,
        "err_config": regs.STATUS_ERR_CONFIG,
    }
    assert {name: 1 << i for i, name in enumerate(order)} == python
    assert set(regs.STATUS_ERRORS) == {regs.STATUS_ERR_TLAST_EARLY, regs.STATUS_ERR_TLAST_MISSING, regs.STATUS_ERR_CONFIG}


def test_identity_values_agree() -> None:
    magic = int(re.search(r"localparam \[31:0\] MAGIC = 32'h([0-9A-Fa-f_]+);", VERILOG).group(1).replace("_", ""), 16)
    assert magic == regs.MAGIC_VALUE
    version = int(re.search(r"parameter \[31:0\] VERSION = 32'h([0-9A-Fa-f_]+)", VERILOG).group(1).replace("_", ""), 16)
    assert version >> 16 == regs.VERSION_MAJOR
    width = int(re.search(r"input  wire \[(\d+):0\]  s_axi_awaddr", VERILOG).group(1)) + 1
    assert 1 << width == regs.ADDRESS_RANGE
    sel_bits = int(re.search(r"output reg  \[(\d+):0\]  sel", VERILOG).group(1)) + 1
    assert 1 << sel_bits == regs.MAX_CONFIGS
