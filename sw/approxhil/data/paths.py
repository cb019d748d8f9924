"""Where the toolkit looks for data sets and pretrained weights when no path is given."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

ENV_VAR = "APPROXHIL_DATA"


def data_dirs() -> list[Path]:
    """Folders searched in order: ``$APPROXHIL_DATA`` (one or more, ``os.pathsep``-separated), ``./data``,
    ``../shared/data`` (a shared data folder beside the working folder) and the user data folder."""
    dirs = [Path(p) for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p]
    dirs += [Path.cwd() / "data", Path.cwd().parent / "shared" / "data", Path(platformdirs.user_data_dir("approxhil", appauthor=False))]
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique
