"""Truth tables from RTL simulation: sweep a multiplier's netlist exhaustively on a simulator.

8x8 configs default to sign-magnitude, as the golden models do: the table then comes from the
signed wrapper ``smapprox_mul8x8_signed`` (the module the accelerator instantiates); ``unsigned``
sweeps the core ``smapprox_mul8x8``; a 4x4 design sweeps ``smapprox_mul4x4``. The provenance
records the simulator, its version and the sha256 of every RTL source.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from approxhil.encoding import Encoding
from approxhil.errors import TableError
from approxhil.multipliers.spec import MultiplierSpec, parse_multiplier
from approxhil.rtl.sources import file_hashes, smapprox_sources
from approxhil.rtl.sweep import SweepResult, Target, sweep
from approxhil.tables import TruthTable, provenance

DEFAULT_TIMEOUT_S = 300.0


def smapprox_target(spec: str | MultiplierSpec, encoding: Encoding | str | None = None, label: str = "dut") -> Target:
    """The sweep target that realizes ``spec`` in ``encoding`` (see the module docstring)."""
    spec = parse_multiplier(spec)
    if spec.kind == "smapprox4":
        if encoding is not None and Encoding.parse(encoding) is not Encoding.UNSIGNED:
            raise TableError(f"4x4 design {spec} is unsigned only", fix="leave --encoding out or use unsigned")
        return Target(label, "smapprox_mul4x4", 4, 8, parameters={"DESIGN": int(spec.name.split("-")[1])})
    if spec.kind != "smapprox8":
        raise TableError(f"{spec} is a table file, not an SMApprox config", fix="name a config such as 3330 or 4x4-2")
    enc = Encoding.SIGN_MAGNITUDE if encoding is None else Encoding.parse(encoding)
    config = int(spec.name)
    if enc is Encoding.SIGN_MAGNITUDE:
        return Target(label, "smapprox_mul8x8_signed", 8, 17, signed=True, parameters={"CONFIG": config})
    if enc is Encoding.UNSIGNED:
        return Target(label, "smapprox_mul8x8", 8, 16, parameters={"CONFIG": config})
    raise TableError(f"SMApprox {spec} has no two's-complement form", fix="use --encoding sign-magnitude or unsigned")


def table_from_sweep(
    result: SweepResult,
    target: Target,
    name: str,
    encoding: Encoding,
    sources: Sequence[Path],
    operand_a: str = "activation",
    **details: object,
) -> TruthTable:
    """Wrap one target's swept values as a :class:`TruthTable` with ``rtl-sim`` provenance."""
    import cocotb

    return TruthTable(
        result.tables[target.label],
        name=name,
        encoding=encoding,
        operand_a=operand_a,
        provenance=provenance(
            "rtl-sim",
            simulator=result.simulator,
            simulator_version=result.version,
            cocotb_version=cocotb.__version__,
            module=target.module,
            parameters=dict(target.parameters),
            rtl_sha256=file_hashes(sources),
            **details,
        ),
    )


def simulate_table(
    multiplier: str | MultiplierSpec,
    simulator: str = "verilator",
    encoding: Encoding | str | None = None,
    operand_a: str = "activation",
    build_root: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> TruthTable:
    """Simulate an SMApprox multiplier (``"3330"``, ``"4x4-2"``) exhaustively and return its table."""
    spec = parse_multiplier(multiplier)
    target = smapprox_target(spec, encoding)
    enc = Encoding.SIGN_MAGNITUDE if target.signed else Encoding.UNSIGNED
    sources = smapprox_sources()
    work = Path(tempfile.mkdtemp(prefix="approxhil-sweep-"))
    try:
        result = sweep([target], sources, simulator, work, build_root=build_root, timeout=timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return table_from_sweep(result, target, spec.name, enc, sources, operand_a=operand_a, config=spec.name)
