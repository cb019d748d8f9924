"""Keras ResNet-8 import: every tensor mapped once, layouts transposed right, other files refused,
and the reference accuracy on the shared CIFAR-10 test images."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from approxhil.data import RAW, Batches, load_cifar10_split
from approxhil.models import KERAS_RESNET8, ModelError, ResNet8, load_keras_resnet8
from approxhil.models.keras_import import TENSOR_NAMES, read_h5_tensors
from torch import nn


def write_keras_h5(model: ResNet8, path: Path, config: dict | None = None, skip: str = "", extra: str = "") -> None:
    """Write ``model`` in the Keras 2 full-model layout (HWIO kernels, (in, out) dense)."""
    modules = dict(model.named_modules())
    state = model.state_dict()
    with h5py.File(path, "w") as f:
        for layer, target in KERAS_RESNET8.items():
            module = modules[target]
            for keras_name, torch_name in TENSOR_NAMES[type(module)].items():
                if f"{layer}/{keras_name}" == skip:
                    continue
                value = state[f"{target}.{torch_name}"].numpy()
                if keras_name == "kernel":
                    value = value.transpose(2, 3, 1, 0) if value.ndim == 4 else value.T
                f[f"model_weights/{layer}/{layer}/{keras_name}:0"] = value
        if extra:
            f[f"model_weights/{extra}/{extra}/kernel:0"] = np.zeros((3, 3), np.float32)
        if config is not None:
            f.attrs["model_config"] = json.dumps(config)


def randomized_resnet8(seed: int) -> ResNet8:
    torch.manual_seed(seed)
    model = ResNet8()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):  # non-trivial statistics so the BN mapping is tested
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.5, 0.5)
    return model.eval()


def test_round_trip_through_keras_layout(tmp_path: Path) -> None:
    model = randomized_resnet8(0)
    write_keras_h5(model, tmp_path / "m.h5")
    loaded = load_keras_resnet8(tmp_path / "m.h5")
    assert not loaded.training
    want = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    got = loaded.state_dict()
    assert all(torch.equal(got[k], v) for k, v in want.items())
    x = torch.rand(4, 3, 32, 32) * 255
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x))


def test_refuses_other_files(tmp_path: Path) -> None:
    model = randomized_resnet8(1)
    write_keras_h5(model, tmp_path / "missing.h5", skip="batch_normalization_4/moving_variance")
    with pytest.raises(ModelError, match=r"lacks: layer2\.0\.bn2\.running_var"):
        load_keras_resnet8(tmp_path / "missing.h5")
    write_keras_h5(model, tmp_path / "extra.h5", extra="dense_1")
    with pytest.raises(ModelError, match=r"no place for: dense_1/kernel \(3, 3\)"):
        load_keras_resnet8(tmp_path / "extra.h5")
    write_keras_h5(ResNet8(num_classes=100), tmp_path / "wide.h5")
    with pytest.raises(ModelError, match=r"dense/kernel: \(64, 100\) does not fit fc.weight \(10, 64\)"):
        load_keras_resnet8(tmp_path / "wide.h5")
    config = {"config": {"layers": [{"name": "conv2d_3", "config": {"strides": [1, 1], "padding": "same"}}]}}
    write_keras_h5(model, tmp_path / "stride.h5", config=config)
    with pytest.raises(ModelError, match=r"conv2d_3: stride \[1, 1\] \(network: \[2, 2\]\)"):
        load_keras_resnet8(tmp_path / "stride.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(ModelError, match="not an HDF5"):
        load_keras_resnet8(tmp_path / "text.h5")
    with pytest.raises(ModelError, match="not found"):
        load_keras_resnet8(tmp_path / "absent.h5")


@pytest.mark.data
def test_reference_weights_every_tensor_used(shared_data: Path) -> None:
    path = shared_data / "mlperf_tiny_resnet8.h5"
    tensors, config = read_h5_tensors(path)
    assert config is not None and len(tensors) == 17 * 2 + 7 * 2  # 9 conv + dense kernels/biases, 7 BN x 4
    assert sum(v.size for v in tensors.values()) == 78_666  # all values the data README lists
    model = load_keras_resnet8(path)
    n_loaded = sum(v.numel() for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked"))
    assert n_loaded == 78_666
    kernel = tensors[("conv2d_3", "kernel")]  # HWIO
    assert torch.equal(model.layer2[0].conv1.weight[5, 7, 0, 2], torch.tensor(kernel[0, 2, 7, 5]))


@pytest.mark.data
def test_reference_accuracy(shared_data: Path) -> None:
    """87.7% on the 1,202 exact CIFAR-10 test images and 76.9% on all stored ones (data README)."""
    model = load_keras_resnet8(shared_data / "mlperf_tiny_resnet8.h5").to(memory_format=torch.channels_last)
    test = load_cifar10_split(shared_data, "test")
    correct = []
    with torch.inference_mode():
        for x, y in Batches(test, 250, RAW, channels_last=True):
            correct.append(model(x).argmax(1) == y)
    hits = torch.cat(correct)
    assert int(test.exact.sum()) == 1202
    exact_acc = 100 * hits[test.exact].float().mean().item()
    all_acc = 100 * hits.float().mean().item()
    assert abs(exact_acc - 87.7) <= 0.3, exact_acc
    assert abs(all_acc - 76.9) <= 0.3, all_acc
