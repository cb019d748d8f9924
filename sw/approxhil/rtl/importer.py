"""Turn a third-party combinational 8x8 multiplier in Verilog (e.g. an EvoApprox design) into a table.

Yosys reads the file first: it must compile, the named module must exist, its ports must be the
two operands and the product with the expected widths (no other inputs), and it must hold no
state (flip-flops, latches, memories). The module is then swept exhaustively on a simulator, like
the SMApprox netlists, and every operand pair is simulated more than once: a result that changes
between repeats is rejected as well.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from approxhil_board.hashing import file_sha256

from approxhil.encoding import Encoding
from approxhil.errors import ApproxHilError, SpecError, ToolFailedError
from approxhil.rtl.runner import error_lines
from approxhil.rtl.sources import file_hashes, primitive_sources
from approxhil.rtl.sweep import Target, sweep
from approxhil.rtl.tools import find_yosys
from approxhil.tables import TruthTable, provenance

_STATE = re.compile(r"dff|latch|\$sr|\$mem|^FD[CPRS]E?$|^LD[CP]E?$|SRL|RAM", re.IGNORECASE)
_PRIMITIVES = ("LUT6_2", "CARRY4")


class VerilogImportError(ApproxHilError, ValueError):
    """A Verilog module that is not a combinational multiplier of the expected shape."""

    default_fix = "check the Verilog file, its module and port names (approxhil rtl import --help)"


@dataclass(frozen=True)
class ModuleInfo:
    """What Yosys sees in the module: ports ``{name: (direction, width)}`` and cell types."""

    name: str
    ports: Mapping[str, tuple[str, int]]
    cell_types: Mapping[str, int]


def inspect_module(path: Path, top: str, timeout: float = 120.0) -> ModuleInfo:
    """Elaborate ``top`` from ``path`` with Yosys (flattened, processes lowered) and describe it."""
    yosys = find_yosys()
    with tempfile.TemporaryDirectory(prefix="approxhil-import-") as tmp:
        out = Path(tmp) / "module.json"
        script = Path(tmp) / "inspect.ys"
        script.write_text(
            "read_verilog -lib +/xilinx/cells_sim.v\n"
            f"read_verilog -sv {path}\n"
            f"hierarchy -check -top {top}\n"
            "proc\nflatten\nopt_clean\n"
            f"write_json {out}\n"
        )
        try:
            proc = subprocess.run([str(yosys.path), "-q", "-s", str(script)], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ToolFailedError(f"Yosys did not finish reading {path.name} within {timeout:.0f} s") from None
        text = proc.stdout + proc.stderr
        if proc.returncode != 0:
            if re.search(r"module .{0,3}" + re.escape(top) + r".{0,2} not found", text, re.IGNORECASE):
                raise VerilogImportError(f"{path.name} has no module named {top!r}", fix="pass the multiplier's module name with --top")
            lines = error_lines(text) or text.strip().splitlines()[-5:]
            raise ToolFailedError(f"{path.name} does not compile: " + " | ".join(lines), fix="fix the Verilog at the file:line named")
        module = json.loads(out.read_text())["modules"].get(top)
    if module is None:
        raise VerilogImportError(f"{path.name} has no module named {top!r}", fix="pass the multiplier's module name with --top")
    ports = {name: (p["direction"], len(p["bits"])) for name, p in module["ports"].items()}
    types: dict[str, int] = {}
    for cell in module["cells"].values():
        types[cell["type"]] = types.get(cell["type"], 0) + 1
    return ModuleInfo(top, ports, types)


def check_module(info: ModuleInfo, a: str, b: str, y: str, bits: int = 8) -> None:
    """Raise :class:`VerilogImportError` unless ``info`` is a combinational ``bits``x``bits`` multiplier."""
    expect = {a: ("input", bits), b: ("input", bits)}
    for port, (direction, width) in expect.items():
        if port not in info.ports:
            names = ", ".join(f"{n} ({d} {w})" for n, (d, w) in info.ports.items())
            raise VerilogImportError(f"module {info.name} has no port {port!r} (ports: {names})", fix="name the ports with --a/--b/--y")
        got = info.ports[port]
        if got != (direction, width):
            raise VerilogImportError(
                f"module {info.name}: port {port} is {got[0]} [{got[1] - 1}:0], expected {direction} [{width - 1}:0]",
                fix=f"give an {bits}x{bits} multiplier (operands of {bits} bits)",
            )
    if y not in info.ports:
        names = ", ".join(info.ports)
        raise VerilogImportError(f"module {info.name} has no port {y!r} (ports: {names})", fix="name the product port with --y")
    direction, width = info.ports[y]
    if direction != "output" or width not in (2 * bits, 2 * bits + 1):
        raise VerilogImportError(
            f"module {info.name}: port {y} is {direction} [{width - 1}:0], expected output [{2 * bits - 1}:0] or [{2 * bits}:0]",
            fix="give the product port with --y",
        )
    extra = [n for n, (d, _) in info.ports.items() if d != "output" and n not in (a, b)]
    if extra:
        raise VerilogImportError(
            f"module {info.name} has inputs besides {a} and {b}: {', '.join(extra)} (a clock or enable means state)",
            fix="import a combinational multiplier whose only inputs are the two operands",
        )
    state = sorted(t for t in info.cell_types if _STATE.search(t))
    if state:
        raise VerilogImportError(
            f"module {info.name} holds state ({', '.join(state)}); a combinational multiplier is expected",
            fix="import the combinational core, without registers, latches or memories",
        )


def import_verilog(
    path: str | Path,
    top: str,
    a: str = "A",
    b: str = "B",
    y: str = "O",
    signed: bool = False,
    simulator: str = "icarus",
    name: str | None = None,
    operand_a: str = "activation",
    timeout: float = 300.0,
    build_root: Path | None = None,
) -> TruthTable:
    """Simulate module ``top`` of ``path`` exhaustively and return its 256x256 table.

    ``signed``: operands and product are two's complement (table encoding ``twos-complement``),
    otherwise unsigned.
    """
    path = Path(path).resolve()
    if not path.is_file():
        raise SpecError(f"Verilog file {path} does not exist", fix="name the .v file that holds the multiplier")
    if not top.isidentifier() or not all(p.isidentifier() for p in (a, b, y)):
        raise SpecError(f"module and port names must be Verilog identifiers (got {top!r}, {a!r}, {b!r}, {y!r})")
    info = inspect_module(path, top, timeout=timeout)
    check_module(info, a, b, y)
    out_bits = info.ports[y][1]
    sources = [path]
    if any(t in _PRIMITIVES for t in info.cell_types):
        sources = primitive_sources() + sources
    target = Target("dut", top, 8, out_bits, signed=signed, a=a, b=b, y=y)
    work = Path(tempfile.mkdtemp(prefix="approxhil-import-"))
    try:
        result = sweep([target], sources, simulator, work, build_root=build_root, timeout=timeout, build_args=_lenient(simulator))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return TruthTable(
        result.tables["dut"],
        name=name or top,
        encoding=Encoding.TWOS_COMPLEMENT if signed else Encoding.UNSIGNED,
        operand_a=operand_a,
        provenance=provenance(
            "import",
            file=path.name,
            file_sha256=file_sha256(path),
            module=top,
            ports={"a": a, "b": b, "y": y},
            simulator=result.simulator,
            simulator_version=result.version,
            rtl_sha256=file_hashes(sources),
        ),
    )


def _lenient(simulator: str) -> list[str]:
    """Third-party code often trips Verilator's style warnings (widths, unused bits): report, don't stop."""
    return ["-Wno-fatal"] if simulator == "verilator" else []
