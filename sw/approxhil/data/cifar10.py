"""CIFAR-10 from any of the layouts users have, as uint8 NCHW image sets.

Layouts, detected from the path:
- ``cifar-10-batches-py/``: the official python version (pickles ``data_batch_1..5``, ``test_batch``,
  ``batches.meta``), or a folder that holds it;
- ``cifar-10-python.tar.gz``: the official archive itself (read without unpacking), or a folder that holds it;
- ``cifar10_uint8.npz``: arrays ``train_x``/``test_x`` (HWC uint8), ``train_y``/``test_y``,
  ``exact_mask_train``/``exact_mask_test`` (True where pixels are the original bytes) and
  ``classes``; or a folder that holds it.
All layouts give the same tensors for the same images; the pickles and the archive hold only
original pixels, so their exact masks are all True.
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from approxhil.data.dataset import ImageSet, Splits
from approxhil.data.errors import DataError, DataMissingError
from approxhil.data.paths import ENV_VAR, data_dirs

try:  # numpy >= 2 moved the pickle helper; files written by numpy 1 name the old module.
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - numpy 1
    from numpy.core.multiarray import _reconstruct

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SPLITS = ("train", "test")
BATCHES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
BATCH_DIR = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
NPZ = "cifar10_uint8.npz"
NPZ_KEYS = {"train": ("train_x", "train_y", "exact_mask_train"), "test": ("test_x", "test_y", "exact_mask_test")}
HOW_TO_GET = (
    f"download the python version of CIFAR-10 ({ARCHIVE}, from the CIFAR-10 page of the University of "
    f"Toronto) and pass the archive or the unpacked {BATCH_DIR}/ folder, or set {ENV_VAR} to its folder"
)

# Only what a pickled numpy array and a Python 2 byte string need: nothing that can run code.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): __import__("codecs").encode,
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file") from None


def _unpickle(data: bytes, what: str) -> dict:
    try:
        obj = _ArrayUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise DataError(f"{what}: not a CIFAR-10 python batch ({exc})", fix=HOW_TO_GET) from None
    if not isinstance(obj, dict):
        raise DataError(f"{what}: expected a pickled dict, got {type(obj).__name__}", fix=HOW_TO_GET)
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _batch_arrays(data: bytes, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Images [n, 3, 32, 32] uint8 and labels [n] of one pickled batch."""
    batch = _unpickle(data, what)
    if "labels" not in batch:
        hint = " (this looks like CIFAR-100)" if "fine_labels" in batch else ""
        raise DataError(f"{what}: no 'labels' entry{hint}; keys: {sorted(batch)}", fix=HOW_TO_GET)
    x = np.asarray(batch.get("data"))
    y = np.asarray(batch["labels"], dtype=np.int64)
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3 * 32 * 32 or x.shape[0] != y.shape[0]:
        raise DataError(
            f"{what}: expected 'data' uint8 [n, 3072] and n labels, got {x.dtype} {x.shape} and {y.shape[0]} labels",
            fix=HOW_TO_GET,
        )
    return x.reshape(-1, 3, 32, 32), y  # rows hold the R, G, B planes in turn: CHW order


def _classes_from_meta(data: bytes | None, what: str) -> tuple[str, ...]:
    if data is None:
        return CLASSES
    names = _unpickle(data, what).get("label_names")
    if names is None:
        raise DataError(f"{what}: no 'label_names' entry", fix=HOW_TO_GET)
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)


def _image_set(x: np.ndarray, y: np.ndarray, exact: np.ndarray, classes: tuple[str, ...], name: str) -> ImageSet:
    return ImageSet(
        torch.from_numpy(np.ascontiguousarray(x)),
        torch.from_numpy(y.astype(np.int64)),
        torch.from_numpy(exact.astype(bool)),
        classes,
        name,
    )


def _read_batches(read: Callable[[str], bytes | None], where: str, split: str) -> ImageSet:
    """A split from batch files; ``read(name)`` returns a file's bytes or None when it is absent."""
    parts = []
    for name in BATCHES[split]:
        data = read(name)
        if data is None:
            raise DataMissingError(f"CIFAR-10: {where} has no {name}", fix=HOW_TO_GET)
        parts.append(_batch_arrays(data, f"{where}/{name}"))
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    classes = _classes_from_meta(read("batches.meta"), f"{where}/batches.meta")
    return _image_set(x, y, np.ones(len(y), dtype=bool), classes, f"cifar10/{split}")


def _read_folder(folder: Path, splits: tuple[str, ...]) -> dict[str, ImageSet]:
    def read(name: str) -> bytes | None:
        path = folder / name
        return path.read_bytes() if path.is_file() else None

    return {split: _read_batches(read, str(folder), split) for split in splits}


def _read_archive(archive: Path, splits: tuple[str, ...]) -> dict[str, ImageSet]:
    """Batches straight from the tar archive, in one sequential pass over it."""
    wanted = {name for split in splits for name in BATCHES[split]} | {"batches.meta"}
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = Path(member.name).name
                if member.isfile() and name in wanted:
                    files[name] = tar.extractfile(member).read()  # type: ignore[union-attr]
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise DataError(f"CIFAR-10: cannot read the archive {archive} ({exc})", fix=HOW_TO_GET) from None
    return {split: _read_batches(files.get, str(archive), split) for split in splits}


def _read_npz(path: Path, splits: tuple[str, ...]) -> dict[str, ImageSet]:
    return {split: _read_npz_split(path, split) for split in splits}


def _read_npz_split(path: Path, split: str) -> ImageSet:
    broken = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
    try:
        npz = np.load(path, allow_pickle=False)
    except broken as exc:
        raise DataError(f"CIFAR-10: cannot read {path} ({exc})") from None
    with npz:
        missing = [k for k in (*NPZ_KEYS[split], "classes") if k not in npz.files]
        if missing:
            raise DataError(f"CIFAR-10: {path} lacks arrays {missing}; it holds {sorted(npz.files)}")
        try:
            x, y, exact = (npz[k] for k in NPZ_KEYS[split])
            classes = tuple(str(c) for c in npz["classes"])
        except broken as exc:
            raise DataError(f"CIFAR-10: {path} is corrupt ({exc})") from None
    n = len(y)
    if x.dtype != np.uint8 or x.shape != (n, 32, 32, 3) or exact.shape != (n,) or exact.dtype != bool:
        raise DataError(
            f"CIFAR-10: {path}: {split} arrays must be uint8 [n, 32, 32, 3] images, n labels and a bool mask; "
            f"got {x.dtype} {x.shape}, {y.shape}, {exact.dtype} {exact.shape}"
        )
    return _image_set(x.transpose(0, 3, 1, 2), y, exact, classes, f"cifar10/{split}")


def locate_cifar10(path: str | Path | None = None) -> tuple[str, Path]:
    """Find CIFAR-10 at ``path`` (or the default data folders): ``(layout, location)``.

    ``layout`` is ``"batches"``, ``"archive"`` or ``"npz"``. Raises :class:`DataMissingError`
    listing every place looked at.
    """
    candidates = [Path(path)] if path is not None else data_dirs()
    looked: list[str] = []
    for candidate in candidates:
        if candidate.is_file():
            if candidate.suffix == ".npz":
                return "npz", candidate
            if candidate.name.endswith((".tar.gz", ".tgz", ".tar")):
                return "archive", candidate
            raise DataError(f"CIFAR-10: {candidate} is neither an .npz file nor a .tar.gz archive", fix=HOW_TO_GET)
        for layout, location in (
            ("batches", candidate),
            ("batches", candidate / BATCH_DIR),
            ("npz", candidate / NPZ),
            ("archive", candidate / ARCHIVE),
        ):
            looked.append(str(location))
            if layout == "batches" and (location / "test_batch").is_file():
                return layout, location
            if layout != "batches" and location.is_file():
                return layout, location
    raise DataMissingError(
        f"CIFAR-10 not found; looked for a batches folder, {ARCHIVE} or {NPZ} at: " + ", ".join(dict.fromkeys(looked)),
        fix=HOW_TO_GET,
    )


_READERS = {"batches": _read_folder, "archive": _read_archive, "npz": _read_npz}


def load_cifar10_split(path: str | Path | None = None, split: str = "test") -> ImageSet:
    """One split (``"train"`` or ``"test"``) of CIFAR-10 from whatever layout ``path`` holds."""
    if split not in SPLITS:
        raise DataError(f"unknown CIFAR-10 split {split!r}", fix=f"use one of {SPLITS}")
    layout, location = locate_cifar10(path)
    return _READERS[layout](location, (split,))[split]


def load_cifar10(path: str | Path | None = None) -> Splits:
    """Both CIFAR-10 splits (50,000 training and 10,000 test images) from whatever layout ``path`` holds."""
    layout, location = locate_cifar10(path)
    sets = _READERS[layout](location, SPLITS)
    return Splits(sets["train"], sets["test"], str(location), layout)
