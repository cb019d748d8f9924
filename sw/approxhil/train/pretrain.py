"""Floating-point training of a network that has no pretrained weights (before quantization)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from approxhil.models.fingerprint import model_fingerprint
from approxhil.train.checkpoint import load_checkpoint, save_checkpoint
from approxhil.train.loop import Batches, _seed_epoch, train_epoch


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
    settings = {"kind": "float", "epochs": epochs, "lr": lr, "weight_decay": weight_decay, "seed": seed}
    fingerprint = model_fingerprint(model)
    ckpt = Path(workdir) / "float_checkpoint.pt" if workdir is not None else None
    history: list[dict[str, Any]] = []
    start = 0
    if ckpt is not None and (state := load_checkpoint(ckpt, fingerprint, settings)) is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, start = list(state["history"]), int(state["epoch"])
    for epoch in range(start, epochs):
        _seed_epoch(seed, epoch)
        if hasattr(train_batches, "set_epoch"):
            train_batches.set_epoch(epoch)
        history.append({"epoch": epoch + 1, **train_epoch(model, train_batches, optimizer, device, f"float epoch {epoch + 1}/{epochs}", progress)})
        scheduler.step()
        if ckpt is not None:
            save_checkpoint(
                ckpt,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch + 1,
                    "history": history,
                    "config": settings,
                    "fingerprint": fingerprint,
                },
            )
    return history
