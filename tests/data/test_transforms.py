"""Normalisation, seeded crop + flip augmentation, and seeded batch iteration."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from approxhil.data import (
    CIFAR10,
    RAW,
    Batches,
    DataError,
    ImageSet,
    Normalization,
    get_normalization,
    random_crop_flip,
)


def image_set(n: int = 20, seed: int = 0) -> ImageSet:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8)
    return ImageSet(x, torch.arange(n) % 10, torch.arange(n) % 3 == 0, tuple("abcdefghij"), "toy")


def test_normalizations() -> None:
    x = torch.tensor([[[[0, 255]], [[128, 128]], [[10, 20]]]], dtype=torch.uint8)
    assert torch.equal(RAW(x), x.float())
    y = CIFAR10(x)
    assert y.dtype == torch.float32
    assert torch.allclose(y[0, 0, 0], (torch.tensor([0.0, 1.0]) - 0.4914) / 0.2470)
    assert get_normalization("cifar10-mean-std") is CIFAR10
    with pytest.raises(DataError, match="unknown normalisation"):
        get_normalization("zscore")
    with pytest.raises(DataError, match="3 channels, the images 1"):
        CIFAR10(torch.zeros(1, 1, 2, 2, dtype=torch.uint8))
    with pytest.raises(DataError, match="std > 0"):
        Normalization("bad", (0.0,), (0.0,))


def test_crop_flip_is_a_shifted_window_of_the_padded_image() -> None:
    x = image_set().x
    out = random_crop_flip(x, torch.Generator().manual_seed(3), padding=4)
    assert out.shape == x.shape and out.dtype == torch.uint8
    padded = F.pad(x, (4, 4, 4, 4))
    flips = 0
    for i in range(len(x)):
        windows = {
            (dy, dx, f)
            for dy in range(9)
            for dx in range(9)
            for f in (False, True)
            if torch.equal(out[i], (lambda w: w.flip(-1) if f else w)(padded[i, :, dy : dy + 8, dx : dx + 8]))
        }
        assert windows, f"image {i} is no crop of its padded input"
        flips += all(f for _, _, f in windows)
    assert 0 < flips < len(x)  # both flipped and unflipped images occur


def test_augmentation_is_deterministic_per_seed() -> None:
    x = image_set(64).x
    a = random_crop_flip(x, torch.Generator().manual_seed(7))
    b = random_crop_flip(x, torch.Generator().manual_seed(7))
    c = random_crop_flip(x, torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert torch.equal(random_crop_flip(x, torch.Generator(), padding=0, flip=False), x)
    with pytest.raises(DataError, match="batch"):
        random_crop_flip(x[0], torch.Generator())


def collect(batches: Batches) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*batches)
    return torch.cat(xs), torch.cat(ys)


def test_batches_seeded_and_resumable() -> None:
    images = image_set(20)
    plain = Batches(images, 6, RAW)
    assert len(plain) == 4
    x, y = collect(plain)
    assert torch.equal(x, images.x.float()) and torch.equal(y, images.y)  # unshuffled: stored order

    run = Batches(images, 6, RAW, shuffle=True, augment=True, seed=1)
    epoch0, epoch1 = collect(run), collect(run)
    assert run.epoch == 2
    assert sorted(epoch0[1].tolist()) == sorted(images.y.tolist())  # a permutation of the whole set
    assert not torch.equal(epoch0[1], epoch1[1])
    again = Batches(images, 6, RAW, shuffle=True, augment=True, seed=1)
    again.set_epoch(1)
    assert all(torch.equal(a, b) for a, b in zip(collect(again), epoch1))  # a resumed run sees the same batches
    other = Batches(images, 6, RAW, shuffle=True, augment=True, seed=2)
    assert not torch.equal(collect(other)[0], epoch0[0])

    dropped = Batches(images, 6, RAW, drop_last=True)
    assert len(dropped) == 3 and sum(len(y) for _, y in dropped) == 18
    fast = next(iter(Batches(images, 4, RAW, channels_last=True)))[0]
    assert fast.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(DataError, match="batch size"):
        Batches(images, 0, RAW)
    with pytest.raises(DataError, match="empty"):
        Batches(images.subset(0), 4, RAW)


def test_image_set_validation() -> None:
    moved = image_set().to("cpu")
    assert torch.equal(moved.x, image_set().x) and moved.name == "toy"
    with pytest.raises(DataError, match="uint8"):
        ImageSet(torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=torch.long), torch.ones(2, dtype=torch.bool), ("a",))
    with pytest.raises(DataError, match="labels must be int64"):
        ImageSet(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(3, dtype=torch.long), torch.ones(2, dtype=torch.bool), ("a",))
