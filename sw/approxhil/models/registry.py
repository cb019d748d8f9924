"""The networks by name: ``build_model("resnet8")``, with what each expects (data set, input, normalisation)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from approxhil.data.transforms import CIFAR10, DIGITS, IMAGENET, RAW, Normalization
from approxhil.models.allcnn import AllCNN
from approxhil.models.digits import DigitsCNN
from approxhil.models.errors import ModelError
from approxhil.models.resnet18 import ResNet18
from approxhil.models.resnet_cifar import ResNet8, ResNet14


@dataclass(frozen=True)
class ModelInfo:
    """A registered network: builder, data set, per-image input shape, default classes, input
    normalisation, and the MAC count the paper's Table 4 gives (None where the paper has none)."""

    name: str
    builder: Callable[..., nn.Module]
    dataset: str
    input_shape: tuple[int, int, int]
    num_classes: int
    normalization: Normalization
    paper_macs: float | None
    description: str


MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in (
        ModelInfo(
            "resnet8",
            ResNet8,
            "cifar10",
            (3, 32, 32),
            10,
            RAW,
            12e6,
            "MLPerf Tiny ResNet-8 (Keras reference weights load with load_keras_resnet8)",
        ),
        ModelInfo("resnet14", ResNet14, "cifar10", (3, 32, 32), 10, CIFAR10, 27e6, "ResNet-8 family, two blocks per stage"),
        ModelInfo("allcnn", AllCNN, "cifar10", (3, 32, 32), 10, CIFAR10, 281e6, "ALL-CNN-C (Springenberg et al. 2015) with BatchNorm"),
        ModelInfo(
            "resnet18",
            ResNet18,
            "imagenet",
            (3, 224, 224),
            1000,
            IMAGENET,
            1826e6,
            "ResNet18, torchvision architecture and parameter names",
        ),
        ModelInfo("digits_cnn", DigitsCNN, "digits", (1, 8, 8), 10, DIGITS, None, "small CNN for scikit-learn's 8x8 digits (demo)"),
    )
}


def model_info(name: str) -> ModelInfo:
    """The registry entry for ``name``; :class:`ModelError` lists the known names."""
    try:
        return MODELS[name.lower()]
    except (KeyError, AttributeError):
        raise ModelError(f"unknown network {name!r}", fix=f"use one of {', '.join(MODELS)}") from None


def build_model(name: str, num_classes: int | None = None, **kwargs: Any) -> nn.Module:
    """A freshly initialised network ``name`` with ``num_classes`` outputs (default: its data set's)."""
    info = model_info(name)
    classes = info.num_classes if num_classes is None else int(num_classes)
    if classes < 1:
        raise ModelError(f"num_classes must be >= 1, got {num_classes}")
    try:
        return info.builder(num_classes=classes, **kwargs)
    except TypeError as exc:
        raise ModelError(f"{name}: bad option ({exc})") from None
