"""Per-epoch checkpoints: written atomically, resumed only into the same network and settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from approxhil.atomic import atomic_path
from approxhil.errors import ApproxHilError
from approxhil.fileformat import read_torch, read_versioned

FORMAT = "approxhil-checkpoint"


class CheckpointError(ApproxHilError, ValueError):
    """A checkpoint that belongs to another network or run, or that cannot be read."""

    default_fix = "delete the checkpoint to start the run afresh"


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
    state = read_versioned(
        path,
        kind="checkpoint",
        format=FORMAT,
        version=None,
        read=read_torch,
        error=CheckpointError,
        missing_fix=f"delete {path} to start the run afresh",
        corrupt_fix=f"delete {path} to start the run afresh",
    )
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
