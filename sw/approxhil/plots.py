"""Figures of the toolkit: a table's error, neuron output/error distributions, accuracy after retraining."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from approxhil.atomic import atomic_path
from approxhil.tables import TruthTable


def save_figure(fig: plt.Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG atomically and close it."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def table_error_figure(table: TruthTable) -> plt.Figure:
    """Error ``approx − exact`` over non-negative operands, and the histogram of the relative error."""
    ops = table.operands()
    keep = ops >= 0
    err = (table.values.astype(np.int64) - table.exact())[np.ix_(keep, keep)]
    exact = table.exact()[np.ix_(keep, keep)]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.6))
    im = ax1.imshow(err, origin="lower", cmap="coolwarm", vmin=-np.abs(err).max() or -1, vmax=np.abs(err).max() or 1)
    ax1.set_xlabel("operand B")
    ax1.set_ylabel(f"operand A ({table.operand_a})")
    ax1.set_title(f"{table.name}: approx − exact")
    fig.colorbar(im, ax=ax1, shrink=0.8)
    rel = (err / np.maximum(1, exact)).ravel()
    ax2.hist(100 * rel[exact.ravel() > 0], bins=80, color="tab:blue")
    ax2.set_xlabel("relative error (%)")
    ax2.set_ylabel("operand pairs")
    ax2.set_title(f"MRE {table.metrics()['mre']:.2f} %")
    fig.tight_layout()
    return fig


def neuron_figure(y: np.ndarray, eps: np.ndarray, title: str = "") -> plt.Figure:
    """Per neuron: exact vs approximate output distribution (paper Fig. 3) and error distribution (Fig. 4)."""
    n = y.shape[1]
    fig, axes = plt.subplots(2, n, figsize=(3.0 * n, 5.2), squeeze=False)
    for j in range(n):
        yj, ej = y[:, j], eps[:, j]
        top, bottom = axes[0, j], axes[1, j]
        bins = np.histogram_bin_edges(np.concatenate([yj, yj + ej]), bins=40)
        top.hist(yj, bins=bins, alpha=0.6, label="exact")
        top.hist(yj + ej, bins=bins, alpha=0.6, label="approximate")
        top.set_title(f"neuron {j}: output")
        bottom.hist(ej, bins=40, density=True, color="tab:red", alpha=0.7)
        mu, sigma = ej.mean(), ej.std()
        if sigma > 0:
            xs = np.linspace(ej.min(), ej.max(), 200)
            bottom.plot(xs, np.exp(-0.5 * ((xs - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi)), "k-", lw=1)
        rho = np.corrcoef(yj, ej)[0, 1] if yj.std() > 0 and sigma > 0 else 0.0
        bottom.set_title(f"error: μ={mu:.3g} σ={sigma:.3g} ρ={rho:.2f}", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def accuracy_figure(configs: Sequence[str], series: dict[str, list[float | None]], reference: float | None, title: str) -> plt.Figure:
    """Grouped bars of accuracy per multiplier and mode, with the 8-bit line and its 1 % band."""
    fig, ax = plt.subplots(figsize=(1.5 + 1.1 * len(configs), 3.6))
    width = 0.8 / max(len(series), 1)
    for i, (label, values) in enumerate(series.items()):
        xs = [j + i * width for j, v in enumerate(values) if v is not None]
        ax.bar(xs, [v for v in values if v is not None], width, label=label)
    low = min([v for vals in series.values() for v in vals if v is not None] or [0])
    if reference is not None:
        ax.axhline(reference, color="k", lw=1, label="8-bit")
        ax.axhspan(reference - 1, reference, color="grey", alpha=0.25, label="1 % band")
        ax.set_ylim(max(0.0, min(low, reference - 1) - 5), min(100.0, reference + 4))
    ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(configs))], list(configs))
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    return fig
