"""Read the LUT6_2/CARRY4 netlists with pyverilog and evaluate them in Python.

A third model of every multiplier, independent of the simulators: the Verilog is parsed with
pyverilog, elaborated for a toplevel and its parameters (hierarchy, parameters and localparams,
generate-if, continuous assigns), flattened to bit-level nets, and evaluated with numpy on all
operand pairs at once. ``LUT6_2`` and ``CARRY4`` are evaluated from the primitive semantics of docs/multipliers.md (not
from their Verilog models), so a wrong INIT or connection shows up as a mismatch.
"""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from approxhil.errors import ApproxHilError

PRIMITIVES = ("LUT6_2", "CARRY4")
Bit = tuple[str, int]  # (hierarchical net name, bit index)


class NetlistError(ApproxHilError, ValueError):
    """Verilog that the netlist reader cannot parse, elaborate or evaluate."""

    default_fix = "check the netlist named (approxhil rtl verify runs every check)"


# ----------------------------------------------------------------------------- parsing
@lru_cache(maxsize=1)
def _parser_dir() -> str:
    """A private folder for pyverilog's parser tables and preprocessor output, removed at exit."""
    path = tempfile.mkdtemp(prefix="approxhil-pyverilog-")
    atexit.register(shutil.rmtree, path, True)
    return path


def parse_modules(files: Sequence[Path]) -> dict[str, Any]:
    """``{module name: pyverilog ModuleDef}`` of every module in ``files`` (cached per file contents)."""
    stamps = []
    for f in files:
        try:
            st = Path(f).stat()
        except OSError:
            raise NetlistError(f"netlist file {f} does not exist") from None
        stamps.append((str(Path(f).resolve()), st.st_mtime_ns, st.st_size))
    return _parse_cached(tuple(stamps))


@lru_cache(maxsize=16)
def _parse_cached(stamps: tuple[tuple[str, int, int], ...]) -> dict[str, Any]:
    from pyverilog.vparser.parser import ParseError, VerilogCodeParser

    files = [s[0] for s in stamps]
    work = _parser_dir()
    with tempfile.NamedTemporaryFile(dir=work, suffix=".pp", delete=False) as fh:
        pp = fh.name
    try:
        parser = VerilogCodeParser([str(f) for f in files], preprocess_output=pp, outputdir=work, debug=False)
        ast = parser.parse()
    except ParseError as exc:
        raise NetlistError(f"pyverilog could not parse the netlist: {exc}", fix="check the Verilog with a simulator first") from None
    except FileNotFoundError as exc:
        raise NetlistError(f"pyverilog preprocessing failed ({exc}); it needs iverilog on PATH", fix="run `make install`") from None
    finally:
        Path(pp).unlink(missing_ok=True)
    return {d.name: d for d in ast.description.definitions if type(d).__name__ == "ModuleDef"}


# ----------------------------------------------------------------------------- elaborated model
@dataclass(frozen=True)
class Net:
    name: str
    msb: int
    lsb: int
    signed: bool = False

    @property
    def width(self) -> int:
        return abs(self.msb - self.lsb) + 1

    def bits(self) -> list[Bit]:
        """The net's bits, least significant first."""
        if self.msb >= self.lsb:
            return [(self.name, i) for i in range(self.lsb, self.msb + 1)]
        return [(self.name, i) for i in range(self.lsb, self.msb - 1, -1)]


@dataclass
class Cell:
    """One primitive instance: type, hierarchical name, INIT (LUT6_2) and its pins' bits."""

    kind: str
    name: str
    init: int | None
    pins: dict[str, list[Bit | int]]  # port -> bits (LSB first) or constants 0/1


@dataclass
class Driver:
    """Something that computes bits from bits: a primitive, or an assign (expression evaluator)."""

    inputs: list[Bit]
    outputs: list[Bit]
    run: Callable[[dict[Bit, np.ndarray]], None]
    label: str


@dataclass
class Flat:
    """An elaborated, flattened design ready to evaluate."""

    top: str
    ports: dict[str, tuple[str, Net]]  # port -> (direction, net)
    cells: list[Cell] = field(default_factory=list)
    drivers: list[Driver] = field(default_factory=list)
    _order: list[Driver] | None = None

    def order(self) -> list[Driver]:
        if self._order is None:
            self._order = _topological(self.drivers, [b for d, n in self.ports.values() if d == "input" for b in n.bits()])
        return self._order

    def evaluate(self, inputs: Mapping[str, np.ndarray | int]) -> dict[str, np.ndarray]:
        """Outputs for input port values (broadcast numpy integer arrays); signed ports give signed values."""
        values: dict[Bit, np.ndarray] = {}
        shape = np.broadcast(*[np.asarray(v) for v in inputs.values()]).shape
        for port, (direction, net) in self.ports.items():
            if direction != "input":
                continue
            if port not in inputs:
                raise NetlistError(f"{self.top}: no value given for input port {port}")
            v = np.broadcast_to(np.asarray(inputs[port], dtype=np.int64), shape)
            for k, bit in enumerate(net.bits()):
                values[bit] = ((v >> k) & 1).astype(np.uint8)
        for driver in self.order():
            driver.run(values)
        out = {}
        for port, (direction, net) in self.ports.items():
            if direction == "output":
                v = _gather(values, net.bits())
                if net.signed:
                    v = np.where(v >= 1 << (net.width - 1), v - (1 << net.width), v)
                out[port] = v
        return out


def _gather(values: Mapping[Bit, np.ndarray], bits: Sequence[Bit | int]) -> np.ndarray:
    out: np.ndarray | int = 0
    for k, bit in enumerate(bits):
        v = bit if isinstance(bit, int) else values[bit]
        out = out | (np.asarray(v, dtype=np.int64) << k)
    return np.asarray(out, dtype=np.int64)


def _topological(drivers: list[Driver], primary: Iterable[Bit]) -> list[Driver]:
    known = set(primary)
    pending = list(drivers)
    order: list[Driver] = []
    while pending:
        ready = [d for d in pending if all(b in known for b in d.inputs)]
        if not ready:
            missing = sorted({b for d in pending for b in d.inputs if b not in known})[:5]
            raise NetlistError(f"undriven nets or a combinational loop (e.g. {missing})", fix="drive every net once")
        for d in ready:
            known.update(d.outputs)
        order += ready
        ids = {id(d) for d in ready}
        pending = [d for d in pending if id(d) not in ids]
    return order


# ----------------------------------------------------------------------------- expressions
_SIZED = re.compile(r"^(\d+)'(s?)([bdhoBDHO])([0-9a-fA-F_xXzZ]+)$")


def _int_const(text: str) -> tuple[int, int | None]:
    text = text.replace("_", "")
    m = _SIZED.match(text)
    if m:
        size, _, base, digits = m.groups()
        if re.search(r"[xXzZ]", digits):
            raise NetlistError(f"constant {text} holds x/z bits")
        return int(digits, {"b": 2, "d": 10, "h": 16, "o": 8}[base.lower()]), int(size)
    if text.isdigit():
        return int(text), None
    raise NetlistError(f"unsupported constant {text}")


class Scope:
    """Names visible in one module instance: parameters (ints) and nets."""

    def __init__(self, prefix: str, params: dict[str, int]) -> None:
        self.prefix = prefix
        self.params = dict(params)
        self.nets: dict[str, Net] = {}

    def net(self, name: str, lineno: int) -> Net:
        if name not in self.nets:
            raise NetlistError(f"line {lineno}: {name!r} is not declared in {self.prefix or 'top'}")
        return self.nets[name]

    # constant expressions (parameters, generate conditions, ranges)
    def const(self, node: Any) -> int:
        kind = type(node).__name__
        if kind in ("Rvalue", "Lvalue"):
            return self.const(node.var)
        if kind == "IntConst":
            return _int_const(node.value)[0]
        if kind == "Identifier":
            if node.name not in self.params:
                raise NetlistError(f"line {node.lineno}: {node.name!r} is not a parameter")
            return self.params[node.name]
        ops: dict[str, Callable[..., int]] = {
            "Plus": lambda a, b: a + b,
            "Minus": lambda a, b: a - b,
            "Times": lambda a, b: a * b,
            "Divide": lambda a, b: int(a / b),
            "Mod": lambda a, b: a - b * int(a / b),
            "Eq": lambda a, b: int(a == b),
            "NotEq": lambda a, b: int(a != b),
            "LessThan": lambda a, b: int(a < b),
            "GreaterThan": lambda a, b: int(a > b),
            "LessEq": lambda a, b: int(a <= b),
            "GreaterEq": lambda a, b: int(a >= b),
            "Land": lambda a, b: int(bool(a) and bool(b)),
            "Lor": lambda a, b: int(bool(a) or bool(b)),
            "Sll": lambda a, b: a << b,
            "Srl": lambda a, b: a >> b,
        }
        if kind in ops:
            return ops[kind](self.const(node.left), self.const(node.right))
        if kind == "Ulnot":
            return int(not self.const(node.right))
        if kind == "Uminus":
            return -self.const(node.right)
        if kind == "Cond":
            return self.const(node.true_value) if self.const(node.cond) else self.const(node.false_value)
        raise NetlistError(f"line {getattr(node, 'lineno', '?')}: unsupported constant expression {kind}")

    # bit lists of net references (lvalues, port connections)
    def bits(self, node: Any) -> list[Bit | int]:
        kind = type(node).__name__
        if kind in ("Rvalue", "Lvalue"):
            return self.bits(node.var)
        if kind == "Identifier":
            return list(self.net(node.name, node.lineno).bits())
        if kind == "Pointer":
            net = self.net(node.var.name, node.lineno)
            return [(net.name, self.const(node.ptr))]
        if kind == "Partselect":
            net = self.net(node.var.name, node.lineno)
            msb, lsb = self.const(node.msb), self.const(node.lsb)
            return [(net.name, i) for i in range(lsb, msb + 1)]
        if kind == "Concat":
            out: list[Bit | int] = []
            for item in reversed(node.list):
                out += self.bits(item)
            return out
        if kind == "IntConst":
            value, size = _int_const(node.value)
            return [(value >> k) & 1 for k in range(size or 32)]
        raise NetlistError(f"line {getattr(node, 'lineno', '?')}: {kind} cannot be used as a net reference")

    # vector expressions: (callable(values) -> int64 array, width, referenced bits)
    def expr(self, node: Any) -> tuple[Callable[[Mapping[Bit, np.ndarray]], Any], int, list[Bit]]:
        kind = type(node).__name__
        if kind in ("Rvalue", "Lvalue"):
            return self.expr(node.var)
        if kind in ("Identifier", "Pointer", "Partselect", "Concat") and not (kind == "Identifier" and node.name in self.params):
            if kind == "Concat" and any(
                type(i).__name__ not in ("Identifier", "Pointer", "Partselect", "IntConst", "Concat") for i in node.list
            ):
                parts = [self.expr(i) for i in reversed(node.list)]

                def concat(v: Mapping[Bit, np.ndarray]) -> Any:
                    out, shift = 0, 0
                    for fn, width, _ in parts:
                        out = out | ((np.asarray(fn(v), dtype=np.int64) & ((1 << width) - 1)) << shift)
                        shift += width
                    return out

                return concat, sum(p[1] for p in parts), [b for p in parts for b in p[2]]
            bits = self.bits(node)
            return (lambda v, bits=bits: _gather(v, bits)), len(bits), [b for b in bits if not isinstance(b, int)]
        if kind == "IntConst":
            value, size = _int_const(node.value)
            return (lambda v, value=value: value), size or 32, []
        if kind == "Identifier":
            value = self.params[node.name]
            return (lambda v, value=value: value), 32, []
        if kind == "SystemCall" and node.syscall in ("signed", "unsigned"):
            return self.expr(node.args[0])
        binary: dict[str, Callable[[Any, Any], Any]] = {
            "Plus": lambda a, b: a + b,
            "Minus": lambda a, b: a - b,
            "Times": lambda a, b: a * b,
            "And": lambda a, b: a & b,
            "Or": lambda a, b: a | b,
            "Xor": lambda a, b: a ^ b,
            "Xnor": lambda a, b: ~(a ^ b),
        }
        compare: dict[str, Callable[[Any, Any], Any]] = {
            "Eq": lambda a, b: a == b,
            "NotEq": lambda a, b: a != b,
            "Land": lambda a, b: (a != 0) & (b != 0),
            "Lor": lambda a, b: (a != 0) | (b != 0),
        }
        if kind in binary or kind in compare:
            fa, wa, ba = self.expr(node.left)
            fb, wb, bb = self.expr(node.right)
            if kind in binary:
                op = binary[kind]
                return (lambda v: op(np.asarray(fa(v), dtype=np.int64), np.asarray(fb(v), dtype=np.int64))), max(wa, wb), ba + bb
            cop = compare[kind]
            return (lambda v: cop(np.asarray(fa(v)), np.asarray(fb(v))).astype(np.int64)), 1, ba + bb
        if kind in ("Unot", "Ulnot", "Uminus"):
            f, w, b = self.expr(node.right)
            if kind == "Unot":
                return (lambda v: ~np.asarray(f(v), dtype=np.int64)), w, b
            if kind == "Ulnot":
                return (lambda v: (np.asarray(f(v)) == 0).astype(np.int64)), 1, b
            return (lambda v: -np.asarray(f(v), dtype=np.int64)), w, b
        if kind == "Cond":
            fc, _, bc = self.expr(node.cond)
            ft, wt, bt = self.expr(node.true_value)
            ff, wf, bf = self.expr(node.false_value)
            return (lambda v: np.where(np.asarray(fc(v)) != 0, ft(v), ff(v))), max(wt, wf), bc + bt + bf
        raise NetlistError(f"line {getattr(node, 'lineno', '?')}: unsupported expression {kind}")


# ----------------------------------------------------------------------------- elaboration
class Elaborator:
    """Flattens a toplevel of parsed modules into cells and drivers."""

    def __init__(self, modules: Mapping[str, Any]) -> None:
        self.modules = modules

    def elaborate(self, top: str, parameters: Mapping[str, int] | None = None) -> Flat:
        if top not in self.modules:
            raise NetlistError(f"module {top!r} not found (have: {', '.join(sorted(self.modules))})")
        flat = Flat(top, {})
        scope = self._instance(top, "", dict(parameters or {}), flat)
        for port in self._port_names(self.modules[top]):
            net = scope.nets[port]
            direction = self._directions(self.modules[top]).get(port, "input")
            flat.ports[port] = (direction, net)
        return flat

    @staticmethod
    def _port_names(mod: Any) -> list[str]:
        names = []
        for p in mod.portlist.ports:
            first = getattr(p, "first", None)
            names.append(first.name if first is not None else p.name)
        return names

    @staticmethod
    def _directions(mod: Any) -> dict[str, str]:
        out = {}
        for p in mod.portlist.ports:
            first = getattr(p, "first", None)
            if first is not None:
                out[first.name] = type(first).__name__.lower()
        for item in mod.items:
            if type(item).__name__ == "Decl":
                for d in item.list:
                    if type(d).__name__ in ("Input", "Output", "Inout"):
                        out[d.name] = type(d).__name__.lower()
        return out

    def _declare(self, scope: Scope, decl: Any) -> None:
        width = decl.width
        msb, lsb = (scope.const(width.msb), scope.const(width.lsb)) if width is not None else (0, 0)
        name = decl.name
        signed = bool(getattr(decl, "signed", False))
        old = scope.nets.get(name)
        scope.nets[name] = Net(scope.prefix + name, msb, lsb, signed or (old.signed if old else False))

    def _instance(self, module: str, prefix: str, overrides: dict[str, int], flat: Flat) -> Scope:
        mod = self.modules[module]
        scope = Scope(prefix, {})
        overrides = dict(overrides)  # parameters used are popped; what is left does not exist
        if mod.paramlist is not None:
            for p in mod.paramlist.params:
                for d in p.list:
                    scope.params[d.name] = overrides.pop(d.name) if d.name in overrides else scope.const(d.value)
        for p in mod.portlist.ports:
            first = getattr(p, "first", None)
            if first is not None:
                self._declare(scope, first)
        self._items(mod.items, scope, overrides, flat)
        if overrides:
            raise NetlistError(f"module {module} has no parameter(s) {sorted(overrides)}")
        return scope

    def _items(self, items: Iterable[Any], scope: Scope, overrides: dict[str, int], flat: Flat) -> None:
        for item in items:
            kind = type(item).__name__
            if kind == "Decl":
                for d in item.list:
                    dk = type(d).__name__
                    if dk in ("Parameter", "Localparam"):
                        if dk == "Parameter" and d.name in overrides:
                            scope.params[d.name] = overrides.pop(d.name)
                        else:
                            scope.params[d.name] = scope.const(d.value)
                    elif dk in ("Input", "Output", "Inout", "Wire"):
                        self._declare(scope, d)
                    elif dk == "Assign":
                        self._assign(d, scope, flat)
                    elif dk == "Reg":
                        raise NetlistError(f"line {d.lineno}: reg {d.name}: the netlist reader handles combinational netlists only")
                    else:
                        raise NetlistError(f"line {d.lineno}: unsupported declaration {dk}")
            elif kind == "Assign":
                self._assign(item, scope, flat)
            elif kind == "InstanceList":
                for inst in item.instances:
                    self._instantiate(inst, scope, flat)
            elif kind == "GenerateStatement":
                self._items(item.items, scope, overrides, flat)
            elif kind == "IfStatement":
                branch = item.true_statement if scope.const(item.cond) else item.false_statement
                if branch is not None:
                    self._items([branch], scope, overrides, flat)
            elif kind == "Block":
                self._items(item.statements, scope, overrides, flat)
            elif kind in ("Pragma",):
                continue
            else:
                raise NetlistError(
                    f"line {getattr(item, 'lineno', '?')}: {kind} is not supported by the netlist reader (combinational netlists only)"
                )

    def _assign(self, node: Any, scope: Scope, flat: Flat) -> None:
        out = scope.bits(node.left)
        if any(isinstance(b, int) for b in out):
            raise NetlistError(f"line {node.lineno}: cannot assign to a constant")
        fn, _, inputs = scope.expr(node.right)
        mask_bits = list(out)

        def run(values: dict[Bit, np.ndarray], fn: Callable = fn, outs: list = mask_bits) -> None:
            v = np.asarray(fn(values), dtype=np.int64)
            for k, bit in enumerate(outs):
                values[bit] = ((v >> k) & 1).astype(np.uint8)

        flat.drivers.append(Driver(inputs, out, run, f"assign@{node.lineno}"))  # type: ignore[arg-type]

    def _instantiate(self, inst: Any, scope: Scope, flat: Flat) -> None:
        params = {p.paramname: scope.const(p.argname) for p in inst.parameterlist}
        name = scope.prefix + inst.name
        conns = {p.portname: p.argname for p in inst.portlist}
        if any(pn is None for pn in conns):
            raise NetlistError(f"line {inst.lineno}: instance {name}: connect ports by name")
        if inst.module in PRIMITIVES:
            self._primitive(inst.module, name, params, conns, scope, flat, inst.lineno)
            return
        if inst.module not in self.modules:
            raise NetlistError(f"line {inst.lineno}: module {inst.module!r} of instance {name} is not defined")
        child = self._instance(inst.module, name + ".", params, flat)
        directions = self._directions(self.modules[inst.module])
        for port, arg in conns.items():
            if port not in child.nets:
                raise NetlistError(f"line {inst.lineno}: {inst.module} has no port {port!r}")
            if arg is None:
                continue
            inner = child.nets[port].bits()
            outer = scope.bits(arg)
            if directions.get(port) == "output":
                self._copy(list(inner), outer, flat, f"{name}.{port}")
            else:
                self._copy(outer, list(inner), flat, f"{name}.{port}")

    @staticmethod
    def _copy(src: list[Bit | int], dst: list[Bit | int], flat: Flat, label: str) -> None:
        n = min(len(src), len(dst))
        pairs = [(s, d) for s, d in zip(src[:n], dst[:n]) if not isinstance(d, int)]
        if not pairs:
            return

        def run(values: dict[Bit, np.ndarray], pairs: list = pairs) -> None:
            for s, d in pairs:
                values[d] = np.uint8(s) if isinstance(s, int) else values[s]

        flat.drivers.append(Driver([s for s, _ in pairs if not isinstance(s, int)], [d for _, d in pairs], run, label))  # type: ignore[misc]

    def _primitive(
        self, kind: str, name: str, params: dict[str, int], conns: Mapping[str, Any], scope: Scope, flat: Flat, lineno: int
    ) -> None:
        pins = {port: (scope.bits(arg) if arg is not None else []) for port, arg in conns.items()}
        if kind == "LUT6_2":
            init = params.get("INIT", 0)
            ins = [(pins.get(f"I{k}") or [0])[0] for k in range(6)]
            table = np.array([(init >> i) & 1 for i in range(64)], dtype=np.uint8)
            o6, o5 = pins.get("O6", []), pins.get("O5", [])

            def run(values: dict[Bit, np.ndarray], ins: list = ins, o6: list = o6, o5: list = o5) -> None:
                idx = _gather(values, ins)
                if o6:
                    values[o6[0]] = table[idx]  # type: ignore[index]
                if o5:
                    values[o5[0]] = table[idx & 31]  # type: ignore[index]

            outs = o6[:1] + o5[:1]
            flat.cells.append(Cell(kind, name, init, {"O6": o6, "O5": o5, **{f"I{k}": [ins[k]] for k in range(6)}}))
            flat.drivers.append(Driver([b for b in ins if not isinstance(b, int)], outs, run, name))  # type: ignore[arg-type]
            return

        # CARRY4
        def vec(port: str, n: int) -> list[Bit | int]:
            bits = pins.get(port, [])
            return (list(bits) + [0] * n)[:n]

        ci, cyinit, di, s = vec("CI", 1)[0], vec("CYINIT", 1)[0], vec("DI", 4), vec("S", 4)
        o, co = pins.get("O", []), pins.get("CO", [])

        def run_carry(values: dict[Bit, np.ndarray], o: list = o, co: list = co) -> None:
            def val(b: Bit | int) -> Any:
                return np.uint8(b) if isinstance(b, int) else values[b]

            c = val(ci) | val(cyinit)
            for k in range(4):
                sk = val(s[k])
                if k < len(o):
                    values[o[k]] = sk ^ c
                c = np.where(sk != 0, c, val(di[k])).astype(np.uint8)
                if k < len(co):
                    values[co[k]] = c

        inputs = [b for b in [ci, cyinit, *di, *s] if not isinstance(b, int)]
        flat.cells.append(Cell(kind, name, None, {"CI": [ci], "CYINIT": [cyinit], "DI": di, "S": s, "O": o, "CO": co}))
        flat.drivers.append(Driver(inputs, list(o) + list(co), run_carry, name))  # type: ignore[arg-type]


def read_netlist(files: Sequence[Path], top: str, parameters: Mapping[str, int] | None = None) -> Flat:
    """Parse ``files`` (primitive models are skipped) and elaborate ``top`` with ``parameters``."""
    files = [Path(f) for f in files if Path(f).stem not in PRIMITIVES]
    return Elaborator(parse_modules(files)).elaborate(top, parameters)


def smapprox_table(spec: str, encoding: str | None = None, files: Sequence[Path] | None = None) -> np.ndarray:
    """Product table of an SMApprox multiplier (as :func:`approxhil.rtl.export.simulate_table` lays it
    out) computed by evaluating its netlist in Python."""
    from approxhil.rtl.export import smapprox_target
    from approxhil.rtl.sources import smapprox_sources

    target = smapprox_target(spec, encoding)
    flat = read_netlist(files or smapprox_sources(simulation=False), target.module, dict(target.parameters))
    size = 1 << target.bits
    ops = np.arange(size) - (size // 2 if target.signed else 0)
    a, b = np.meshgrid(ops, ops, indexing="ij")
    return flat.evaluate({target.a: a, target.b: b})[target.y]
