"""The board's block design as ``hw/tcl`` builds it, read without Vivado.

``hw/tcl/settings.tcl`` and ``hw/tcl/block_design.tcl`` run under ``tclsh`` with the handful of
Vivado block-design commands they call replaced by stubs that record what they are asked to do:
the cells (with their VLNV or module reference and every ``CONFIG.*`` property), the stream
connections, and the AXI connections the automation makes. So the digital twin's ``.hwh``
(:mod:`approxhil.hil.twin.hwhgen`) follows the TCL: lanes, configs, fabric clock, DMA settings.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from approxhil.errors import ToolFailedError, ToolMissingError
from approxhil.hdl import hw_dir

#: Stand-ins for the Vivado commands block_design.tcl calls; each records one line (tab-separated).
STUBS = r"""
proc _emit {args} { puts [join $args "\t"] }
proc _opt {args name {default ""}} {
    set i [lsearch -exact $args $name]
    if {$i < 0} { return $default }
    return [lindex $args [expr {$i + 1}]]
}
proc create_bd_design {name} { _emit DESIGN $name }
proc create_bd_cell {args} {
    set name [lindex $args end]
    _emit CELL $name [_opt $args -type] [_opt $args -vlnv] [_opt $args -reference]
    return $name
}
proc set_property {args} {
    if {[lindex $args 0] eq "-dict"} {
        foreach {key value} [lindex $args 1] { _emit PROP [lindex $args 2] $key $value }
    } else {
        _emit PROP [lindex $args 2] [lindex $args 0] [lindex $args 1]
    }
}
proc apply_bd_automation {args} {
    set rule [_opt $args -rule]
    set config [_opt $args -config]
    if {$rule eq "xilinx.com:bd_rule:axi4"} {
        _emit AXI [string trimleft [dict get $config Master] /] [string trimleft [dict get $config Slave] /]
    } else {
        _emit AUTO $rule [lindex $args end]
    }
}
proc connect_bd_intf_net {a b} { _emit STREAM $a $b }
proc connect_bd_net {args} { _emit NET {*}$args }
proc get_bd_intf_pins {args} { return [lindex $args end] }
proc get_bd_cells {args} { return [lindex $args end] }
proc get_bd_pins {args} { return {} }
proc get_bd_nets {args} { return {} }
proc assign_bd_address {args} { _emit ADDRESS }
proc validate_bd_design {args} {}
proc save_bd_design {args} {}
"""


@dataclass
class Cell:
    """One block: ``ip`` (``vlnv``) or ``module`` (``reference``), and its ``CONFIG.*`` properties."""

    name: str
    kind: str
    vlnv: str
    reference: str
    config: dict[str, str] = field(default_factory=dict)


@dataclass
class BlockDesign:
    """What block_design.tcl builds: cells, stream links (initiator, target) and AXI links (master, slave)."""

    name: str
    cells: dict[str, Cell]
    streams: list[tuple[str, str]]
    axi: list[tuple[str, str]]
    board: str
    lanes: int
    configs: tuple[str, ...]
    fclk_mhz: float
    part: str

    def cells_of(self, vlnv_prefix: str) -> list[Cell]:
        return [c for c in self.cells.values() if c.vlnv.startswith(vlnv_prefix) or c.reference == vlnv_prefix]


def read_block_design(board: str, lanes: int, configs: Sequence[str], fclk_mhz: float = 100.0, timeout: float = 60.0) -> BlockDesign:
    """Run the board's TCL with stub Vivado commands and return the block design it describes."""
    tclsh = shutil.which("tclsh")
    if tclsh is None:
        raise ToolMissingError(
            "tclsh is not installed (the twin reads hw/tcl with it)", fix="apt-get install tcl (scripts/install.sh does)"
        )
    tcl = hw_dir() / "tcl"
    with tempfile.TemporaryDirectory(prefix="approxhil-bd-") as tmp:
        script = Path(tmp) / "probe.tcl"
        fclk = f"{fclk_mhz:g}"
        script.write_text(
            STUBS
            + f"set argv [list {{{board}}} {{{tmp}/build}} {lanes} {{{' '.join(configs)}}} {fclk}]\n"
            + f"source {{{tcl / 'settings.tcl'}}}\nsource {{{tcl / 'block_design.tcl'}}}\n"
            + "_emit PART $fpga_part\n"
        )
        proc = subprocess.run([tclsh, str(script)], capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        first = ((proc.stderr or proc.stdout).strip().splitlines() or ["no output"])[0]
        raise ToolFailedError(
            f"hw/tcl refused the block design for {board}, {lanes} lanes, configs {' '.join(configs)}: {first}",
            fix="use parameters `make bitstream` accepts (lanes 1, 2, 4, 8 or 16; 1..16 configs), or fix hw/tcl",
        )
    return _parse(proc.stdout, board, lanes, tuple(configs), fclk_mhz)


def _parse(out: str, board: str, lanes: int, configs: tuple[str, ...], fclk_mhz: float) -> BlockDesign:
    name, part, cells, streams, axi = "", "", {}, [], []
    for line in out.splitlines():
        kind, *args = line.split("\t")
        if kind == "DESIGN":
            name = args[0]
        elif kind == "CELL":
            cells[args[0]] = Cell(args[0], args[1], args[2], args[3])
        elif kind == "PROP" and args[1].startswith("CONFIG."):
            cells[args[0]].config[args[1][len("CONFIG.") :]] = args[2]
        elif kind == "STREAM":
            streams.append((args[0], args[1]))
        elif kind == "AXI":
            axi.append((args[0], args[1]))
        elif kind == "PART":
            part = args[0]
    return BlockDesign(name, cells, streams, axi, board, lanes, configs, fclk_mhz, part)
