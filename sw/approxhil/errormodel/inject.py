"""Error-model injection (paper §4.2, eq. 14–15): exact quantized output plus a correlated Gaussian error.

Ξ = σ_ε (ρ S1 + S2 √(1−ρ²)) + μ_ε with S1 = (Y − μ_y)/σ_y and S2 ~ N(0, 1) drawn each call.
Gradients flow through S1, so dΞ/dY = σ_ε ρ / σ_y per neuron.
"""

from __future__ import annotations

import torch
from torch import nn

from approxhil.errormodel.stats import NeuronStats


class ErrorInjection(nn.Module):
    """Adds the fitted per-neuron error to a layer's exact pre-bias output (set as ``output_perturbation``)."""

    def __init__(self, stats: NeuronStats, generator: torch.Generator | None = None) -> None:
        super().__init__()
        sigma_y = stats.sigma_y.to(torch.float32)
        safe = sigma_y > 0
        # Degenerate neurons: σ_y = 0 → S1 = 0 (no correlated part); |ρ| ≈ 1 → no fresh noise.
        self.register_buffer("mu_y", stats.mu_y.to(torch.float32))
        self.register_buffer("inv_sigma_y", torch.where(safe, 1.0 / sigma_y.clamp_min(1e-30), torch.zeros_like(sigma_y)))
        self.register_buffer("mu_e", stats.mu_e.to(torch.float32))
        self.register_buffer("sigma_e", stats.sigma_e.to(torch.float32))
        rho = torch.where(safe, stats.rho.to(torch.float32), torch.zeros_like(sigma_y))
        self.register_buffer("rho", rho)
        self.register_buffer("noise_scale", torch.sqrt((1.0 - rho * rho).clamp_min(0.0)))
        self.generator = generator

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if y.shape[1:] != self.mu_y.shape:
            raise ValueError(
                f"error model fitted for neuron shape {tuple(self.mu_y.shape)}, layer output is {tuple(y.shape[1:])}; "
                "refit the error model for this input size"
            )
        s1 = (y - self.mu_y) * self.inv_sigma_y
        s2 = torch.randn(y.shape, device=y.device, dtype=y.dtype, generator=self.generator)
        xi = self.sigma_e * (self.rho * s1 + s2 * self.noise_scale) + self.mu_e
        return y + xi
