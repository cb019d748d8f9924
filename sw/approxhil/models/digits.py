"""A small CNN for scikit-learn's 8x8 handwritten digits: the data set the demo runs end to end.

About 9.9k MACs per image (two convolutions and one dense layer); it reaches about 97-98% test
accuracy after a few seconds of CPU training, so the whole approximate pipeline runs in a demo.
"""

from __future__ import annotations

from torch import Tensor, nn


class DigitsCNN(nn.Module):
    """conv 3x3 (8, same) -> BN -> ReLU -> max pool 2 -> conv 3x3 (16, valid) -> BN -> ReLU -> dense."""

    arch = "digits_cnn"

    def __init__(self, num_classes: int = 10, in_channels: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu1 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.bn2 = nn.BatchNorm2d(16)
        self.relu2 = nn.ReLU()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16 * 2 * 2, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(self.relu1(self.bn1(self.conv1(x))))
        x = self.relu2(self.bn2(self.conv2(x)))
        return self.fc(self.flatten(x))
