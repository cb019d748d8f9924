"""Seeded batch iteration over in-memory image sets (CIFAR-10, digits).

An in-memory set needs no worker processes: indexing a uint8 tensor and normalising on the
target device is faster than a ``DataLoader``. Epoch ``e`` of a :class:`Batches` draws its order and
its augmentation from ``(seed, e)`` only, so a run resumed at epoch ``e`` sees the same batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch

from approxhil.data.dataset import ImageSet
from approxhil.data.errors import DataError
from approxhil.data.transforms import Normalization, random_crop_flip


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator seeded from ``(seed, epoch)``, independent of any global RNG state."""
    state = np.random.SeedSequence([int(seed), int(epoch)]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


class EpochBatches:
    """What every batch iterator shares: batch size, order, normalisation, device, its length in batches
    and the epoch its next pass runs."""

    def __init__(
        self, batch_size: int, normalization: Normalization, shuffle: bool, seed: int, drop_last: bool, device: torch.device | str
    ) -> None:
        if batch_size < 1:
            raise DataError(f"batch size must be >= 1, got {batch_size}", fix="use a batch size of at least 1")
        self.batch_size = batch_size
        self.normalization = normalization
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.device = torch.device(device)
        self.epoch = 0

    def _items(self) -> int:
        raise NotImplementedError

    def __len__(self) -> int:
        n = self._items()
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration run epoch ``epoch`` (a resumed run sees the same batches)."""
        self.epoch = int(epoch)


def take_samples(batches: Iterable, samples: int) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """The first ``samples`` inputs of ``batches`` as ``(x, y)`` (``y`` None for unlabelled ``x`` batches).

    The last batch is cut to fit and no batch beyond it is drawn.
    """
    seen = 0
    if samples <= 0:
        return
    for batch in batches:
        x, y = (batch[0], batch[1] if len(batch) > 1 else None) if isinstance(batch, (tuple, list)) else (batch, None)
        x = x[: samples - seen]
        seen += x.shape[0]
        yield x, (y[: x.shape[0]] if y is not None else None)
        if seen >= samples:
            return


class Batches(EpochBatches):
    """Iterate over ``(x, y)``: x float32 normalised [B, C, H, W], y int64 [B], on ``device``.

    ``shuffle`` permutes the set each epoch, ``augment`` applies random crop (``padding`` pixels)
    and horizontal flip. ``channels_last`` hands out NHWC-strided batches (about 2-3x faster
    convolutions on CPU when the model is converted too). Each ``iter()`` runs the epoch in :attr:`epoch` and then counts it up;
    :meth:`set_epoch` positions a resumed run.
    """

    def __init__(
        self,
        images: ImageSet,
        batch_size: int,
        normalization: Normalization,
        *,
        shuffle: bool = False,
        augment: bool = False,
        padding: int = 4,
        seed: int = 0,
        drop_last: bool = False,
        device: torch.device | str | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__(batch_size, normalization, shuffle, seed, drop_last, device if device is not None else images.x.device)
        if len(images) == 0:
            raise DataError(f"image set {images.name or '(unnamed)'} is empty", fix="check the subset selection")
        self.images = images
        self.augment = augment
        self.padding = padding
        self.channels_last = channels_last

    def _items(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        generator = epoch_generator(self.seed, self.epoch)
        self.epoch += 1
        n = len(self.images)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        return self._batches(order, generator)

    def _batches(self, order: torch.Tensor, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for index in range(len(self)):
            idx = order[index * self.batch_size : (index + 1) * self.batch_size]
            x = self.images.x[idx].to(self.device, non_blocking=True)
            y = self.images.y[idx].to(self.device, non_blocking=True)
            if self.augment:
                x = random_crop_flip(x, generator, padding=self.padding)
            x = self.normalization(x)
            yield (x.contiguous(memory_format=torch.channels_last) if self.channels_last else x), y
