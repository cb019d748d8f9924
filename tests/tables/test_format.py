"""Truth-table file format: round trip, corruption, bad shapes, ranges and encodings."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from approxhil.errors import SpecError, TableError
from approxhil.multipliers import golden_table
from approxhil.tables import TruthTable, import_array


def test_round_trip(tmp_path: Path) -> None:
    t = golden_table("3330", operand_a="weight")
    path = t.save(tmp_path / "t.npz")
    u = TruthTable.load(path)
    assert np.array_equal(u.values, t.values)
    assert (u.name, u.encoding, u.operand_a, u.sha256) == ("3330", t.encoding, "weight", t.sha256)
    assert u.provenance["source"] == "golden"
    assert [p.name for p in tmp_path.iterdir()] == ["t.npz"]  # no temporary files left


def test_checksum_detects_tampering(tmp_path: Path) -> None:
    t = golden_table("2222")
    values = t.values.copy()
    values[10, 10] += 1
    meta = t.meta()
    np.savez(tmp_path / "bad.npz", table=values, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    with pytest.raises(TableError, match="checksum mismatch"):
        TruthTable.load(tmp_path / "bad.npz")


def test_truncated_file(tmp_path: Path) -> None:
    path = golden_table("1110").save(tmp_path / "t.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TableError, match="truncated or corrupt"):
        TruthTable.load(path)


def test_wrong_dtype_and_shape_in_file(tmp_path: Path) -> None:
    t = golden_table("1100")
    meta = t.meta()
    np.savez(tmp_path / "f.npz", table=t.values.astype(np.float32), meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    with pytest.raises(TableError, match="dtype"):
        TruthTable.load(tmp_path / "f.npz")
    np.savez(tmp_path / "s.npz", table=t.values[:128], meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8))
    with pytest.raises(TableError, match="shape"):
        TruthTable.load(tmp_path / "s.npz")
    with zipfile.ZipFile(tmp_path / "z.npz", "w") as zf:
        zf.writestr("other.npy", b"")
    with pytest.raises(TableError):
        TruthTable.load(tmp_path / "z.npz")


@pytest.mark.parametrize(
    "values, match",
    [
        (np.zeros((256, 128), np.int32), "square"),
        (np.zeros((32, 32), np.int32), "supported"),
        (np.full((256, 256), 1 << 16, np.int64), "out of range"),
        (np.full((16, 16), np.nan), "NaN"),
        (np.full((16, 16), 0.5), "non-integer"),
    ],
)
def test_bad_values(values: np.ndarray, match: str) -> None:
    with pytest.raises(TableError, match=match):
        TruthTable(values, name="bad")


def test_unknown_encoding() -> None:
    with pytest.raises(SpecError, match="unknown operand encoding"):
        TruthTable(np.zeros((16, 16), np.int32), name="x", encoding="ones-complement")


def test_save_failure_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = golden_table("1100").save(tmp_path / "t.npz")
    before = path.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(OSError):
        golden_table("2222").save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.npz"]


def test_import_npy_and_csv(tmp_path: Path) -> None:
    core = golden_table("3330", encoding="unsigned")
    np.save(tmp_path / "m.npy", core.values)
    np.savetxt(tmp_path / "m.csv", core.values, delimiter=",", fmt="%d")
    for name in ("m.npy", "m.csv"):
        t = import_array(tmp_path / name, name="evo-like")
        assert t.sha256 == core.sha256
        assert t.provenance["source"] == "import"
    np.save(tmp_path / "bad.npy", core.values[:, :200])
    with pytest.raises(TableError, match="square"):
        import_array(tmp_path / "bad.npy")


def test_twos_complement_foreign_table() -> None:
    ops = np.arange(-128, 128)
    t = TruthTable(np.outer(ops, ops), name="exact-s8", encoding="twos-complement")
    assert t.is_exact and t.metrics()["mre"] == 0.0
    assert int(t.lookup(-128, -128)) == 16384
