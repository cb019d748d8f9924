"""Data sets as uint8 NCHW image sets: CIFAR-10 (python batches, archive or npz), scikit-learn
digits (embedded), ImageNet class folders; per-model normalisation, seeded augmentation and batches."""

from approxhil.data.batches import Batches, epoch_generator
from approxhil.data.cifar10 import load_cifar10, load_cifar10_split, locate_cifar10
from approxhil.data.dataset import ImageSet, Splits
from approxhil.data.digits import load_digits
from approxhil.data.errors import DataError, DataMissingError
from approxhil.data.imagenet import FolderBatches, ImageFolder, Preprocess, locate_imagenet
from approxhil.data.paths import data_dirs
from approxhil.data.transforms import (
    CIFAR10,
    DIGITS,
    IMAGENET,
    NORMALIZATIONS,
    RAW,
    Normalization,
    get_normalization,
    random_crop_flip,
)

__all__ = [
    "CIFAR10",
    "DIGITS",
    "IMAGENET",
    "NORMALIZATIONS",
    "RAW",
    "Batches",
    "DataError",
    "DataMissingError",
    "FolderBatches",
    "ImageFolder",
    "ImageSet",
    "Normalization",
    "Preprocess",
    "Splits",
    "data_dirs",
    "epoch_generator",
    "get_normalization",
    "load_cifar10",
    "load_cifar10_split",
    "load_digits",
    "locate_cifar10",
    "locate_imagenet",
    "random_crop_flip",
]
