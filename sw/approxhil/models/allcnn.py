"""ALL-CNN-C (Springenberg et al., "Striving for Simplicity: The All Convolutional Net", 2015) for CIFAR-10.

Nine convolutions and no pooling layer: stride-2 convolutions replace max pooling, 1x1 convolutions
and a global average replace the dense layers. Every 3x3 convolution keeps the resolution
('same' padding, as in the TensorFlow implementation the accelerator paper used: about 281M MACs
per 32x32 image). Two choices differ from the 2015 paper and are kept as options: BatchNorm after
each convolution (on by default: it trains in a few epochs with plain SGD), and no ReLU on the
class scores before the global average (logits may be negative).
"""

from __future__ import annotations

from torch import Tensor, nn

# (out channels, kernel, stride) of the nine convolutions of model C.
LAYOUT = (
    (96, 3, 1),
    (96, 3, 1),
    (96, 3, 2),
    (192, 3, 1),
    (192, 3, 1),
    (192, 3, 2),
    (192, 3, 1),
    (192, 1, 1),
)


class AllCNN(nn.Module):
    """ALL-CNN-C: conv blocks ``features``, a 1x1 class conv, global average pooling, logits."""

    arch = "allcnn"

    def __init__(
        self,
        num_classes: int = 10,
        in_channels: int = 3,
        batch_norm: bool = True,
        dropout: bool = True,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Dropout(0.2) if dropout else nn.Identity()]
        cin = in_channels
        for cout, kernel, stride in LAYOUT:
            layers.append(nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.ReLU())
            if stride == 2 and dropout:
                layers.append(nn.Dropout(0.5))
            cin = cout
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Conv2d(cin, num_classes, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.flatten(self.pool(self.classifier(self.features(x))))
