"""The resumable epoch loop shared by float pretraining and retraining.

After every epoch the model, optimizer (and scheduler) state, the epoch count and the history are
written atomically to one checkpoint; a run started again with the same network and settings resumes
from it and, because each epoch's random state is derived from ``(seed, epoch)`` and the data batches
are positioned at the epoch, ends bit-identical to an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from tqdm.auto import tqdm

from approxhil.train.checkpoint import load_checkpoint, save_checkpoint

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


class Stateful(Protocol):
    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...


def seed_epoch(seed: int, epoch: int) -> None:
    """Seed torch's generator for ``epoch`` of a run seeded with ``seed`` (the same in a resumed run)."""
    torch.manual_seed(seed * 100_003 + epoch)


def train_epoch(
    model: nn.Module,
    batches: Batches,
    optimizer: torch.optim.Optimizer,
    device: torch.device | str = "cpu",
    desc: str = "train",
    progress: bool = True,
) -> dict[str, float]:
    """One pass of cross-entropy training; returns mean loss, seconds and sample count."""
    import time

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


def run_epochs(
    model: nn.Module,
    batches: Batches,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    seed: int,
    settings: dict[str, Any],
    checkpoint: Path | None = None,
    stateful: dict[str, Stateful] | None = None,
    device: torch.device | str = "cpu",
    desc: str = "train",
    progress: bool = True,
    stop_after: int | None = None,
    before_epoch: Callable[[int], None] | None = None,
    after_epoch: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Train for ``epochs`` epochs, resuming from ``checkpoint`` when one of this network and ``settings`` exists.

    ``stateful`` objects (e.g. an LR scheduler) are saved and restored with the optimizer. ``before_epoch``
    and ``after_epoch`` run around each epoch (e.g. refitting an error model, stepping a scheduler).
    ``stop_after`` ends the call after that many epochs of this call (to test interruption). Returns the
    history of every epoch run so far, resumed ones included.
    """
    from approxhil.models.fingerprint import model_fingerprint

    stateful = dict(stateful or {})
    fingerprint = model_fingerprint(model)
    history: list[dict[str, Any]] = []
    start = 0
    if checkpoint is not None and (state := load_checkpoint(checkpoint, fingerprint, settings)) is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        for name, obj in stateful.items():
            obj.load_state_dict(state[name])
        history, start = list(state["history"]), int(state["epoch"])
    for run, epoch in enumerate(range(start, epochs)):
        if stop_after is not None and run >= stop_after:
            break
        if before_epoch is not None:
            before_epoch(epoch)
        seed_epoch(seed, epoch)
        if hasattr(batches, "set_epoch"):
            batches.set_epoch(epoch)
        history.append(
            {"epoch": epoch + 1, **train_epoch(model, batches, optimizer, device, f"{desc} epoch {epoch + 1}/{epochs}", progress)}
        )
        if after_epoch is not None:
            after_epoch(epoch)
        if checkpoint is not None:
            save_checkpoint(
                checkpoint,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    **{name: obj.state_dict() for name, obj in stateful.items()},
                    "epoch": epoch + 1,
                    "history": history,
                    "config": settings,
                    "fingerprint": fingerprint,
                },
            )
    return history
