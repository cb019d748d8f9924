"""Floating-point training of a network that has no pretrained weights (before quantization)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from approxhil.train.epochs import Batches, run_epochs


def train_float(
    model: nn.Module,
    train_batches: Batches,
    epochs: int,
    lr: float = 1e-3,
    weight_decay: float = 5e-4,
    seed: int = 0,
    workdir: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train with AdamW and a cosine schedule; per-epoch checkpoints in ``workdir`` resume an interrupted run."""
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    return run_epochs(
        model,
        train_batches,
        optimizer,
        epochs=epochs,
        seed=seed,
        settings={"kind": "float", "epochs": epochs, "lr": lr, "weight_decay": weight_decay, "seed": seed},
        checkpoint=Path(workdir) / "float_checkpoint.pt" if workdir is not None else None,
        stateful={"scheduler": scheduler},
        device=device,
        desc="float",
        progress=progress,
        after_epoch=lambda epoch: scheduler.step(),
    )
