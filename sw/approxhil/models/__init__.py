"""Networks (ResNet8/14 for CIFAR-10, ALL-CNN-C, ResNet18 for ImageNet, a digits CNN), the
registry, MAC counts, fingerprints and the Keras ResNet-8 weight import.

Every network is a plain ``nn.Module`` of ``nn.Conv2d``/``nn.Linear``/BatchNorm/ReLU/pooling, so
``approxhil.nn.approximate`` can swap its multiplying layers; none quantizes on its own.
"""

from approxhil.models.allcnn import AllCNN
from approxhil.models.digits import DigitsCNN
from approxhil.models.errors import ModelError
from approxhil.models.fingerprint import architecture, check_fingerprint, model_fingerprint, model_signature
from approxhil.models.keras_import import KERAS_RESNET8, load_keras_resnet8
from approxhil.models.macs import count_macs
from approxhil.models.registry import MODELS, ModelInfo, build_model, model_info
from approxhil.models.resnet18 import ResNet18
from approxhil.models.resnet_cifar import CifarResNet, ResNet8, ResNet14

__all__ = [
    "KERAS_RESNET8",
    "MODELS",
    "AllCNN",
    "CifarResNet",
    "DigitsCNN",
    "ModelError",
    "ModelInfo",
    "ResNet8",
    "ResNet14",
    "ResNet18",
    "architecture",
    "build_model",
    "check_fingerprint",
    "count_macs",
    "load_keras_resnet8",
    "model_fingerprint",
    "model_info",
    "model_signature",
]
