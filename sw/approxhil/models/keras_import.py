"""Import the MLPerf Tiny ResNet-8 reference weights (Keras 2 ``.h5``) into :class:`ResNet8`.

Every weight tensor in the file maps to exactly one entry of the PyTorch state_dict: convolution
kernels HWIO -> OIHW, dense kernels (in, out) -> (out, in), BatchNorm gamma/beta/moving mean/
moving variance -> weight/bias/running_mean/running_var. The import fails, naming the tensors, when
the file has a tensor the network does not use, lacks one it needs, or holds another shape; and,
where the file stores its Keras model config, when a layer's stride, padding or BatchNorm epsilon
differs from the network's. Reads full-model files (``model_weights/...``) and weights-only files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from approxhil.models.errors import ModelError
from approxhil.models.resnet_cifar import BN_EPS, ResNet8

# Keras layer name -> ResNet8 module name, in the order of the reference model's graph.
KERAS_RESNET8 = {
    "conv2d": "conv1",
    "batch_normalization": "bn1",
    "conv2d_1": "layer1.0.conv1",
    "batch_normalization_1": "layer1.0.bn1",
    "conv2d_2": "layer1.0.conv2",
    "batch_normalization_2": "layer1.0.bn2",
    "conv2d_3": "layer2.0.conv1",
    "batch_normalization_3": "layer2.0.bn1",
    "conv2d_4": "layer2.0.conv2",
    "batch_normalization_4": "layer2.0.bn2",
    "conv2d_5": "layer2.0.shortcut",
    "conv2d_6": "layer3.0.conv1",
    "batch_normalization_5": "layer3.0.bn1",
    "conv2d_7": "layer3.0.conv2",
    "batch_normalization_6": "layer3.0.bn2",
    "conv2d_8": "layer3.0.shortcut",
    "dense": "fc",
}
# Keras weight name -> PyTorch parameter/buffer name, per layer kind.
TENSOR_NAMES = {
    nn.Conv2d: {"kernel": "weight", "bias": "bias"},
    nn.Linear: {"kernel": "weight", "bias": "bias"},
    nn.BatchNorm2d: {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"},
}
FIX = "pass the MLPerf Tiny image-classification ResNet-8 (pretrainedResnet.h5 of mlcommons/tiny)"


def _to_torch_layout(module: nn.Module, keras_name: str, value: np.ndarray) -> np.ndarray:
    if keras_name != "kernel":
        return value
    if isinstance(module, nn.Conv2d):
        return value.transpose(3, 2, 0, 1) if value.ndim == 4 else value  # HWIO -> OIHW
    return value.T if value.ndim == 2 else value  # dense (in, out) -> (out, in)


def read_h5_tensors(path: str | Path) -> tuple[dict[tuple[str, str], np.ndarray], dict | None]:
    """All weight tensors of a Keras ``.h5`` as ``{(layer, weight): array}``, and the model config if stored."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"Keras weight file {path} not found", fix=FIX)
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise ModelError(f"{path} is not an HDF5 (Keras .h5) file ({exc})", fix=FIX) from None
    tensors: dict[tuple[str, str], np.ndarray] = {}
    with h5:
        root = h5.get("model_weights", h5)

        def visit(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                parts = name.split("/")
                key = (parts[0], parts[-1].split(":")[0])
                if key in tensors:
                    raise ModelError(f"{path}: layer {key[0]} holds two tensors named {key[1]}", fix=FIX)
                tensors[key] = np.asarray(obj[()])

        root.visititems(visit)
        config = h5.attrs.get("model_config")
    if config is not None:
        config = json.loads(config.decode() if isinstance(config, bytes) else config)
    return tensors, config


def _check_config(model: ResNet8, config: dict, path: Path) -> None:
    """Strides, padding and BatchNorm epsilon of every mapped layer in the stored Keras config."""
    modules = dict(model.named_modules())
    problems = []
    for layer in config.get("config", {}).get("layers", []):
        name, cfg = layer.get("name"), layer.get("config", {})
        if name not in KERAS_RESNET8:
            continue
        module = modules[KERAS_RESNET8[name]]
        if isinstance(module, nn.Conv2d):
            if tuple(cfg.get("strides", (1, 1))) != tuple(module.stride):
                problems.append(f"{name}: stride {cfg.get('strides')} (network: {list(module.stride)})")
            if cfg.get("padding", "same") != "same":
                problems.append(f"{name}: padding {cfg.get('padding')!r} (network: 'same')")
        elif isinstance(module, nn.BatchNorm2d) and abs(float(cfg.get("epsilon", BN_EPS)) - BN_EPS) > 1e-12:
            problems.append(f"{name}: BatchNorm epsilon {cfg.get('epsilon')} (network: {BN_EPS})")
    if problems:
        raise ModelError(f"{path} is not the ResNet-8 this network implements: " + "; ".join(problems), fix=FIX)


def load_keras_resnet8(h5_path: str | Path, num_classes: int = 10) -> ResNet8:
    """A :class:`ResNet8` in eval mode holding the weights of the Keras reference model at ``h5_path``."""
    path = Path(h5_path)
    tensors, config = read_h5_tensors(path)
    model = ResNet8(num_classes=num_classes)
    if config is not None:
        _check_config(model, config, path)
    modules = dict(model.named_modules())
    state = model.state_dict()
    assigned: dict[str, tuple[str, str]] = {}
    unused, wrong = [], []
    for (layer, weight), value in sorted(tensors.items()):
        target = KERAS_RESNET8.get(layer)
        names = TENSOR_NAMES.get(type(modules[target])) if target is not None else None
        if names is None or weight not in names:
            unused.append(f"{layer}/{weight} {tuple(value.shape)}")
            continue
        key = f"{target}.{names[weight]}"
        array = _to_torch_layout(modules[target], weight, value)
        if tuple(array.shape) != tuple(state[key].shape):
            wrong.append(f"{layer}/{weight}: {tuple(value.shape)} does not fit {key} {tuple(state[key].shape)}")
            continue
        if key in assigned:  # cannot happen with an injective mapping; guards edits to the tables above
            raise ModelError(f"{path}: {layer}/{weight} and {'/'.join(assigned[key])} both map to {key}")
        assigned[key] = (layer, weight)
        state[key] = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
    missing = [k for k in state if k not in assigned and not k.endswith("num_batches_tracked")]
    if unused or wrong or missing:
        parts = [
            f"{label}: {', '.join(items[:6])}{' ...' if len(items) > 6 else ''}"
            for label, items in (
                ("tensors the network has no place for", unused),
                ("wrong shapes", wrong),
                ("network entries the file lacks", missing),
            )
            if items
        ]
        raise ModelError(f"{path} does not hold the ResNet-8 reference weights; " + "; ".join(parts), fix=FIX)
    model.load_state_dict(state)
    return model.eval()
