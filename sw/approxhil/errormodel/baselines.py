"""Baselines of the paper's Fig. 6: multiplicative weight noise and additive white Gaussian noise."""

from __future__ import annotations

import math

import torch
from torch import nn

from approxhil.errors import ConfigError


class WeightNoise(nn.Module):
    """The "baseline model": ``w · (1 + e)``, ``e ~ N(mean, std)`` of the multiplier's relative error, per step."""

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        if not (math.isfinite(mean) and math.isfinite(std) and std >= 0):
            raise ConfigError(
                f"weight-noise baseline needs a finite mean and std ≥ 0, got mean={mean}, std={std}",
                fix="the multiplier's relative-error statistics are not finite: check its table",
            )
        self.mean = float(mean)
        self.std = float(std)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        e = torch.randn_like(w) * self.std + self.mean
        return w * (1.0 + e)

    def extra_repr(self) -> str:
        return f"mean={self.mean:.4g}, std={self.std:.4g}"


class AWGN(nn.Module):
    """Additive white Gaussian noise at a layer's output with a signal-to-noise ratio in dB (per batch)."""

    def __init__(self, snr_db: float) -> None:
        super().__init__()
        if not math.isfinite(snr_db):
            raise ConfigError(f"AWGN needs a finite SNR in dB, got {snr_db}", fix="pass a finite SNR, e.g. 20")
        self.snr_db = float(snr_db)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        power = y.detach().pow(2).mean()
        sigma = torch.sqrt(power / (10.0 ** (self.snr_db / 10.0)))
        return y + torch.randn_like(y) * sigma

    def extra_repr(self) -> str:
        return f"snr_db={self.snr_db:g}"
