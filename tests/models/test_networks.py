"""Networks: output shapes, MAC counts against the paper, layer types, padding, fingerprints."""

from __future__ import annotations

import pytest
import torch
from approxhil.models import (
    MODELS,
    ModelError,
    ResNet8,
    build_model,
    check_fingerprint,
    count_macs,
    model_fingerprint,
    model_info,
)
from torch import nn

# Paper Table 4 MACs. The paper rounds to whole millions, so the small CIFAR networks get 5%
# (ResNet8's 12.50M prints as "12M"); ALL-CNN and ResNet18 must land within 1%.
MAC_TOLERANCE = {"resnet8": 0.05, "resnet14": 0.05, "allcnn": 0.01, "resnet18": 0.01}
# Exact counts of this implementation, computed by hand from the layer shapes.
EXACT_MACS = {"resnet8": 12_501_632, "resnet14": 26_657_408, "allcnn": 281_174_016, "resnet18": 1_814_073_344, "digits_cnn": 9_856}


@pytest.mark.parametrize("name", list(MODELS))
def test_output_shape_and_macs(name: str) -> None:
    info = model_info(name)
    model = build_model(name).eval()
    with torch.no_grad():
        out = model(torch.rand(2, *info.input_shape) * 255)
    assert out.shape == (2, info.num_classes)
    assert torch.isfinite(out).all()
    macs = count_macs(model, info.input_shape)
    assert macs["total"] == EXACT_MACS[name] == sum(macs["layers"].values())
    assert count_macs(model, (5, *info.input_shape)) == macs  # a batch shape counts per input too
    if info.paper_macs is not None:
        assert abs(macs["total"] / info.paper_macs - 1) <= MAC_TOLERANCE[name]
    else:
        assert 1_000 <= macs["total"] <= 20_000  # "a few thousand" per 8x8 digit


def test_resnet8_layer_macs_by_hand() -> None:
    layers = count_macs(build_model("resnet8"), (3, 32, 32))["layers"]
    assert next(iter(layers)) == "conv1" and list(layers)[-1] == "fc"
    assert layers["conv1"] == 32 * 32 * 16 * 3 * 9
    assert layers["layer2.0.conv1"] == 16 * 16 * 32 * 16 * 9  # stride 2
    assert layers["layer2.0.shortcut"] == 16 * 16 * 32 * 16  # 1x1 stride 2
    assert layers["fc"] == 64 * 10
    assert len(layers) == 10  # 9 convolutions + dense, every one counted once


def test_count_macs_restores_mode_and_counts_reused_modules() -> None:
    conv = nn.Conv2d(2, 2, 3, padding=1)
    model = nn.Sequential(conv, conv).train()
    macs = count_macs(model, (2, 4, 4))
    assert macs["layers"] == {"0": 2 * 16 * 2 * 9 * 2}
    assert model.training
    with pytest.raises(ModelError, match="does not fit"):
        count_macs(build_model("resnet8"), (1, 32, 32))
    with pytest.raises(ModelError, match="does not fit"):
        count_macs(build_model("resnet8"), (1, 1, 3, 32, 32))
    with pytest.raises(ModelError, match="shape of one input"):
        count_macs(model, ())


def test_parameter_counts() -> None:
    # 78,186 trainable values in the Keras reference model; 11,689,512 in torchvision's resnet18.
    assert sum(p.numel() for p in build_model("resnet8").parameters()) == 78_186
    assert sum(p.numel() for p in build_model("resnet18").parameters()) == 11_689_512


def test_resnet18_uses_torchvision_names() -> None:
    state = build_model("resnet18").state_dict()
    assert len(state) == 122  # 62 parameters + 60 BatchNorm buffers, as torchvision's resnet18
    for key, shape in {
        "conv1.weight": (64, 3, 7, 7),
        "layer1.0.conv1.weight": (64, 64, 3, 3),
        "layer2.0.downsample.0.weight": (128, 64, 1, 1),
        "layer2.0.downsample.1.running_var": (128,),
        "layer4.1.bn2.num_batches_tracked": (),
        "fc.weight": (1000, 512),
        "fc.bias": (1000,),
    }.items():
        assert tuple(state[key].shape) == shape
    assert not any(k.startswith("layer") and ".relu" in k for k in state)


@pytest.mark.parametrize("name", list(MODELS))
def test_only_plain_multiplying_layers(name: str) -> None:
    """Every multiply is a plain Conv2d/Linear with zero padding, so approximate() can swap it."""
    model = build_model(name)
    kinds = {type(m) for m in model.modules() if not list(m.children())}
    assert kinds <= {
        nn.Conv2d,
        nn.Linear,
        nn.BatchNorm2d,
        nn.ReLU,
        nn.ZeroPad2d,
        nn.Identity,
        nn.AvgPool2d,
        nn.AdaptiveAvgPool2d,
        nn.MaxPool2d,
        nn.Flatten,
        nn.Dropout,
    }
    assert all(m.padding_mode == "zeros" for m in model.modules() if isinstance(m, nn.Conv2d))


def test_resnet8_stride2_uses_tensorflow_same_padding() -> None:
    """TF 'same' for a stride-2 3x3 conv on 32x32 pads 0 before and 1 after: a kernel whose only
    non-zero tap is its top-left corner then picks input pixel (2i, 2j) for output (i, j)."""
    block = ResNet8().layer2[0]
    assert isinstance(block.pad1, nn.ZeroPad2d) and block.pad1.padding == (0, 1, 0, 1)
    conv = block.conv1
    assert conv.padding == (0, 0) and conv.stride == (2, 2)
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()
        conv.weight[:, 0, 0, 0] = 1.0
        x = torch.randn(1, 16, 32, 32)
        y = conv(block.pad1(x))
    assert y.shape == (1, 32, 16, 16)
    assert torch.equal(y[0, 0], x[0, 0, ::2, ::2])


def test_registry_errors_and_options() -> None:
    with pytest.raises(ModelError, match=r"unknown network 'resnet9'.*resnet8"):
        build_model("resnet9")
    with pytest.raises(ModelError, match="num_classes"):
        build_model("resnet8", num_classes=0)
    with pytest.raises(ModelError, match="bad option"):
        build_model("resnet8", width=3)
    assert build_model("ResNet14", num_classes=100).fc.out_features == 100
    plain = build_model("allcnn", batch_norm=False, dropout=False)
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.Dropout)) for m in plain.modules())


def test_fingerprint() -> None:
    torch.manual_seed(0)
    a = build_model("resnet8")
    torch.manual_seed(1)
    b = build_model("resnet8")
    assert model_fingerprint(a) == model_fingerprint(b)  # values do not matter
    assert model_fingerprint(a).startswith("resnet8-")
    with torch.no_grad():
        a.fc.weight.add_(1.0)
    assert model_fingerprint(a) == model_fingerprint(b)
    assert model_fingerprint(build_model("resnet8", num_classes=100)) != model_fingerprint(a)
    assert model_fingerprint(build_model("resnet14")) != model_fingerprint(a)
    check_fingerprint(b, model_fingerprint(a))
    with pytest.raises(ModelError, match="made for network resnet14-"):
        check_fingerprint(a, model_fingerprint(build_model("resnet14")), "checkpoint x.pt")
