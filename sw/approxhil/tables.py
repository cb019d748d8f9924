"""The truth-table type: a multiplier's exhaustive product table with its metadata and file format.

Every multiplier (golden model, RTL simulation, board measurement, foreign table) reaches the
rest of the toolkit as a :class:`TruthTable`. A table is identified by the sha256 of its values
(little-endian int32, C order). Files are ``.npz`` archives holding ``table`` (int32) and
``meta`` (UTF-8 JSON bytes); loading verifies format, shape, dtype, value range and checksum.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from approxhil_board.hashing import file_sha256

from approxhil import __version__
from approxhil.atomic import atomic_path
from approxhil.encoding import Encoding, operands, sign_magnitude
from approxhil.errors import TableError
from approxhil.fileformat import read_versioned
from approxhil.metrics import error_metrics

FORMAT = "approxhil-truth-table"
FORMAT_VERSION = 1
OPERAND_ROLES = ("activation", "weight")
SUPPORTED_BITS = (4, 8)


def table_sha256(values: np.ndarray) -> str:
    """Checksum that identifies a multiplier: sha256 of the table as little-endian int32, C order."""
    return hashlib.sha256(np.ascontiguousarray(values, dtype="<i4").tobytes()).hexdigest()


def provenance(source: str, **details: Any) -> dict[str, Any]:
    """Provenance record: ``source`` (golden, rtl-sim, board, import) plus tool/config details."""
    return {
        "source": source,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "approxhil_version": __version__,
        **details,
    }


@dataclass(frozen=True, eq=False)
class TruthTable:
    """Exhaustive product table of one multiplier.

    ``values[i, j]`` is the product of operand A value ``low + i`` and operand B value ``low + j``
    where ``low`` follows from ``encoding`` (0 unsigned, ``-2^(bits-1)`` signed). ``operand_a``
    records which network tensor feeds operand A.
    """

    values: np.ndarray
    name: str
    encoding: Encoding = Encoding.UNSIGNED
    operand_a: str = "activation"
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoding", Encoding.parse(self.encoding))
        values = np.asarray(self.values)
        _check_values(values, self.name)
        bits = int(values.shape[0]).bit_length() - 1
        # unsigned: products of two bits-bit operands; signed: at most twice the largest exact |a·b| = 4^(bits-1)
        bound = 1 << (2 * bits - (1 if self.encoding.signed else 0))
        peak = float(np.abs(values.astype(np.float64)).max(initial=0))
        if peak >= bound:
            raise TableError(
                f"table {self.name!r}: values out of range for {bits}-bit {self.encoding} operands (|p| must be < {bound}, got {peak:.0f})",
                fix="check the table's encoding and bit width, and that it holds products, not indices",
            )
        if not self.encoding.signed and float(values.min(initial=0)) < 0:
            raise TableError(f"table {self.name!r}: negative products in an unsigned table", fix="import it with its signed encoding")
        values = np.array(values, dtype=np.int32, copy=True)
        values.setflags(write=False)
        object.__setattr__(self, "values", values)
        if self.operand_a not in OPERAND_ROLES:
            raise TableError(
                f"table {self.name!r}: operand_a must be one of {OPERAND_ROLES}, got {self.operand_a!r}",
                fix="--operand-a activation (the default) or weight",
            )

    # ----------------------------------------------------------------- shape and operands
    @property
    def bits(self) -> int:
        return int(self.values.shape[0]).bit_length() - 1

    @property
    def low(self) -> int:
        """Operand value of row/column 0."""
        return int(operands(self.encoding, self.bits)[0])

    def operands(self) -> np.ndarray:
        """Operand values in index order."""
        return operands(self.encoding, self.bits)

    def exact(self) -> np.ndarray:
        """Exact product table on the same operand grid."""
        ops = self.operands()
        return np.outer(ops, ops)

    def lookup(self, a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
        """Products for operand values ``a`` (operand A) and ``b`` (operand B)."""
        return self.values[np.asarray(a) - self.low, np.asarray(b) - self.low]

    @cached_property
    def sha256(self) -> str:
        return table_sha256(self.values)

    @property
    def is_exact(self) -> bool:
        return bool(np.array_equal(self.values, self.exact()))

    def metrics(self, mre_n: int | None = None) -> dict[str, float]:
        """Error metrics; MRE over operands ``0..mre_n-1`` (default 16 for 4-bit, 128 for 8-bit)."""
        if mre_n is None:
            mre_n = 16 if self.bits == 4 else 1 << (self.bits - 1)
        ops = self.operands()
        return error_metrics(self.values, self.exact(), ops, ops, mre_n)

    # ----------------------------------------------------------------- conversions
    def to_sign_magnitude(self) -> TruthTable:
        """Signed form ``sign(a) sign(b) M(|a|, |b|)`` of an unsigned core table."""
        if self.encoding is not Encoding.UNSIGNED:
            raise TableError(f"table {self.name!r} is already {self.encoding}; only unsigned cores convert to sign-magnitude")
        return replace(
            self,
            values=sign_magnitude(self.values.astype(np.int64)),
            encoding=Encoding.SIGN_MAGNITUDE,
            provenance={**self.provenance, "derived": "sign-magnitude of unsigned core"},
        )

    def with_operand_a(self, role: str) -> TruthTable:
        """The same table with a different record of which tensor feeds operand A."""
        return replace(self, operand_a=role)

    # ----------------------------------------------------------------- file format
    def meta(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "bits": self.bits,
            "shape": list(self.values.shape),
            "dtype": "int32",
            "encoding": self.encoding.value,
            "operand_a": self.operand_a,
            "sha256": self.sha256,
            "provenance": dict(self.provenance),
            "metrics": self.metrics(),
        }

    def save(self, path: str | os.PathLike) -> Path:
        """Write the table atomically to ``path`` (``.npz``)."""
        path = Path(path)
        meta = json.dumps(self.meta(), sort_keys=True).encode("utf-8")
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, table=self.values, meta=np.frombuffer(meta, dtype=np.uint8))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> TruthTable:
        """Read and verify a table file; raise :class:`TableError` naming what is wrong."""
        meta = read_versioned(
            path,
            kind="truth table",
            format=FORMAT,
            version=FORMAT_VERSION,
            read=_read_npz,
            error=TableError,
            missing_fix="export one with `approxhil tables export`, or import a foreign table with `approxhil tables import`",
            corrupt_fix="re-export the table",
        )
        values = meta["table"]
        if list(values.shape) != list(meta.get("shape", [])):
            raise TableError(f"{path}: table shape {values.shape} differs from the recorded {meta.get('shape')}")
        if values.dtype != np.int32:
            raise TableError(f"{path}: table dtype {values.dtype}, expected int32", fix="re-export the table")
        digest = table_sha256(values)
        if digest != meta.get("sha256"):
            raise TableError(
                f"{path}: checksum mismatch (file says {str(meta.get('sha256'))[:12]}…, table hashes to {digest[:12]}…)",
                fix="the table was modified or damaged; re-export it",
            )
        return cls(
            values=values,
            name=str(meta["name"]),
            encoding=Encoding.parse(meta["encoding"]),
            operand_a=str(meta.get("operand_a", "activation")),
            provenance=meta.get("provenance", {}),
        )

    def __repr__(self) -> str:
        return (
            f"TruthTable(name={self.name!r}, bits={self.bits}, encoding={self.encoding.value}, "
            f"operand_a={self.operand_a}, sha256={self.sha256[:12]})"
        )


def _read_npz(path: Path) -> dict[str, Any]:
    """A table file's metadata with its values under ``table``."""
    with np.load(path, allow_pickle=False) as npz:
        keys = set(npz.files)
        if not {"table", "meta"} <= keys:
            raise TableError(
                f"{path} is not an approxhil truth table (arrays {sorted(keys)}, need table and meta)",
                fix="import foreign tables with `approxhil tables import`",
            )
        return {**json.loads(npz["meta"].tobytes().decode("utf-8")), "table": npz["table"]}


def _check_values(values: np.ndarray, name: str) -> None:
    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise TableError(
            f"table {name!r} has shape {values.shape}; a truth table is square",
            fix="supply a 16x16 (4-bit) or 256x256 (8-bit) table",
        )
    size = values.shape[0]
    if size not in tuple(1 << b for b in SUPPORTED_BITS):
        raise TableError(
            f"table {name!r} has shape {values.shape}; supported are 16x16 (4-bit) and 256x256 (8-bit)",
            fix="supply one product per operand pair",
        )
    if values.dtype.kind == "f":
        if not np.isfinite(values).all():
            raise TableError(f"table {name!r} holds NaN or inf values")
        if not np.array_equal(values, np.round(values)):
            raise TableError(f"table {name!r} holds non-integer values; products must be integers")
    elif values.dtype.kind not in "iu":
        raise TableError(f"table {name!r} has dtype {values.dtype}; products must be integers")


def import_array(
    path: str | os.PathLike,
    name: str | None = None,
    encoding: Encoding | str = Encoding.UNSIGNED,
    operand_a: str = "activation",
) -> TruthTable:
    """Read a foreign 256x256 (or 16x16) table from ``.npy`` or ``.csv`` into a :class:`TruthTable`."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"foreign table {path} does not exist", fix="name an existing .npy or .csv file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            values = np.load(path, allow_pickle=False)
        elif suffix == ".csv":
            values = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
        else:
            raise TableError(f"foreign table {path}: unsupported suffix {suffix!r}", fix="supply .npy or .csv")
    except TableError:
        raise
    except (ValueError, OSError, EOFError) as exc:
        raise TableError(f"foreign table {path} could not be read: {exc}") from None
    return TruthTable(
        values=values,
        name=name or path.stem,
        encoding=Encoding.parse(encoding),
        operand_a=operand_a,
        provenance=provenance("import", file=path.name, file_sha256=file_sha256(path)),
    )
