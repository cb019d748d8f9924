"""Streaming per-neuron statistics of a layer's exact output Y and its error ε = Y_approx − Y.

Float64 accumulators merged batch by batch with the parallel (Chan et al.) update, so fitting
streams over any number of samples in bounded memory and gives the same result for any batch
split. Degenerate neurons (constant Y or ε) get ρ = 0 instead of NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from approxhil.errors import ApproxHilError


class StatisticsError(ApproxHilError, ValueError):
    """Statistics that cannot be computed (NaN/inf samples, wrong shapes, no samples)."""

    default_fix = "fit on more samples, or check the layer outputs for NaN or inf"


@dataclass
class NeuronStats:
    """Fitted per-neuron statistics, each a float64 tensor of the neuron shape ([C,H,W] or [F])."""

    mu_y: torch.Tensor
    sigma_y: torch.Tensor
    mu_e: torch.Tensor
    sigma_e: torch.Tensor
    rho: torch.Tensor
    count: int

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {"mu_y": self.mu_y, "sigma_y": self.sigma_y, "mu_e": self.mu_e, "sigma_e": self.sigma_e, "rho": self.rho}


class RunningStats:
    """Accumulates μ_y, σ_y, μ_ε, σ_ε and ρ_{y,ε} per neuron over batches of samples."""

    def __init__(self, name: str = "layer") -> None:
        self.name = name
        self.count = 0
        self._mean_y: torch.Tensor | None = None
        self._mean_e: torch.Tensor | None = None
        self._m2_y: torch.Tensor | None = None
        self._m2_e: torch.Tensor | None = None
        self._c_ye: torch.Tensor | None = None

    def update(self, y_exact: torch.Tensor, y_approx: torch.Tensor) -> None:
        """Add a batch ``[B, *neuron_shape]`` of exact and approximate (or measured) outputs."""
        if y_exact.shape != y_approx.shape:
            raise StatisticsError(
                f"{self.name}: exact output {tuple(y_exact.shape)} and approximate output {tuple(y_approx.shape)} differ in shape",
                fix="supply measured outputs for the same inputs and layer",
            )
        y = y_exact.detach().to(torch.float64)
        e = y_approx.detach().to(torch.float64) - y
        if not (torch.isfinite(y).all() and torch.isfinite(e).all()):
            raise StatisticsError(
                f"{self.name}: NaN or inf in the layer outputs",
                fix="check the inputs and the layer's quantization calibration",
            )
        if self._mean_y is not None and y.shape[1:] != self._mean_y.shape:
            raise StatisticsError(
                f"{self.name}: neuron shape {tuple(y.shape[1:])} differs from earlier batches {tuple(self._mean_y.shape)}"
            )
        n_b = y.shape[0]
        mean_y_b, mean_e_b = y.mean(0), e.mean(0)
        dy, de = y - mean_y_b, e - mean_e_b
        m2_y_b, m2_e_b, c_b = (dy * dy).sum(0), (de * de).sum(0), (dy * de).sum(0)
        if self._mean_y is None:
            self.count = n_b
            self._mean_y, self._mean_e, self._m2_y, self._m2_e, self._c_ye = mean_y_b, mean_e_b, m2_y_b, m2_e_b, c_b
            return
        n_a = self.count
        n = n_a + n_b
        delta_y = mean_y_b - self._mean_y
        delta_e = mean_e_b - self._mean_e
        frac = n_a * n_b / n
        self._m2_y = self._m2_y + m2_y_b + delta_y * delta_y * frac
        self._m2_e = self._m2_e + m2_e_b + delta_e * delta_e * frac
        self._c_ye = self._c_ye + c_b + delta_y * delta_e * frac
        self._mean_y = self._mean_y + delta_y * (n_b / n)
        self._mean_e = self._mean_e + delta_e * (n_b / n)
        self.count = n

    def merge(self, other: RunningStats) -> None:
        """Fold another accumulator (e.g. from another worker) into this one."""
        if other._mean_y is None:
            return
        if self._mean_y is None:
            self.__dict__.update({k: v for k, v in other.__dict__.items() if k != "name"})
            return
        n_a, n_b = self.count, other.count
        n = n_a + n_b
        delta_y = other._mean_y - self._mean_y
        delta_e = other._mean_e - self._mean_e
        frac = n_a * n_b / n
        self._m2_y = self._m2_y + other._m2_y + delta_y * delta_y * frac
        self._m2_e = self._m2_e + other._m2_e + delta_e * delta_e * frac
        self._c_ye = self._c_ye + other._c_ye + delta_y * delta_e * frac
        self._mean_y = self._mean_y + delta_y * (n_b / n)
        self._mean_e = self._mean_e + delta_e * (n_b / n)
        self.count = n

    def finalize(self) -> NeuronStats:
        """Population statistics; ρ = 0 where σ_y or σ_ε is zero (no NaN)."""
        if self._mean_y is None or self.count == 0:
            raise StatisticsError(f"{self.name}: no samples were accumulated", fix="fit on at least one batch")
        var_y = (self._m2_y / self.count).clamp_min(0)
        var_e = (self._m2_e / self.count).clamp_min(0)
        denom = torch.sqrt(self._m2_y.clamp_min(0) * self._m2_e.clamp_min(0))
        rho = torch.where(denom > 0, self._c_ye / denom.clamp_min(1e-300), torch.zeros_like(denom)).clamp(-1.0, 1.0)
        return NeuronStats(
            mu_y=self._mean_y.clone(),
            sigma_y=var_y.sqrt(),
            mu_e=self._mean_e.clone(),
            sigma_e=var_e.sqrt(),
            rho=rho,
            count=self.count,
        )
