"""The retraining loop: per-epoch checkpoints (resumable), timing per epoch, behavioral final accuracy."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn
from tqdm.auto import tqdm

from approxhil.atomic import write_text
from approxhil.errormodel import ErrorModel
from approxhil.machine import machine_info
from approxhil.models.fingerprint import model_fingerprint
from approxhil.nn import model_device
from approxhil.train.checkpoint import load_checkpoint, save_checkpoint
from approxhil.train.config import RetrainConfig
from approxhil.train.modes import apply_mode

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


def evaluate(model: nn.Module, batches: Batches, device: torch.device | str | None = None) -> dict[str, float]:
    """Top-1 accuracy (percent) and mean cross-entropy of ``model`` on ``batches``, in eval mode.

    Batches go to ``device`` (default: where the model is).
    """
    device = model_device(model) if device is None else device
    was_training = model.training
    model.eval()
    correct, total, loss_sum = 0, 0, 0.0
    with torch.no_grad():
        for x, y in batches:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            total += y.numel()
    model.train(was_training)
    if total == 0:
        raise ValueError("evaluation data is empty")
    return {"accuracy": 100.0 * correct / total, "loss": loss_sum / total, "n": total}


def train_epoch(
    model: nn.Module,
    batches: Batches,
    optimizer: torch.optim.Optimizer,
    device: torch.device | str = "cpu",
    desc: str = "train",
    progress: bool = True,
) -> dict[str, float]:
    """One pass of cross-entropy training; returns mean loss, seconds and sample count."""
    model.train()
    loss_sum, count = 0.0, 0
    start = time.perf_counter()
    for x, y in tqdm(batches, desc=desc, disable=not progress, leave=False):
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        loss_sum += loss.item() * y.numel()
        count += y.numel()
    return {"loss": loss_sum / max(count, 1), "seconds": time.perf_counter() - start, "samples": count}


def _seed_epoch(seed: int, epoch: int) -> None:
    torch.manual_seed(seed * 100_003 + epoch)


def retrain(
    model: nn.Module,
    train_batches: Batches,
    config: RetrainConfig,
    workdir: str | Path | None = None,
    error_model: ErrorModel | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    refit: "Callable[[nn.Module], ErrorModel] | None" = None,
) -> dict[str, Any]:
    """Retrain an approximate network in ``config.mode``; returns per-epoch history and timings.

    ``train_batches`` yields ``(x, y)``; where it has ``set_epoch`` (e.g. :class:`approxhil.data.Batches`)
    it is positioned at each epoch, so a resumed run sees the same data as an uninterrupted one. With ``workdir`` a checkpoint is written atomically after every epoch and an
    existing one of the same network and settings is resumed. ``stop_after`` ends the call after that many
    epochs of this call (used to test interruption). ``refit(model)`` fits a new error model; it is
    called every ``config.refit_every`` epochs in ``errormodel`` mode.
    """
    fingerprint = model_fingerprint(model)
    device = torch.device(config.device)
    model.to(device)
    apply_mode(model, config.mode, error_model=error_model, snr_db=config.snr_db, behavioral_layers=config.behavioral_layers)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    history: list[dict[str, float]] = []
    start_epoch = 0
    ckpt_path = Path(workdir) / "checkpoint.pt" if workdir is not None else None
    if ckpt_path is not None:
        state = load_checkpoint(ckpt_path, fingerprint, config.to_dict())
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            history = list(state["history"])
            start_epoch = int(state["epoch"])
    run_epochs = 0
    for epoch in range(start_epoch, config.effective_epochs):
        if stop_after is not None and run_epochs >= stop_after:
            break
        if config.mode == "errormodel" and config.refit_every and epoch > 0 and epoch % config.refit_every == 0:
            if refit is None:
                raise ValueError("config.refit_every needs a refit function")
            error_model = refit(model)
            apply_mode(model, "errormodel", error_model=error_model, behavioral_layers=config.behavioral_layers)
        _seed_epoch(config.seed, epoch)
        if hasattr(train_batches, "set_epoch"):
            train_batches.set_epoch(epoch)
        stats = train_epoch(
            model, train_batches, optimizer, device, desc=f"{config.mode} epoch {epoch + 1}/{config.effective_epochs}", progress=progress
        )
        history.append({"epoch": epoch + 1, **stats})
        run_epochs += 1
        if ckpt_path is not None:
            save_checkpoint(
                ckpt_path,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "epoch": epoch + 1,
                    "history": history,
                    "config": config.to_dict(),
                    "fingerprint": fingerprint,
                },
            )
    apply_mode(model, "evaluate")
    complete = len(history) >= config.effective_epochs
    return {"config": config.to_dict(), "history": history, "complete": complete, "machine": machine_info()}


def write_result(path: str | Path, result: dict[str, Any]) -> Path:
    """Write a result record as JSON, atomically."""
    import json

    write_text(path, json.dumps(result, indent=2, sort_keys=True, default=str))
    return Path(path)
