"""Per-epoch checkpoints: written atomically, resumed only into the same network and settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from approxhil.atomic import atomic_path
from approxhil.errors import ApproxHilError

FORMAT = "approxhil-checkpoint"


class CheckpointError(ApproxHilError, ValueError):
    """A checkpoint that belongs to another network or run, or that cannot be read."""


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Atomically write ``state`` (model/optimizer state dicts, epoch, history, config, fingerprint)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, fingerprint: str, config: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if there is one; refuse one of another network or configuration."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({type(exc).__name__})", fix=f"delete {path} to start the run afresh"
        ) from None
    if state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an approxhil checkpoint", fix=f"delete {path}")
    if state.get("fingerprint") != fingerprint:
        raise CheckpointError(
            f"checkpoint {path} belongs to another network (fingerprint {str(state.get('fingerprint'))[:12]})",
            fix="use another output folder or delete the checkpoint",
        )
    if state.get("config") != config:
        raise CheckpointError(
            f"checkpoint {path} was written with other settings ({state.get('config')})",
            fix="rerun with the same settings, use another output folder, or delete the checkpoint",
        )
    return state
