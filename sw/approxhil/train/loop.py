"""The retraining loop: per-epoch checkpoints (resumable), timing per epoch, behavioral final accuracy."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from approxhil.errormodel import ErrorModel
from approxhil.machine import machine_info
from approxhil.nn import model_device
from approxhil.nn.gradients import set_gradient
from approxhil.train.config import ConfigError, RetrainConfig
from approxhil.train.epochs import Batches, run_epochs
from approxhil.train.modes import apply_mode


def evaluate(
    model: nn.Module, batches: Batches, device: torch.device | str | None = None, progress: bool = False, desc: str = "evaluate"
) -> dict[str, float]:
    """Top-1 accuracy (percent) and mean cross-entropy of ``model`` on ``batches``, in eval mode.

    Batches go to ``device`` (default: where the model is); ``progress`` shows a bar named ``desc``.
    """
    device = model_device(model) if device is None else device
    was_training = model.training
    model.eval()
    correct, total, loss_sum = 0, 0, 0.0
    with torch.no_grad():
        for x, y in tqdm(batches, desc=desc, unit="batch", disable=not progress, leave=False):
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss_sum += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            total += y.numel()
    model.train(was_training)
    if total == 0:
        raise ConfigError("evaluation data is empty", fix="check the data set and any subset size")
    return {"accuracy": 100.0 * correct / total, "loss": loss_sum / total, "n": total}


def retrain(
    model: nn.Module,
    train_batches: Batches,
    config: RetrainConfig,
    workdir: str | Path | None = None,
    error_model: ErrorModel | None = None,
    progress: bool = True,
    stop_after: int | None = None,
    refit: Callable[[nn.Module], ErrorModel] | None = None,
    inputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Retrain an approximate network in ``config.mode``; returns per-epoch history and timings.

    ``train_batches`` yields ``(x, y)``; where it has ``set_epoch`` (e.g. :class:`approxhil.data.Batches`)
    it is positioned at each epoch, so a resumed run sees the same data as an uninterrupted one. With ``workdir`` a checkpoint is written atomically after every epoch and an
    existing one of the same network and settings is resumed. ``stop_after`` ends the call after that many
    epochs of this call (used to test interruption). ``refit(model)`` fits a new error model; it is
    called every ``config.refit_every`` epochs in ``errormodel`` mode. ``inputs`` (fingerprints of the table,
    weights, data, error model) are kept in the checkpoint: a run is resumed only from its own inputs.
    """
    device = torch.device(config.device)
    model.to(device)
    apply_mode(model, config.mode, error_model=error_model, snr_db=config.snr_db, behavioral_layers=config.behavioral_layers)
    set_gradient(model, config.gradient_spec)  # the backward pass of the layers that run the behavioral simulation
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)

    def refit_if_due(epoch: int) -> None:
        if config.mode == "errormodel" and config.refit_every and epoch > 0 and epoch % config.refit_every == 0:
            if refit is None:
                raise ConfigError("refit_every is set but no refit function was given", fix="pass refit= (workflow.recover does)")
            apply_mode(model, "errormodel", error_model=refit(model), behavioral_layers=config.behavioral_layers)

    history = run_epochs(
        model,
        train_batches,
        optimizer,
        epochs=config.effective_epochs,
        seed=config.seed,
        settings=config.to_dict() if inputs is None else {**config.to_dict(), "inputs": inputs},
        checkpoint=Path(workdir) / "checkpoint.pt" if workdir is not None else None,
        device=device,
        desc=config.mode,
        progress=progress,
        stop_after=stop_after,
        before_epoch=refit_if_due,
    )
    apply_mode(model, "evaluate")
    complete = len(history) >= config.effective_epochs
    return {"config": config.to_dict(), "history": history, "complete": complete, "machine": machine_info()}
