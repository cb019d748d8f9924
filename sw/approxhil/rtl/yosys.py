"""LUT and CARRY4 counts of the SMApprox netlists from Yosys ``synth_xilinx -family xc7``.

Yosys keeps the instantiated LUT6_2/CARRY4 cells (and their INITs) as written and maps any
behavioral logic (the signed wrapper's magnitude and negation) to LUTs and carry chains, so the
counts say what a 7-series part spends. One Yosys process reads the sources once and synthesizes
every requested top from a saved copy of the design.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from approxhil.atomic import write_text
from approxhil.errors import ToolFailedError, ToolMissingError
from approxhil.multipliers.compose import PAPER_CONFIGS
from approxhil.multipliers.designs4x4 import DESIGNS, PAPER_LUTS_4X4
from approxhil.rtl.runner import error_lines
from approxhil.rtl.sources import smapprox_sources
from approxhil.rtl.tools import find_yosys

LUT_TYPES = ("LUT1", "LUT2", "LUT3", "LUT4", "LUT5", "LUT6", "LUT6_2")
#: The exact Xilinx multiplier IP of the paper's Table 2 (beside config 0000).
PAPER_EXACT_LUTS = 64


@dataclass(frozen=True)
class SynthTarget:
    """A module to synthesize: report label, module name, parameter overrides."""

    label: str
    module: str
    parameters: Mapping[str, int]


@dataclass(frozen=True)
class SynthCounts:
    """Cell counts of one synthesized module (its whole sub-hierarchy)."""

    label: str
    luts: int
    carry4: int
    cells: Mapping[str, int]

    @property
    def other(self) -> int:
        return sum(n for t, n in self.cells.items() if t not in LUT_TYPES and t != "CARRY4")


def synthesize(targets: Sequence[SynthTarget], sources: Sequence[Path] | None = None, timeout: float = 600.0) -> dict[str, SynthCounts]:
    """Run ``synth_xilinx -family xc7`` on each target; ``{label: counts}``.

    All targets go through one run: a generated wrapper instantiates each of them, the hierarchy
    is kept, and each target's cells are counted through its own sub-hierarchy.
    """
    sources = list(sources or smapprox_sources(simulation=False))
    modules = run_synth_xilinx([*sources], "approxhil_synth_top", timeout, extra_verilog=_wrapper(targets))
    top_cells = modules["approxhil_synth_top"]["cells"]
    result = {}
    for n, t in enumerate(targets):
        cells = _count(modules, top_cells[f"u_{n}"]["type"])
        luts = sum(k for typ, k in cells.items() if typ in LUT_TYPES)
        result[t.label] = SynthCounts(t.label, luts, cells.get("CARRY4", 0), cells)
    return result


def run_synth_xilinx(
    sources: Sequence[Path],
    top: str,
    timeout: float,
    extra_verilog: str | None = None,
    defines: Sequence[str] = (),
    chparams: Mapping[str, int] | None = None,
    flatten: bool = False,
) -> dict[str, Any]:
    """Run ``synth_xilinx -family xc7`` on ``top`` and return Yosys' JSON ``modules``.

    ``extra_verilog`` is a generated module read beside ``sources``; ``chparams`` override the top's
    parameters. Errors name the file:line Yosys reports; a run past ``timeout`` is stopped.
    """
    yosys = find_yosys()
    with tempfile.TemporaryDirectory(prefix="approxhil-yosys-") as tmp:
        files = [str(s) for s in sources]
        if extra_verilog is not None:
            (Path(tmp) / "extra.v").write_text(extra_verilog)
            files.append(str(Path(tmp) / "extra.v"))
        out = Path(tmp) / "netlist.json"
        lines = ["read_verilog " + " ".join(f"-D{d}" for d in defines) + (" " if defines else "") + " ".join(files)]
        if chparams:
            lines.append(f"chparam {' '.join(f'-set {k} {v}' for k, v in chparams.items())} {top}")
        lines.append(f"synth_xilinx -family xc7 -top {top} -noiopad" + (" -flatten" if flatten else ""))
        lines.append(f"write_json {out}")
        script = Path(tmp) / "synth.ys"
        script.write_text("\n".join(lines) + "\n")
        try:
            proc = subprocess.run([str(yosys.path), "-q", "-s", str(script)], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ToolFailedError(f"Yosys did not synthesize {top} within {timeout:.0f} s", fix="synthesize less at once") from None
        if proc.returncode != 0:
            errors = error_lines(proc.stdout + proc.stderr) or (proc.stdout + proc.stderr).strip().splitlines()[-5:]
            raise ToolFailedError(f"Yosys could not synthesize {top}: " + " | ".join(errors), fix="fix the Verilog at the file:line named")
        return json.loads(out.read_text())["modules"]


def _wrapper(targets: Sequence[SynthTarget]) -> str:
    body = []
    for n, t in enumerate(targets):
        params = ", ".join(f".{k}({v})" for k, v in t.parameters.items())
        body.append(f"wire [16:0] y_{n};\n{t.module} {'#(' + params + ') ' if params else ''}u_{n} (.a(a), .b(b), .p(y_{n}));")
    outs = " ^ ".join(f"y_{n}" for n in range(len(targets)))
    return (
        "module approxhil_synth_top (input wire [7:0] a, input wire [7:0] b, output wire [16:0] y);\n"
        + "\n".join(body)
        + f"\nassign y = {outs};\nendmodule\n"
    )


def _count(modules: Mapping[str, Any], name: str) -> dict[str, int]:
    """Primitive cells of module ``name`` including its submodules."""
    total: dict[str, int] = {}
    for cell in modules[name]["cells"].values():
        typ = cell["type"]
        attrs = modules.get(typ, {}).get("attributes", {})
        library = "blackbox" in attrs or "whitebox" in attrs or "lib_whitebox" in attrs
        sub = _count(modules, typ) if typ in modules and not library else {typ: 1}
        for k, v in sub.items():
            total[k] = total.get(k, 0) + v
    return total


def report_targets(configs: Sequence[str] = ("0000", *PAPER_CONFIGS), signed: Sequence[str] = ("3330",)) -> list[tuple[SynthTarget, Any]]:
    """Each 4x4 design, each 8x8 config and the signed wrapper, with the paper's LUT count."""
    rows: list[tuple[SynthTarget, Any]] = [(SynthTarget(f"4x4-{d}", f"smapprox_mul4x4_d{d}", {}), PAPER_LUTS_4X4[d]) for d in DESIGNS]
    for c in configs:
        paper = PAPER_EXACT_LUTS if c == "0000" else PAPER_CONFIGS.get(c, {}).get("luts")
        rows.append((SynthTarget(c, "smapprox_mul8x8", {"CONFIG": int(c)}), paper))
    for c in signed:
        rows.append((SynthTarget(f"{c} signed", "smapprox_mul8x8_signed", {"CONFIG": int(c)}), None))
    return rows


def lut_report(configs: Sequence[str] = ("0000", *PAPER_CONFIGS), signed: Sequence[str] = ("3330",)) -> list[dict[str, Any]]:
    """Rows of the LUT report: ours (Yosys) beside the paper's Table 1/2 counts."""
    targets = report_targets(configs, signed)
    counts = synthesize([t for t, _ in targets])
    rows = []
    for t, paper in targets:
        c = counts[t.label]
        rows.append(
            {
                "multiplier": t.label,
                "module": t.module,
                "LUTs (Yosys)": c.luts,
                "CARRY4 (Yosys)": c.carry4,
                "other cells": c.other,
                "LUTs (paper)": paper,
            }
        )
    return rows


def write_lut_report(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike) -> tuple[Path, Path]:
    """Write the LUT report as Markdown at ``path`` and its rows as JSON beside it (same stem, ``.json``).

    The JSON is what other reports read (:func:`read_lut_counts`), so they never run Yosys themselves.
    """
    path = Path(path)
    yosys = find_yosys()
    data = path.with_suffix(".json")
    write_text(path, report_markdown(rows, yosys.version))
    write_text(data, json.dumps({"yosys": yosys.version, "rows": list(rows)}, indent=2, sort_keys=True) + "\n")
    return path, data


def read_lut_counts(path: str | os.PathLike) -> dict[str, int]:
    """``{multiplier: LUTs}`` from a report written by :func:`write_lut_report` (``approxhil rtl yosys --write``)."""
    path = Path(path)
    try:
        rows = json.loads(path.read_text())["rows"]
        return {row["multiplier"]: int(row["LUTs (Yosys)"]) for row in rows}
    except FileNotFoundError:
        raise ToolMissingError(f"no LUT report at {path}", fix="write it with `approxhil rtl yosys --write`") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ToolFailedError(
            f"LUT report {path} is damaged ({type(exc).__name__}: {exc})", fix="rewrite it with `approxhil rtl yosys --write`"
        ) from None


def report_markdown(rows: Sequence[Mapping[str, Any]], yosys_version: str) -> str:
    """``docs/rtl.md``: the LUT table and how it was made."""
    from approxhil.textable import markdown_table

    return (
        "# RTL: LUT and CARRY4 counts\n\n"
        f"Written by `approxhil rtl yosys --write` with Yosys {yosys_version} "
        "(`synth_xilinx -family xc7 -noiopad`), one row per SMApprox netlist of `rtl/smapprox`;\n"
        "each row counts the cells of the module's whole sub-hierarchy. A LUT6_2 counts as one LUT.\n\n"
        "The paper's counts come from Vivado: Table 1 for the 4x4 designs, Table 2 for the 8x8 configs\n"
        "(the 0000 row is compared with the exact Xilinx multiplier IP). Its 8x8 counts include Vivado's\n"
        "cross-block optimisation and its own partial-product adder; ours are the checked-in netlists as\n"
        "written: four 4x4 blocks plus the 12-LUT, 3-CARRY4 ternary adder. Design 0 (exact) puts\n"
        "a*b[1:0] and a*b[3:2] on carry chains and adds them on a third; designs 2 and 3 need no carry\n"
        "chain; design 4 is the labelled variant of design 1 (no paper count).\n\n"
        "The signed row is the sign-magnitude wrapper around the 3330 core: Yosys maps the magnitudes\n"
        'and the negation to LUTs, carry chains and INV cells ("other cells"), which Vivado would\n'
        "fold into the LUTs.\n\n" + markdown_table(rows) + "\n\n## Verification\n\n"
        "Every netlist is checked bit for bit against the golden models (`docs/multipliers.md`) by three\n"
        "independent models: Icarus and Verilator (cocotb, all 256 pairs of each 4x4 design and all 65,536\n"
        "pairs of 0000, the paper's eight configs and the signed wrapper) and the pyverilog reader, which\n"
        "evaluates the LUT INITs and carry chains in Python. Run `approxhil rtl verify`; `make bench`\n"
        "times it (`docs/benchmarks.md`, section rtl).\n"
    )
