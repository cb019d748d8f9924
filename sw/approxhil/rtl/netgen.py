"""Generator of the checked-in LUT6_2/CARRY4 netlists of ``rtl/smapprox``.

Each cell is written down as boolean equations over its input pins; the generator evaluates
them on all 64 input patterns to derive the ``INIT`` value and prints the equation above the
instance, so every INIT in the netlists can be traced to the equations of docs/multipliers.md
(``approxhil.multipliers.designs4x4``). Run ``python -m approxhil.rtl.netgen`` to rewrite the
files; the test suite checks that the files on disk equal the generator's output.

Mapping rules (what a 7-series slice allows):

* a LUT with one output computes a function of up to six pins on ``O6``;
* a LUT with two outputs computes two functions of up to five shared pins: ``I5`` is tied high,
  ``O6`` reads the upper and ``O5`` the lower half of ``INIT``;
* ``CARRY4`` stage ``k`` takes its propagate ``S[k]`` from a LUT's ``O6`` and its generate
  ``DI[k]`` from that LUT's ``O5`` or directly from a net (the value both addends share when
  ``S[k] = 0``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from approxhil.errors import SpecError
from approxhil.hdl import rtl_dir


def maj(x: int, y: int, z: int) -> int:
    """Majority of three bits (the carry of a full adder); usable inside cell equations."""
    return (x & y) | (x & z) | (y & z)


def _symbol(net: str) -> str:
    """Name a pin's net takes inside an equation: ``a[1]`` -> ``a1``, ``m[10]`` -> ``m10``."""
    return re.sub(r"[\[\]]", "", net)


@dataclass(frozen=True)
class Lut:
    """One ``LUT6_2``: pins on I0.., ``o6``/``o5`` as ``(net, equation)``; ``o5`` optional."""

    name: str
    pins: tuple[str, ...]
    o6: tuple[str, str]
    o5: tuple[str, str] | None = None

    @property
    def dual(self) -> bool:
        return self.o5 is not None

    def _eval(self, equation: str, index: int) -> int:
        env = {_symbol(pin): (index >> k) & 1 for k, pin in enumerate(self.pins)}
        env["maj"] = maj
        try:
            return int(eval(equation, {"__builtins__": {}}, env)) & 1
        except NameError as exc:
            raise SpecError(f"LUT {self.name}: equation {equation!r} uses a name that is not a pin ({exc})") from None

    def init(self) -> int:
        """The 64-bit INIT that makes the cell compute its equations."""
        limit = 5 if self.dual else 6
        if len(self.pins) > limit:
            raise SpecError(f"LUT {self.name}: {len(self.pins)} pins, at most {limit} with {'two outputs' if self.dual else 'one output'}")
        value = 0
        for index in range(64):
            if self.dual:
                bit = self._eval(self.o6[1], index - 32) if index >= 32 else self._eval(self.o5[1], index)  # type: ignore[index]
            else:
                bit = self._eval(self.o6[1], index)
            value |= bit << index
        return value

    def connections(self) -> list[tuple[str, str]]:
        pins = list(self.pins) + ["1'b0"] * (6 - len(self.pins))
        if self.dual:
            pins[5] = "1'b1"
        outs = [("O6", self.o6[0]), ("O5", self.o5[0] if self.o5 else "")]
        return outs + [(f"I{k}", pin) for k, pin in enumerate(pins)]


@dataclass(frozen=True)
class Carry4:
    """One ``CARRY4``; ``di``/``s`` listed from stage 0 to 3; ``o``/``co`` nets ("" = unused)."""

    name: str
    ci: str
    cyinit: str
    di: tuple[str, str, str, str]
    s: tuple[str, str, str, str]
    o: tuple[str, str, str, str]
    co: tuple[str, str, str, str]
    comment: str = ""

    def connections(self) -> list[tuple[str, str]]:
        def vec(nets: Sequence[str]) -> str:
            if all(not n for n in nets):
                return ""
            return "{" + ", ".join(n or "" for n in reversed(nets)) + "}"

        return [
            ("CO", _concat_out(self.co)),
            ("O", _concat_out(self.o)),
            ("CI", self.ci),
            ("CYINIT", self.cyinit),
            ("DI", vec(self.di)),
            ("S", vec(self.s)),
        ]


def _concat_out(nets: Sequence[str]) -> str:
    """An output vector: unused bits go to throw-away nets named by the caller (never left as holes)."""
    if all(not n for n in nets):
        return ""
    if any(not n for n in nets):
        raise SpecError(f"CARRY4 output {nets!r}: connect all four bits or none")
    return "{" + ", ".join(reversed(nets)) + "}"


@dataclass
class Netlist:
    """A flat module: ports, internal wires, LUT/CARRY4 cells and plain wire assigns."""

    name: str
    summary: list[str]
    ports: list[tuple[str, str, int, str]]  # (direction, name, width, heading comment or "")
    wires: list[tuple[str, int, int]] = field(default_factory=list)  # (name, msb, lsb)
    cells: list[Lut | Carry4] = field(default_factory=list)
    assigns: list[tuple[str, str]] = field(default_factory=list)

    @property
    def luts(self) -> int:
        return sum(isinstance(c, Lut) for c in self.cells)

    @property
    def carry4s(self) -> int:
        return sum(isinstance(c, Carry4) for c in self.cells)

    def verilog(self) -> str:
        """The module as Verilog text (file name = module name)."""
        out = [
            "// SPDX-License-Identifier: Apache-2.0",
            "`resetall",
            "`timescale 1ns / 1ps",
            "`default_nettype none",
            "",
            *[f"// {line}" if line else "//" for line in self.summary],
            f"// Cells: {self.luts} LUT6_2, {self.carry4s} CARRY4.",
            "// Generated by approxhil.rtl.netgen (python -m approxhil.rtl.netgen); edit the generator, not this file.",
            f"module {self.name}",
            "(",
        ]
        port_lines = []
        for direction, name, width, heading in self.ports:
            if heading:
                port_lines.append(f"    // {heading}")
            rng = f"[{width - 1}:0] " if width > 1 else ""
            port_lines.append(f"    {direction:<6} wire {rng}{name},")
        port_lines[-1] = port_lines[-1].rstrip(",")
        out += [*port_lines, ");", ""]
        for name, msb, lsb in self.wires:
            rng = f"[{msb}:{lsb}] " if (msb, lsb) != (0, 0) else ""
            out.append(f"wire {rng}{name};")
        if self.wires:
            out.append("")
        for cell in self.cells:
            out += [*_cell_text(cell), ""]
        for lhs, rhs in self.assigns:
            out.append(f"assign {lhs} = {rhs};")
        if self.assigns:
            out.append("")
        out += ["endmodule", "", "`resetall", ""]
        return "\n".join(out)


def _cell_text(cell: Lut | Carry4) -> list[str]:
    if isinstance(cell, Lut):
        notes = [f"// {cell.o6[0]} = {cell.o6[1]}"]
        if cell.o5:
            notes.append(f"// {cell.o5[0]} = {cell.o5[1]}")
        head = [f"LUT6_2 #(.INIT(64'h{cell.init():016X})) {cell.name} ("]
    else:
        notes = [f"// {cell.comment}"] if cell.comment else []
        head = [f"CARRY4 {cell.name} ("]
    conns = cell.connections()
    body = [f"    .{port}({net})," for port, net in conns]
    body[-1] = body[-1].rstrip(",")
    return notes + head + body + [");"]


# --------------------------------------------------------------------------- building blocks
_OPERANDS = [("input", "a", 4, "Operands: a is the slice of operand A"), ("input", "b", 4, ""), ("output", "p", 8, "Product")]


def _pair_chain(x: str, b_lo: int, b_hi: int, spare: tuple[str, str, tuple[str, ...]] | None) -> list[Lut | Carry4]:
    """Exact ``a * {b[b_hi], b[b_lo]}`` into ``x[5:1]`` on one CARRY4 (4 LUTs).

    Stage k (bits 1..4) adds ``a[k] b_lo`` and ``a[k-1] b_hi``: ``S = a[k]b_lo ^ a[k-1]b_hi``,
    ``DI = a[k]b_lo``. Stage 4 has only ``a3 b_hi``, so its ``O5`` is free: ``spare`` =
    ``(net, equation, extra pins)`` puts another small function there (e.g. bit 0).
    """
    bl, bh = f"b[{b_lo}]", f"b[{b_hi}]"
    sl, sh = _symbol(bl), _symbol(bh)
    cells: list[Lut | Carry4] = []
    for k in (1, 2, 3):
        cells.append(
            Lut(
                f"lut_{x}{k}",
                (f"a[{k}]", bl, f"a[{k - 1}]", bh),
                (f"s_{x}[{k}]", f"a{k}&{sl} ^ a{k - 1}&{sh}"),
                (f"g_{x}[{k}]", f"a{k}&{sl}"),
            )
        )
    pins: tuple[str, ...] = ("a[3]", bh)
    o5 = None
    if spare:
        pins += spare[2]
        o5 = (spare[0], spare[1])
    cells.append(Lut(f"lut_{x}4", pins, (f"s_{x}[4]", f"a3&{sh}"), o5))
    cells.append(
        Carry4(
            f"carry_{x}",
            ci="1'b0",
            cyinit="1'b0",
            di=(f"g_{x}[1]", f"g_{x}[2]", f"g_{x}[3]", "1'b0"),
            s=(f"s_{x}[1]", f"s_{x}[2]", f"s_{x}[3]", f"s_{x}[4]"),
            o=(f"{x}[1]", f"{x}[2]", f"{x}[3]", f"{x}[4]"),
            co=(f"co_{x}[0]", f"co_{x}[1]", f"co_{x}[2]", f"{x}[5]"),
            comment=f"{x}[5:1] = a * {{{bh}, {bl}}} >> 1 (carry into bit 1 is 0)",
        )
    )
    return cells


def _pair_wires(x: str) -> list[tuple[str, int, int]]:
    return [(x, 5, 0), (f"s_{x}", 4, 1), (f"g_{x}", 3, 1), (f"co_{x}", 2, 0)]


def design0() -> Netlist:
    """Exact 4x4: ``X = a*b[1:0]`` and ``Y = a*b[3:2]`` on carry chains, ``X + 4Y`` on a third (12 LUTs)."""
    cells = _pair_chain("x", 0, 1, ("x[0]", "a0&b0", ("a[0]", "b[0]")))
    # Y needs bits 2..5 only; Y1 = a1b2 ^ a0b3 enters the P chain inline, its carry cy2 comes from there.
    for k in (2, 3):
        cells.append(
            Lut(f"lut_y{k}", (f"a[{k}]", "b[2]", f"a[{k - 1}]", "b[3]"), (f"s_y[{k}]", f"a{k}&b2 ^ a{k - 1}&b3"), (f"g_y[{k}]", f"a{k}&b2"))
        )
    cells.append(Lut("lut_y4", ("a[3]", "b[3]"), ("s_y[4]", "a3&b3")))
    cells.append(
        Carry4(
            "carry_y",
            ci="1'b0",
            cyinit="cy2",
            di=("g_y[2]", "g_y[3]", "1'b0", "1'b0"),
            s=("s_y[2]", "s_y[3]", "s_y[4]", "1'b0"),
            o=("y[2]", "y[3]", "y[4]", "o_y_unused"),
            co=("co_y[0]", "co_y[1]", "y[5]", "co_y[2]"),
            comment="y[5:2] = (a * {b[3], b[2]}) >> 2, carry into bit 2 (cy2) from lut_p3",
        )
    )
    cells += [
        Lut("lut_p2", ("x[2]", "a[0]", "b[2]"), ("s_p[2]", "x2 ^ a0&b2")),
        Lut("lut_p3", ("x[3]", "a[1]", "b[2]", "a[0]", "b[3]"), ("s_p[3]", "x3 ^ (a1&b2 ^ a0&b3)"), ("cy2", "a1&b2 & a0&b3")),
        Lut("lut_p4", ("x[4]", "y[2]"), ("s_p[4]", "x4 ^ y2")),
        Lut("lut_p5", ("x[5]", "y[3]"), ("s_p[5]", "x5 ^ y3")),
        Carry4(
            "carry_p",
            ci="1'b0",
            cyinit="1'b0",
            di=("x[2]", "x[3]", "x[4]", "x[5]"),
            s=("s_p[2]", "s_p[3]", "s_p[4]", "s_p[5]"),
            o=("p[2]", "p[3]", "p[4]", "p[5]"),
            co=("co_p[0]", "co_p[1]", "co_p[2]", "c6"),
            comment="p[5:2] = x[5:2] + y[3:0] (y[1:0] computed inline in lut_p2/lut_p3)",
        ),
        Lut("lut_p67", ("y[4]", "y[5]", "c6"), ("p[7]", "y5 ^ (y4 & c6)"), ("p[6]", "y4 ^ c6")),
    ]
    return Netlist(
        "smapprox_mul4x4_d0",
        [
            "SMApprox 4x4 design 0: exact unsigned product p = a * b.",
            "X = a*b[1:0] and Y = a*b[3:2] on carry chains, p = X + (Y << 2) on a third chain.",
        ],
        list(_OPERANDS),
        [
            *_pair_wires("x"),
            ("y", 5, 2),
            ("s_y", 4, 2),
            ("g_y", 3, 2),
            ("co_y", 2, 0),
            ("o_y_unused", 0, 0),
            ("cy2", 0, 0),
            ("s_p", 5, 2),
            ("co_p", 2, 0),
            ("c6", 0, 0),
        ],
        cells,
        [("p[0]", "x[0]"), ("p[1]", "x[1]")],
    )


def _design_xy(name: str, summary: list[str], tail: list[Lut], assigns: list[tuple[str, str]]) -> Netlist:
    cells = _pair_chain("x", 0, 1, ("x[0]", "a0&b0", ("a[0]", "b[0]")))
    cells += _pair_chain("y", 2, 3, ("y[0]", "a0&b2", ("a[0]", "b[2]")))
    cells += tail
    return Netlist(name, summary, list(_OPERANDS), _pair_wires("x") + _pair_wires("y"), cells, assigns)


def design1() -> Netlist:
    """Design 1: exact ``X``, ``Y``; ``X + 4Y`` with carries that look back one bit (12 LUTs)."""
    tail = [
        Lut("lut_p23", ("x[2]", "x[3]", "y[0]", "y[1]"), ("p[3]", "x3 ^ y1 ^ (x2 & y0)"), ("p[2]", "x2 ^ y0")),
        Lut("lut_p4", ("x[3]", "x[4]", "y[1]", "y[2]"), ("p[4]", "x4 ^ y2 ^ (x3 & y1)")),
        Lut("lut_p5", ("x[4]", "x[5]", "y[2]", "y[3]"), ("p[5]", "x5 ^ y3 ^ (x4 & y2)")),
        Lut("lut_p67", ("x[5]", "y[3]", "y[4]", "y[5]"), ("p[7]", "y5 ^ (y4 & x5 & y3)"), ("p[6]", "y4 ^ (x5 & y3)")),
    ]
    return _design_xy(
        "smapprox_mul4x4_d1",
        [
            "SMApprox 4x4 design 1: exact X = a*b[1:0] and Y = a*b[3:2] on carry chains,",
            "p = X + (Y << 2) with each carry looking back one bit only (docs/multipliers.md).",
        ],
        tail,
        [("p[0]", "x[0]"), ("p[1]", "x[1]")],
    )


def design4() -> Netlist:
    """Design 4 (labelled variant of design 1, 11 LUTs)."""
    tail = [
        Lut("lut_p25", ("x[2]", "y[0]", "x[5]", "y[3]"), ("p[5]", "x5 ^ y3"), ("p[2]", "x2 ^ y0")),
        Lut("lut_p3", ("x[3]", "y[1]", "a[1]", "b[1]", "a[0]", "b[2]"), ("p[3]", "x3 ^ y1 ^ (a1 & b1 & a0 & b2)")),
        Lut("lut_p4", ("x[4]", "y[2]", "a[2]", "b[1]", "a[1]", "b[2]"), ("p[4]", "x4 ^ y2 ^ (a2 & b1 & a1 & b2)")),
    ]
    return _design_xy(
        "smapprox_mul4x4_d4",
        [
            "SMApprox 4x4 design 4: a different published variant of design 1 (exact X, Y; other",
            "carry terms). Kept as a labelled extra: it does not reproduce the paper's MREs.",
        ],
        tail,
        [("p[0]", "x[0]"), ("p[1]", "x[1]"), ("p[6]", "y[4]"), ("p[7]", "y[5]")],
    )


def _design_xor(name: str, summary: list[str], carries: bool) -> Netlist:
    p3 = "w ^ a2&b1 ^ a1&b2" + (" ^ (a2&b0 & a1&b1)" if carries else "")
    p3_pins: tuple[str, ...] = ("w", "a[1]", "a[2]", "b[1]", "b[2]") + (("b[0]",) if carries else ())
    p4 = "a3&b1 ^ a2&b2 ^ a1&b3" + (" ^ (a2&b1 & a1&b2)" if carries else "")
    cells: list[Lut | Carry4] = [
        Lut("lut_p0w", ("a[0]", "b[0]", "a[3]", "b[3]"), ("w", "a0&b3 ^ a3&b0"), ("p[0]", "a0&b0")),
        Lut("lut_p1", ("a[0]", "a[1]", "b[0]", "b[1]"), ("p[1]", "a1&b0 ^ a0&b1")),
        Lut("lut_p2", ("a[0]", "a[1]", "a[2]", "b[0]", "b[1]", "b[2]"), ("p[2]", "a2&b0 ^ a1&b1 ^ a0&b2 ^ (a1&b0 & a0&b1)")),
        Lut("lut_p3", p3_pins, ("p[3]", p3)),
        Lut("lut_p4", ("a[1]", "a[2]", "a[3]", "b[1]", "b[2]", "b[3]"), ("p[4]", p4)),
        Lut("lut_p56", ("a[2]", "a[3]", "b[2]", "b[3]"), ("p[6]", "a3&b3 ^ (a3&a2&b3&b2)"), ("p[5]", "a3&b2 ^ a2&b3")),
        Lut("lut_p7", ("a[2]", "a[3]", "b[2]", "b[3]"), ("p[7]", "a3&a2&b3&b2")),
    ]
    return Netlist(name, summary, list(_OPERANDS), [("w", 0, 0)], cells)


def design2() -> Netlist:
    """Design 2: xor columns with one-level carries into bits 2-4 (7 LUTs, no carry chain)."""
    return _design_xor(
        "smapprox_mul4x4_d2",
        [
            "SMApprox 4x4 design 2: xor of each partial-product column with a one-level carry into",
            "bits 2..4, g = a3 a2 b3 b2 on bits 6..7 (docs/multipliers.md). No carry chain.",
        ],
        carries=True,
    )


def design3() -> Netlist:
    """Design 3: as design 2 without the carries into bits 3 and 4 (7 LUTs)."""
    return _design_xor(
        "smapprox_mul4x4_d3",
        ["SMApprox 4x4 design 3: as design 2 without the carries into bits 3 and 4", "(docs/multipliers.md). No carry chain."],
        carries=False,
    )


def ternary_adder() -> Netlist:
    """``s = z + (u << 4) + (v << 4)`` (16 bits): the exact addition of the four 4x4 partial products.

    Bits 4..11 form a ternary adder: LUT k puts the full-adder carry ``m[k] = maj(z, u, v)`` on
    ``O5`` and ``z ^ u ^ v ^ m[k-1]`` on ``O6``; the carry chain adds the two rows.
    """
    cells: list[Lut | Carry4] = []
    for k in range(4, 12):
        j = k - 4
        pins = (f"z[{k}]", f"u[{j}]", f"v[{j}]") + ((f"m[{k - 1}]",) if k > 4 else ())
        prop = f"z{k} ^ u{j} ^ v{j}" + (f" ^ m{k - 1}" if k > 4 else "")
        cells.append(Lut(f"lut_s{k}", pins, (f"sp[{k}]", prop), (f"m[{k}]", f"maj(z{k}, u{j}, v{j})")))
    cells.append(Lut("lut_s12", ("z[12]", "m[11]"), ("sp[12]", "z12 ^ m11")))
    for k in (13, 14, 15):
        cells.append(Lut(f"lut_s{k}", (f"z[{k}]",), (f"sp[{k}]", f"z{k}")))

    def di(k: int) -> str:
        return f"m[{k - 1}]" if 5 <= k <= 12 else "1'b0"

    for n, base in enumerate((4, 8, 12)):
        ks = range(base, base + 4)
        cells.append(
            Carry4(
                f"carry_s{n}",
                ci=f"cc[{n - 1}]" if n else "1'b0",
                cyinit="1'b0",
                di=tuple(di(k) for k in ks),  # type: ignore[arg-type]
                s=tuple(f"sp[{k}]" for k in ks),  # type: ignore[arg-type]
                o=tuple(f"s[{k}]" for k in ks),  # type: ignore[arg-type]
                co=(f"co_s{n}[0]", f"co_s{n}[1]", f"co_s{n}[2]", f"cc[{n}]"),
                comment=f"s[{base + 3}:{base}]",
            )
        )
    return Netlist(
        "smapprox_ternary_adder",
        [
            "Exact ternary adder of the 8x8 composition: s = z + (u << 4) + (v << 4), 16 bits,",
            "with z = {HH, LL}, u = HL, v = LH. Full-adder carries m on O5, two-row sum on CARRY4.",
        ],
        [("input", "z", 16, "Addends"), ("input", "u", 8, ""), ("input", "v", 8, ""), ("output", "s", 16, "Sum")],
        [("sp", 15, 4), ("m", 11, 4), ("cc", 2, 0)] + [(f"co_s{n}", 2, 0) for n in range(3)],
        cells,
        [("s[3:0]", "z[3:0]")],
    )


#: Every generated netlist, by module name.
GENERATORS = {
    "smapprox_mul4x4_d0": design0,
    "smapprox_mul4x4_d1": design1,
    "smapprox_mul4x4_d2": design2,
    "smapprox_mul4x4_d3": design3,
    "smapprox_mul4x4_d4": design4,
    "smapprox_ternary_adder": ternary_adder,
}


def generate_all() -> dict[str, str]:
    """Module name -> Verilog text of every generated netlist."""
    return {name: build().verilog() for name, build in GENERATORS.items()}


def write_all(folder: Path | None = None) -> list[Path]:
    """Rewrite the generated netlists in ``folder`` (default ``rtl/smapprox``), atomically, one file per module."""
    from approxhil.atomic import write_text

    folder = rtl_dir() / "smapprox" if folder is None else folder
    paths = []
    for name, text in generate_all().items():
        path = folder / f"{name}.v"
        write_text(path, text)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_all():
        print(f"wrote {written}")
    sys.exit(0)
