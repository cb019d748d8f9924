"""In-memory image sets: uint8 NCHW images, labels and an exact-pixel mask, with subset selection."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass

import torch

from approxhil.data.errors import DataError


@dataclass(frozen=True)
class ImageSet:
    """One split of a data set held in memory.

    ``x``: uint8 [N, C, H, W] raw pixels; ``y``: int64 [N] labels; ``exact``: bool [N], True where
    the pixels are the original bytes (False for images that went through lossy re-encoding);
    ``classes``: class names in label order; ``name``: e.g. ``"cifar10/test"`` for messages and reports.
    """

    x: torch.Tensor
    y: torch.Tensor
    exact: torch.Tensor
    classes: tuple[str, ...]
    name: str = ""

    def __post_init__(self) -> None:
        n = self.x.shape[0] if self.x.dim() == 4 else -1
        problems = []
        if self.x.dtype != torch.uint8 or self.x.dim() != 4:
            problems.append(f"images must be uint8 [N, C, H, W], got {self.x.dtype} {tuple(self.x.shape)}")
        if self.y.dtype != torch.int64 or tuple(self.y.shape) != (n,):
            problems.append(f"labels must be int64 [{n}], got {self.y.dtype} {tuple(self.y.shape)}")
        if self.exact.dtype != torch.bool or tuple(self.exact.shape) != (n,):
            problems.append(f"exact mask must be bool [{n}], got {self.exact.dtype} {tuple(self.exact.shape)}")
        if not problems and n and (int(self.y.min()) < 0 or int(self.y.max()) >= len(self.classes)):
            problems.append(f"labels must lie in 0..{len(self.classes) - 1}, got {int(self.y.min())}..{int(self.y.max())}")
        if problems:
            raise DataError(f"image set {self.name or '(unnamed)'}: " + "; ".join(problems))

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def to(self, device: torch.device | str) -> ImageSet:
        """The same set with its tensors on ``device`` (e.g. a whole CIFAR-10 split on a GPU: 150 MB)."""
        return ImageSet(self.x.to(device), self.y.to(device), self.exact.to(device), self.classes, self.name)

    def select(self, indices: torch.Tensor, tag: str) -> ImageSet:
        """The images at ``indices`` (an index or bool tensor), named ``<name>[tag]``."""
        return ImageSet(self.x[indices], self.y[indices], self.exact[indices], self.classes, f"{self.name}[{tag}]")

    def subset(self, n: int | None = None, exact_only: bool = False, jpeg_only: bool = False) -> ImageSet:
        """First ``n`` images (in stored order), optionally only the exact (or only the re-encoded) ones.

        Filtering comes first: ``subset(100, exact_only=True)`` gives the first 100 exact images.
        """
        if exact_only and jpeg_only:
            raise DataError("subset: exact_only and jpeg_only exclude each other")
        if n is not None and n < 0:
            raise DataError(f"subset: n must be >= 0, got {n}")
        result = self
        if exact_only:
            result = result.select(result.exact, "exact")
        elif jpeg_only:
            result = result.select(~result.exact, "lossy")
        if n is not None and n < len(result):
            result = result.select(torch.arange(n), f":{n}")
        return result


@dataclass(frozen=True)
class Splits:
    """A data set's training and test splits plus where they came from (``source``, ``layout``)."""

    train: ImageSet
    test: ImageSet
    source: str
    layout: str

    @property
    def classes(self) -> tuple[str, ...]:
        return self.test.classes

    @functools.cached_property
    def fingerprint(self) -> str:
        """sha256 over both splits' pixels, labels and exact masks: identifies the data a result came from
        (computed once per loaded data set; CIFAR-10 takes a fraction of a second)."""
        digest = hashlib.sha256()
        for images in (self.train, self.test):
            for tensor in (images.x, images.y, images.exact):
                digest.update(str(tuple(tensor.shape)).encode())
                digest.update(tensor.contiguous().cpu().numpy().tobytes())
        return digest.hexdigest()
