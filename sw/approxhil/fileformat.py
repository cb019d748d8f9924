"""Reading the toolkit's versioned files (truth tables, error models, checkpoints) one way.

Each file holds a mapping with ``format`` (what it is) and, where the layout can change,
``format_version``. A missing file, a file that does not parse, one of another kind and one of an
unsupported version each raise the caller's error type with a message naming the file and a fix.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from approxhil.errors import ApproxHilError


def read_versioned(
    path: str | os.PathLike,
    *,
    kind: str,
    format: str,
    version: int | None,
    read: Callable[[Path], Any],
    error: type[ApproxHilError],
    missing_fix: str,
    corrupt_fix: str,
) -> Mapping[str, Any]:
    """The mapping stored at ``path`` (read by ``read``) after checking its ``format`` and ``format_version``."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{kind} file {path} does not exist", fix=missing_fix)
    try:
        payload = read(path)
    except ApproxHilError:
        raise
    except Exception as exc:  # each reader (torch, numpy, zipfile, json) raises its own types for damaged files
        raise error(f"{path} is truncated or corrupt ({type(exc).__name__}: {str(exc)[:200]})", fix=corrupt_fix) from None
    if not isinstance(payload, Mapping) or payload.get("format") != format:
        found = payload.get("format") if isinstance(payload, Mapping) else type(payload).__name__
        raise error(f"{path} is not an approxhil {kind} (format {found!r})", fix=missing_fix)
    if version is not None and payload.get("format_version") != version:
        raise error(
            f"{path}: unsupported {kind} format version {payload.get('format_version')!r} (this approxhil reads {version})", fix=corrupt_fix
        )
    return payload


def read_torch(path: Path) -> Any:
    """A ``torch.save`` file of tensors and plain values (``weights_only``: no code runs while loading)."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)
