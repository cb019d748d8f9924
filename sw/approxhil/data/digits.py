"""scikit-learn's handwritten digits (1,797 images of 8x8 pixels, values 0..16): the embedded demo data set.

It ships inside scikit-learn, so the whole pipeline runs without downloading anything. The split is
fixed: stratified, 25% test, ``random_state=0`` (1,347 training and 450 test images).
"""

from __future__ import annotations

import numpy as np
import torch

from approxhil.data.dataset import ImageSet, Splits

CLASSES = tuple(str(d) for d in range(10))
TEST_FRACTION = 0.25
SPLIT_SEED = 0


def load_digits() -> Splits:
    """The digits as uint8 [N, 1, 8, 8] images (0..16) with the fixed stratified train/test split."""
    from sklearn.datasets import load_digits as _sklearn_digits  # scikit-learn takes a second to import
    from sklearn.model_selection import train_test_split

    bunch = _sklearn_digits()
    images = bunch.images.astype(np.uint8)[:, None]  # float 0..16 in the bunch, integral values
    labels = bunch.target.astype(np.int64)
    index = np.arange(len(labels))
    train_idx, test_idx = train_test_split(index, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=labels)
    train_idx.sort()
    test_idx.sort()

    def part(idx: np.ndarray, split: str) -> ImageSet:
        return ImageSet(
            torch.from_numpy(np.ascontiguousarray(images[idx])),
            torch.from_numpy(labels[idx]),
            torch.ones(len(idx), dtype=torch.bool),
            CLASSES,
            f"digits/{split}",
        )

    return Splits(part(train_idx, "train"), part(test_idx, "test"), "sklearn.datasets.load_digits", "sklearn")
