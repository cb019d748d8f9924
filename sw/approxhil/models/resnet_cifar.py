"""CIFAR-10 residual networks in the MLPerf Tiny layout: ResNet8 (the reference model) and ResNet14.

The layout follows the Keras reference model so its weights load one to one: three stages of
16/32/64 filters, convolutions with bias followed by BatchNorm (eps 1e-3, Keras momentum 0.99),
a 1x1 stride-2 shortcut convolution (no BatchNorm) where a stage halves the resolution, 8x8 average
pooling and one dense layer. TensorFlow's ``same`` padding of a stride-2 3x3 convolution on an even
input is 0 rows/columns before and 1 after; it is an explicit :class:`nn.ZeroPad2d` in front of an
unpadded convolution, so every convolution stays a plain ``nn.Conv2d`` that can be swapped for an
approximate one. Inputs are raw 0-255 RGB floats, NCHW; outputs are logits (the Keras softmax is
left out: it does not change the argmax).
"""

from __future__ import annotations

from torch import Tensor, nn

from approxhil.models.errors import ModelError

# Keras BatchNormalization defaults: epsilon 1e-3, momentum 0.99 (PyTorch counts momentum the other way).
BN_EPS = 1e-3
BN_MOMENTUM = 0.01
STAGE_WIDTHS = (16, 32, 64)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


def _conv3x3(cin: int, cout: int, stride: int) -> tuple[nn.Module, nn.Conv2d]:
    """A 3x3 convolution with TensorFlow ``same`` padding: (pad module, unpadded or padded conv)."""
    if stride == 1:
        return nn.Identity(), nn.Conv2d(cin, cout, 3, stride=1, padding=1)
    # stride 2 on an even input: TF pads 0 before and 1 after, in both dimensions.
    return nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(cin, cout, 3, stride=stride, padding=0)


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN layers with a residual connection; a 1x1 conv shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.pad1, self.conv1 = _conv3x3(cin, cout, stride)
        self.bn1 = _bn(cout)
        self.relu1 = nn.ReLU()
        _, self.conv2 = _conv3x3(cout, cout, 1)
        self.bn2 = _bn(cout)
        self.shortcut: nn.Module = nn.Conv2d(cin, cout, 1, stride=stride) if stride != 1 or cin != cout else nn.Identity()
        self.relu2 = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        y = self.relu1(self.bn1(self.conv1(self.pad1(x))))
        y = self.bn2(self.conv2(y))
        return self.relu2(self.shortcut(x) + y)


class CifarResNet(nn.Module):
    """ResNet of ``blocks`` basic blocks per stage (3 stages) for 32x32 inputs."""

    arch = "cifar_resnet"

    def __init__(self, blocks: int, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        if blocks < 1:
            raise ModelError(f"blocks per stage must be >= 1, got {blocks}", fix="resnet8 has 1, resnet14 2 blocks per stage")
        self.blocks = blocks
        self.conv1 = nn.Conv2d(in_channels, STAGE_WIDTHS[0], 3, padding=1)
        self.bn1 = _bn(STAGE_WIDTHS[0])
        self.relu = nn.ReLU()
        cin = STAGE_WIDTHS[0]
        stages = []
        for index, width in enumerate(STAGE_WIDTHS):
            stride = 1 if index == 0 else 2
            layers = [BasicBlock(cin, width, stride)] + [BasicBlock(width, width) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*layers))
            cin = width
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AvgPool2d(8)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(cin, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # As the reference model: He-normal kernels (fan in), zero biases; BN starts at identity.
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.flatten(self.avgpool(x)))


class ResNet8(CifarResNet):
    """MLPerf Tiny image-classification ResNet-8 (one block per stage, about 12.5M MACs)."""

    arch = "resnet8"

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__(blocks=1, num_classes=num_classes, in_channels=in_channels)


class ResNet14(CifarResNet):
    """The same family with two blocks per stage (about 26.7M MACs)."""

    arch = "resnet14"

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__(blocks=2, num_classes=num_classes, in_channels=in_channels)
