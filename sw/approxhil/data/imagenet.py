"""ImageNet (ILSVRC-2012) from class folders, decoded with Pillow, for users who have the images.

Layout: ``<root>/train/<wnid>/*.JPEG`` and ``<root>/val/<wnid>/*.JPEG`` (the validation images
sorted into class folders, as most ImageNet tool chains expect). Class indices follow the sorted
folder names of ``train`` (of ``val`` when there is no ``train``), which is the order torchvision's
pretrained ResNet18 uses. Preprocessing: shorter side resized to 256 (bilinear, antialiased), then
a random 224 crop and a random horizontal flip for training, the centre 224 crop otherwise; items are
uint8 [3, 224, 224] tensors and :class:`FolderBatches` normalises whole batches. Random draws come
from ``(seed, epoch, index)``, so batches do not depend on how many worker processes load them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset

from approxhil.data.batches import EpochBatches, epoch_generator
from approxhil.data.errors import DataError, DataMissingError
from approxhil.data.paths import ENV_VAR, data_dirs
from approxhil.data.transforms import IMAGENET, Normalization

IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
HOW_TO_GET = (
    "ImageNet needs a (free, non-commercial) account on image-net.org: download ILSVRC2012 train and "
    "val, sort the val images into <wnid> folders, and pass the folder holding train/ and val/ "
    f"(or put it at imagenet/ under ${ENV_VAR})"
)


@dataclass(frozen=True)
class Preprocess:
    """Shorter side to ``resize``, then a ``crop`` square: random + flip when ``augment``, else centred."""

    resize: int = 256
    crop: int = 224
    augment: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.crop <= self.resize:
            raise DataError(f"crop must be in 1..resize ({self.resize}), got {self.crop}")

    def __call__(self, image: Image.Image, rng: np.random.Generator) -> torch.Tensor:
        w, h = image.size
        if w <= h:
            size = (self.resize, int(self.resize * h / w))
        else:
            size = (int(self.resize * w / h), self.resize)
        image = image.resize(size, Image.BILINEAR)
        w, h = size
        if self.augment:
            top = int(rng.integers(0, h - self.crop + 1))
            left = int(rng.integers(0, w - self.crop + 1))
        else:
            top, left = round((h - self.crop) / 2.0), round((w - self.crop) / 2.0)
        image = image.crop((left, top, left + self.crop, top + self.crop))
        if self.augment and rng.random() < 0.5:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


def locate_imagenet(root: str | Path | None = None) -> Path:
    """The folder holding ``train/`` and/or ``val/``; :class:`DataMissingError` lists where it looked."""
    candidates = [Path(root)] if root is not None else [d / "imagenet" for d in data_dirs()]
    for candidate in candidates:
        if (candidate / "train").is_dir() or (candidate / "val").is_dir():
            return candidate
    raise DataMissingError(
        "ImageNet not found; looked for train/ or val/ class folders in: " + ", ".join(map(str, candidates)),
        fix=HOW_TO_GET,
    )


def _class_folders(split_dir: Path) -> list[str]:
    return sorted(p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def _stratified(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Indices of a seeded ``fraction`` of every class (at least one image per class), sorted."""
    rng = np.random.default_rng(seed)
    keep = []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        k = max(1, round(fraction * len(idx)))
        keep.append(rng.choice(idx, size=k, replace=False))
    return np.sort(np.concatenate(keep))


class ImageFolder(Dataset):
    """One split of an ImageNet-style folder tree; items ``(uint8 [3, crop, crop], label)``.

    ``fraction`` keeps a seeded, class-stratified part of the images (the paper retrains
    ResNet18 on 20% of the training set); ``augment`` defaults to True for ``train`` only.
    """

    def __init__(
        self,
        root: str | Path | None = None,
        split: str = "val",
        *,
        fraction: float = 1.0,
        augment: bool | None = None,
        resize: int = 256,
        crop: int = 224,
        seed: int = 0,
        classes: Sequence[str] | None = None,
    ) -> None:
        if not 0.0 < fraction <= 1.0:
            raise DataError(f"fraction must be in (0, 1], got {fraction}")
        self.root = locate_imagenet(root)
        self.split = split
        split_dir = self.root / split
        if not split_dir.is_dir():
            raise DataMissingError(f"ImageNet: no {split}/ folder in {self.root}", fix=HOW_TO_GET)
        if classes is None:
            reference = self.root / "train" if (self.root / "train").is_dir() else split_dir
            classes = _class_folders(reference)
        self.classes = tuple(classes)
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = [c for c in _class_folders(split_dir) if c not in index]
        if unknown:
            raise DataError(f"ImageNet: {split_dir} has class folders missing from the class list: {unknown[:5]}")
        samples = [
            (path, index[c])
            for c in self.classes
            if (split_dir / c).is_dir()
            for path in sorted((split_dir / c).iterdir())
            if path.suffix.lower() in IMAGE_SUFFIXES
        ]
        if not samples:
            raise DataError(f"ImageNet: no images ({'/'.join(IMAGE_SUFFIXES)}) under {split_dir}", fix=HOW_TO_GET)
        labels = np.array([label for _, label in samples], dtype=np.int64)
        keep = _stratified(labels, fraction, seed) if fraction < 1.0 else np.arange(len(samples))
        self.samples = [samples[i] for i in keep]
        self.fraction = fraction
        self.seed = seed
        self.epoch = 0
        self.preprocess = Preprocess(resize, crop, split == "train" if augment is None else augment)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> torch.Tensor:
        return torch.tensor([label for _, label in self.samples], dtype=torch.int64)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[i]
        try:
            with Image.open(path) as image:
                rgb = image.convert("RGB")
        except (UnidentifiedImageError, OSError) as exc:
            raise DataError(f"ImageNet: cannot decode {path} ({exc})") from None
        rng = np.random.default_rng([self.seed, self.epoch, i])
        return self.preprocess(rgb, rng), label


class FolderBatches(EpochBatches):
    """Seeded, normalised batches of an :class:`ImageFolder`, like :class:`approxhil.data.batches.Batches`.

    Each ``iter()`` runs epoch :attr:`epoch` (order from ``(seed, epoch)`` when ``shuffle``) through a
    ``DataLoader`` with ``num_workers`` processes, then counts the epoch up.
    """

    def __init__(
        self,
        dataset: ImageFolder,
        batch_size: int,
        normalization: Normalization = IMAGENET,
        *,
        shuffle: bool = False,
        seed: int = 0,
        num_workers: int = 0,
        drop_last: bool = False,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__(batch_size, normalization, shuffle, seed, drop_last, device if device is not None else "cpu")
        self.dataset = dataset
        self.num_workers = num_workers

    def _items(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch = self.epoch
        self.epoch += 1
        self.dataset.epoch = epoch  # workers receive a copy of the dataset with this epoch
        n = len(self.dataset)
        order = torch.randperm(n, generator=epoch_generator(self.seed, epoch)) if self.shuffle else torch.arange(n)
        loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=order.tolist(),
            num_workers=self.num_workers,
            drop_last=self.drop_last,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
        )
        return self._batches(loader)

    def _batches(self, loader: DataLoader) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for x, y in loader:
            yield self.normalization(x.to(self.device, non_blocking=True)), y.to(self.device, non_blocking=True)
