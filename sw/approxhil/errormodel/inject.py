"""Error-model injection (paper §4.2, eq. 14–15): exact quantized output plus a correlated Gaussian error.

Ξ = σ_ε (ρ S1 + S2 √(1−ρ²)) + μ_ε with S1 = (Y − μ_y)/σ_y and S2 ~ N(0, 1) drawn each call.
Per neuron this is affine in Y plus noise, ``Y + Ξ = g·Y + o + s·S2`` with ``g = 1 + σ_ε ρ/σ_y``,
``o = μ_ε − σ_ε ρ μ_y/σ_y`` and ``s = σ_ε √(1−ρ²)``, so gradients flow through S1 (dΞ/dY = σ_ε ρ/σ_y)
and the forward is two fused multiply-adds.

Drawing S2 dominates the cost of the injection (a normal sample costs about half a convolution of the
same size on a CPU). By default S2 is a slice at a random offset of a table of standard normal samples,
drawn once per device — the shared noise table of large-scale evolution strategies — so each call still
sees fresh N(0, 1) values per neuron at the cost of a view. ``fresh_noise=True`` draws with ``randn``.
"""

from __future__ import annotations

import torch
from torch import nn

from approxhil.errormodel.model import ErrorModelError
from approxhil.errormodel.stats import NeuronStats

#: Standard normal samples in the shared table (16 MiB of float32); larger outputs draw fresh noise.
NOISE_TABLE_SIZE = 1 << 22
_NOISE_TABLES: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}


def _noise_table(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    key = (device, dtype)
    if key not in _NOISE_TABLES:
        g = torch.Generator().manual_seed(0x5EED)
        _NOISE_TABLES[key] = torch.randn(NOISE_TABLE_SIZE, generator=g).to(device=device, dtype=dtype)
    return _NOISE_TABLES[key]


def standard_normal(
    shape: torch.Size, device: torch.device, dtype: torch.dtype, generator: torch.Generator | None = None, fresh: bool = False
) -> torch.Tensor:
    """N(0, 1) samples of ``shape``: a random-offset slice of the noise table, or fresh when asked or too large."""
    n = shape.numel()
    if fresh or n > NOISE_TABLE_SIZE // 2:
        return torch.randn(shape, device=device, dtype=dtype, generator=generator)
    offset = int(torch.randint(0, NOISE_TABLE_SIZE - n + 1, (1,), generator=generator))
    return _noise_table(device, dtype)[offset : offset + n].view(shape)


class ErrorInjection(nn.Module):
    """Adds the fitted per-neuron error to a layer's exact pre-bias output (set as ``output_perturbation``)."""

    def __init__(self, stats: NeuronStats, generator: torch.Generator | None = None, fresh_noise: bool = False) -> None:
        super().__init__()
        sigma_y = stats.sigma_y.to(torch.float64)
        safe = sigma_y > 0
        # Degenerate neurons: σ_y = 0 → no correlated part (S1 = 0); |ρ| = 1 → no fresh noise.
        rho = torch.where(safe, stats.rho.to(torch.float64), torch.zeros_like(sigma_y)).clamp(-1.0, 1.0)
        slope = torch.where(safe, stats.sigma_e.to(torch.float64) * rho / sigma_y.clamp_min(1e-300), torch.zeros_like(sigma_y))
        self.register_buffer("gain", (1.0 + slope).to(torch.float32))
        self.register_buffer("offset", (stats.mu_e.to(torch.float64) - slope * stats.mu_y.to(torch.float64)).to(torch.float32))
        self.register_buffer(
            "noise_std", (stats.sigma_e.to(torch.float64) * torch.sqrt((1.0 - rho * rho).clamp_min(0.0))).to(torch.float32)
        )
        self.generator = generator
        self.fresh_noise = fresh_noise

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if y.shape[1:] != self.gain.shape:
            raise ErrorModelError(
                f"error model fitted for neuron shape {tuple(self.gain.shape)}, layer output is {tuple(y.shape[1:])}",
                fix="refit the error model for this input size",
            )
        s2 = standard_normal(y.shape, y.device, y.dtype, self.generator, self.fresh_noise)
        return torch.addcmul(torch.addcmul(self.offset, y, self.gain), self.noise_std, s2)
