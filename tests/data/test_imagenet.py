"""ImageNet class-folder loader on a tiny generated folder: classes, preprocessing, subsets, seeds, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from approxhil.data import IMAGENET, DataError, DataMissingError, FolderBatches, ImageFolder
from approxhil.models import build_model
from PIL import Image

WNIDS = ("n01440764", "n01443537", "n01484850")


def make_folder(root: Path, per_class: int = 4) -> dict[str, np.ndarray]:
    """train/ and val/ folders of random PNG and JPEG images; returns the PNG pixels by file name."""
    rng = np.random.default_rng(0)
    pixels = {}
    for split in ("train", "val"):
        for _c, wnid in enumerate(WNIDS):
            folder = root / split / wnid
            folder.mkdir(parents=True)
            for i in range(per_class):
                h, w = ((256, 320), (300, 260), (512, 640), (256, 256))[i % 4]
                array = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                name = f"{wnid}_{i}.{'png' if i % 2 == 0 else 'JPEG'}"
                Image.fromarray(array).save(folder / name)
                pixels[f"{split}/{name}"] = array
            if split == "train":
                (folder / "notes.txt").write_text("not an image")
    return pixels


def test_classes_shapes_and_center_crop(tmp_path: Path) -> None:
    pixels = make_folder(tmp_path)
    val = ImageFolder(tmp_path, "val")
    assert val.classes == WNIDS and len(val) == 12
    assert val.labels.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    x, label = val[0]  # a 256x320 PNG: no resize, the centre 224 crop is rows 16..239, columns 48..271
    assert x.dtype == torch.uint8 and x.shape == (3, 224, 224) and label == 0
    want = pixels[f"val/{WNIDS[0]}_0.png"][16:240, 48:272]
    assert torch.equal(x, torch.from_numpy(want).permute(2, 0, 1))
    assert all(val[i][0].shape == (3, 224, 224) for i in range(len(val)))
    assert torch.equal(val[0][0], val[0][0])  # evaluation preprocessing has no randomness


def is_window(image: torch.Tensor, crop: torch.Tensor) -> bool:
    """Whether ``crop`` [C, k, k] equals some k x k window of ``image`` [C, H, W]."""
    k = crop.shape[-1]
    rows = image.unfold(2, k, 1)[:, : image.shape[1] - k + 1]  # [C, dy, dx, k]: first rows of every window
    for dy, dx in (rows == crop[:, 0, None, None, :]).all(-1).all(0).nonzero().tolist():
        if torch.equal(image[:, dy : dy + k, dx : dx + k], crop):
            return True
    return False


def test_train_augmentation_seeded(tmp_path: Path) -> None:
    pixels = make_folder(tmp_path)
    train = ImageFolder(tmp_path, "train", seed=5)
    assert train.preprocess.augment and len(train) == 12  # notes.txt is skipped
    first = train[0][0]
    assert not is_window(torch.zeros(3, 256, 320, dtype=torch.uint8), first)
    assert torch.equal(first, ImageFolder(tmp_path, "train", seed=5)[0][0])
    image = torch.from_numpy(pixels[f"train/{WNIDS[0]}_0.png"]).permute(2, 0, 1)
    crops = []
    for epoch in range(6):
        train.epoch = epoch
        crop = train[0][0]
        crops.append(crop)
        assert is_window(image, crop) or is_window(image, crop.flip(-1)), "not a (flipped) 224 window"
    assert len({bytes(c.numpy()) for c in crops}) > 1  # epochs draw different crops


def test_fraction_is_stratified_and_seeded(tmp_path: Path) -> None:
    make_folder(tmp_path, per_class=6)
    part = ImageFolder(tmp_path, "train", fraction=0.5, seed=0)
    assert torch.bincount(part.labels).tolist() == [3, 3, 3]
    again = ImageFolder(tmp_path, "train", fraction=0.5, seed=0)
    assert part.samples == again.samples
    others = [ImageFolder(tmp_path, "train", fraction=0.5, seed=s).samples for s in range(1, 6)]
    assert any(o != part.samples for o in others)
    assert len(ImageFolder(tmp_path, "train", fraction=0.01)) == 3  # at least one image per class


def test_batches_independent_of_workers(tmp_path: Path) -> None:
    make_folder(tmp_path)
    train = ImageFolder(tmp_path, "train", seed=1)
    runs = []
    for workers in (0, 2):
        batches = FolderBatches(train, 5, shuffle=True, seed=3, num_workers=workers)
        runs.append([tuple(t.clone() for t in b) for b in batches])
    assert len(runs[0]) == 3
    for (xa, ya), (xb, yb) in zip(*runs):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    x, _y = runs[0][0]
    assert x.dtype == torch.float32 and x.shape == (5, 3, 224, 224)
    assert abs(float(x.mean())) < 0.5  # ImageNet normalisation of uniform noise: centred near 0
    model = build_model("resnet18", num_classes=len(WNIDS)).eval()
    with torch.no_grad():
        assert model(x[:2]).shape == (2, 3)
    assert FolderBatches(train, 5).normalization is IMAGENET


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(DataMissingError, match=r"looked for train/ or val/ .*image-net\.org"):
        ImageFolder(tmp_path / "none", "val")
    make_folder(tmp_path, per_class=1)
    with pytest.raises(DataMissingError, match="no test/ folder"):
        ImageFolder(tmp_path, "test")
    (tmp_path / "val" / "n99999999").mkdir()
    with pytest.raises(DataError, match="n99999999"):
        ImageFolder(tmp_path, "val")
    (tmp_path / "val" / "n99999999").rmdir()
    with pytest.raises(DataError, match="fraction"):
        ImageFolder(tmp_path, "val", fraction=0)
    with pytest.raises(DataError, match="crop"):
        ImageFolder(tmp_path, "val", resize=200, crop=224)
    broken = tmp_path / "val" / WNIDS[0] / f"{WNIDS[0]}_0.png"
    broken.write_bytes(b"\x89PNG truncated")
    with pytest.raises(DataError, match=f"cannot decode {broken}"):
        ImageFolder(tmp_path, "val")[0]
    empty = tmp_path / "empty"
    (empty / "val" / "n1").mkdir(parents=True)
    with pytest.raises(DataError, match="no images"):
        ImageFolder(empty, "val")
