"""Where the toolkit looks for data sets when no path is given."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "APPROXHIL_DATA"
# sw/approxhil/data/paths.py -> repository root (meaningful for a source checkout).
_REPO = Path(__file__).resolve().parents[3]


def data_dirs() -> list[Path]:
    """Folders searched in order: ``$APPROXHIL_DATA`` (one or more, ``os.pathsep``-separated),
    ``./data``, ``<repository>/data`` and ``shared/data`` beside the repository."""
    dirs = [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    dirs += [Path.cwd() / "data", _REPO / "data", _REPO.parent / "shared" / "data"]
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique
