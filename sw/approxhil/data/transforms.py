"""Batch transforms on uint8 images: per-model normalisation and seeded crop + flip augmentation.

Everything works on whole NCHW batches with torch ops (no per-image Python loop), on any device.
Augmentation runs on raw pixels before normalisation, so padding is black as in the usual
``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip`` recipe.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from approxhil.data.errors import DataError


@dataclass(frozen=True)
class Normalization:
    """``(x - mean) / std`` per channel, on the raw pixel scale (0-255 for RGB images).

    ``name`` is what reports and checkpoints record; a one-element ``mean``/``std`` applies to every channel.
    """

    name: str
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.mean) != len(self.std) or not self.mean or any(s <= 0 for s in self.std):
            raise DataError(f"normalisation {self.name!r}: mean and std need equal lengths and std > 0")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Float32 normalised copy of a uint8 (or float, raw-scale) batch [N, C, H, W]."""
        channels = x.shape[1]
        if len(self.mean) not in (1, channels):
            raise DataError(f"normalisation {self.name!r} has {len(self.mean)} channels, the images {channels}")
        mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=x.device).view(1, -1, 1, 1)
        return (x.to(torch.float32) - mean) / std


# Raw 0-255 values: what the Keras ResNet8 reference model was trained on.
RAW = Normalization("raw-0-255", (0.0,), (1.0,))
# Per-channel CIFAR-10 training-set statistics (the usual published values), on the 0-255 scale.
CIFAR10 = Normalization(
    "cifar10-mean-std",
    (0.4914 * 255, 0.4822 * 255, 0.4465 * 255),
    (0.2470 * 255, 0.2435 * 255, 0.2616 * 255),
)
# ImageNet statistics used by torchvision's pretrained models, on the 0-255 scale.
IMAGENET = Normalization(
    "imagenet-mean-std",
    (0.485 * 255, 0.456 * 255, 0.406 * 255),
    (0.229 * 255, 0.224 * 255, 0.225 * 255),
)
# scikit-learn digits hold 0..16 per pixel: scale to 0..1.
DIGITS = Normalization("digits-0-16", (0.0,), (16.0,))

NORMALIZATIONS = {n.name: n for n in (RAW, CIFAR10, IMAGENET, DIGITS)}


def get_normalization(name: str) -> Normalization:
    """The normalisation recorded under ``name`` (as written in reports and checkpoints)."""
    try:
        return NORMALIZATIONS[name]
    except KeyError:
        raise DataError(f"unknown normalisation {name!r}", fix=f"use one of {sorted(NORMALIZATIONS)}") from None


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, padding: int = 4, flip: bool = True) -> torch.Tensor:
    """Random ``H x W`` crops of the zero-padded batch and random horizontal flips, one per image.

    The draws come from ``generator`` only (a CPU generator), so the same seed gives the same
    batch on every device. Returns a new tensor of the input's dtype and device.
    """
    if x.dim() != 4:
        raise DataError(f"augmentation expects a batch [N, C, H, W], got shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5 if flip else torch.zeros(n, dtype=torch.bool)
    offsets, flips = offsets.to(x.device), flips.to(x.device)
    padded = F.pad(x, (padding, padding, padding, padding)) if padding else x
    rows = offsets[0, :, None] + torch.arange(h, device=x.device)  # [N, H]
    cols = torch.arange(w, device=x.device).expand(n, w)
    cols = torch.where(flips[:, None], cols.flip(1), cols) + offsets[1, :, None]  # [N, W]
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]
