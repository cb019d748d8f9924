"""CIFAR-10 layouts (python batches, the tar.gz archive, the npz) read identically; clear errors."""

from __future__ import annotations

import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from approxhil.data import DataError, DataMissingError, load_cifar10, load_cifar10_split, locate_cifar10, paths
from approxhil.data.cifar10 import BATCHES, CLASSES

PER_BATCH = 3


def fake_cifar(tmp_path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write a tiny ``cifar-10-batches-py`` folder (protocol-2 pickles as in the official files), its
    tar.gz archive and the npz layout of the same images; return the images (NCHW) and labels."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    splits = {}
    for split, names in BATCHES.items():
        xs, ys = [], []
        for name in names:
            x = rng.integers(0, 256, (PER_BATCH, 3, 32, 32), dtype=np.uint8)
            y = rng.integers(0, 10, PER_BATCH).tolist()
            batch = {
                b"batch_label": name.encode(),
                b"labels": y,
                b"data": x.reshape(PER_BATCH, -1),
                b"filenames": [f"{name}_{i}.png".encode() for i in range(PER_BATCH)],
            }
            (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
            xs.append(x)
            ys += y
        splits[split] = (np.concatenate(xs), np.array(ys))
    meta = {b"label_names": [c.encode() for c in CLASSES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    with tarfile.open(tmp_path / "cifar-10-python.tar.gz", "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    npz = {"classes": np.array(CLASSES)}
    for split, (x, y) in splits.items():
        npz[f"{split}_x"] = x.transpose(0, 2, 3, 1)  # HWC
        npz[f"{split}_y"] = y.astype(np.uint8)
        npz[f"exact_mask_{split}"] = np.arange(len(y)) % 2 == 0
    (tmp_path / "npz").mkdir()
    np.savez_compressed(tmp_path / "npz" / "cifar10_uint8.npz", **npz)
    return splits


def test_all_layouts_read_the_same_images(tmp_path: Path) -> None:
    want = fake_cifar(tmp_path)
    layouts = {
        "batches": tmp_path / "cifar-10-batches-py",
        "archive": tmp_path / "cifar-10-python.tar.gz",
        "npz": tmp_path / "npz" / "cifar10_uint8.npz",
    }
    loaded = {}
    for layout, path in layouts.items():
        splits = load_cifar10(path)
        assert splits.layout == layout
        loaded[layout] = splits
        for split in ("train", "test"):
            images = getattr(splits, split)
            x, y = want[split]
            assert images.x.dtype == torch.uint8 and images.x.shape == (len(y), 3, 32, 32)
            assert images.x.is_contiguous()
            assert torch.equal(images.x, torch.from_numpy(x))
            assert torch.equal(images.y, torch.from_numpy(y).long())
            assert images.classes == CLASSES
            assert images.name == f"cifar10/{split}"
    assert bool(loaded["batches"].train.exact.all()) and bool(loaded["archive"].test.exact.all())
    assert loaded["npz"].train.exact.tolist() == [i % 2 == 0 for i in range(5 * PER_BATCH)]
    # one split alone, and folders that hold the data rather than being it
    assert torch.equal(load_cifar10_split(tmp_path, "test").x, loaded["batches"].test.x)
    assert locate_cifar10(tmp_path) == ("batches", tmp_path / "cifar-10-batches-py")
    assert locate_cifar10(tmp_path / "npz") == ("npz", tmp_path / "npz" / "cifar10_uint8.npz")


def test_subsets(tmp_path: Path) -> None:
    fake_cifar(tmp_path)
    train = load_cifar10(tmp_path / "npz").train
    exact = train.subset(exact_only=True)
    assert len(exact) == 8 and bool(exact.exact.all())
    assert torch.equal(exact.x, train.x[::2])
    first = train.subset(3, exact_only=True)
    assert torch.equal(first.y, train.y[[0, 2, 4]]) and first.name == "cifar10/train[exact][:3]"
    assert len(train.subset(jpeg_only=True)) == 7
    assert len(train.subset(100)) == len(train)
    with pytest.raises(DataError, match="exclude"):
        train.subset(exact_only=True, jpeg_only=True)


def test_missing_data_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DataMissingError) as info:
        load_cifar10(tmp_path / "nowhere")
    message = str(info.value)
    assert str(tmp_path / "nowhere" / "cifar-10-batches-py") in message
    assert "cifar-10-python.tar.gz" in message and "cifar10_uint8.npz" in message
    monkeypatch.setenv("APPROXHIL_DATA", str(tmp_path / "env"))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    with pytest.raises(DataMissingError) as info:
        load_cifar10()
    for folder in ("env", "work/data", "shared/data"):
        assert str(tmp_path / folder) in str(info.value)
    assert str(paths.data_dirs()[-1]) in str(info.value)  # the user data folder
    (tmp_path / "env").mkdir()
    fake_cifar(tmp_path / "env")
    assert load_cifar10().source == str(tmp_path / "env" / "cifar-10-batches-py")


def test_bad_files(tmp_path: Path) -> None:
    fake_cifar(tmp_path)
    folder = tmp_path / "cifar-10-batches-py"
    (folder / "data_batch_3").unlink()
    with pytest.raises(DataMissingError, match="has no data_batch_3"):
        load_cifar10(folder)
    # CIFAR-100 pickles name their labels differently
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"fine_labels": [0]}, protocol=2))
    with pytest.raises(DataError, match="CIFAR-100"):
        load_cifar10(folder)
    # a pickle that would run code is refused, not executed
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil()}, protocol=2))
    with pytest.raises(DataError, match="refusing to load"):
        load_cifar10(folder)
    assert not marker.exists()
    bad = tmp_path / "bad.npz"
    np.savez(bad, test_x=np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(DataError, match=r"lacks arrays \['test_y', 'exact_mask_test', 'classes'\]"):
        load_cifar10_split(bad, "test")
    np.savez(
        bad,
        test_x=np.zeros((2, 3, 32, 32), np.uint8),
        test_y=np.zeros(2, np.uint8),
        exact_mask_test=np.ones(2, bool),
        classes=np.array(CLASSES),
    )
    with pytest.raises(DataError, match=r"uint8 \[n, 32, 32, 3\]"):
        load_cifar10_split(bad, "test")
    np.savez(
        bad,
        test_x=np.zeros((2, 32, 32, 3), np.uint8),
        test_y=np.array([0, 10], np.uint8),
        exact_mask_test=np.ones(2, bool),
        classes=np.array(CLASSES),
    )
    with pytest.raises(DataError, match=r"labels must lie in 0\.\.9"):
        load_cifar10_split(bad, "test")
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cannot read"):
        load_cifar10_split(bad, "test")
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(DataError, match=r"neither an \.npz"):
        load_cifar10(tmp_path / "x.txt")
    with pytest.raises(DataError, match="unknown CIFAR-10 split"):
        load_cifar10_split(tmp_path, "val")


@pytest.mark.data
def test_shared_npz(shared_data: Path) -> None:
    splits = load_cifar10(shared_data)
    assert splits.layout == "npz"
    assert splits.train.x.shape == (50_000, 3, 32, 32) and splits.test.x.shape == (10_000, 3, 32, 32)
    assert int(splits.train.exact.sum()) == 5_551 and int(splits.test.exact.sum()) == 1_202
    assert splits.classes == CLASSES
    assert torch.equal(torch.bincount(splits.test.y), torch.full((10,), 1000))
    # the exact test images start with the first 1,017 of test_batch
    assert bool(splits.test.exact[:1017].all())
