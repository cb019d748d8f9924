"""The user cache folder: simulator builds, compiled kernels, tuning data and tool environments.

Build outputs never go next to the sources (an installed package may be read-only, and several
checkouts or virtual environments share one cache safely: every entry is keyed by what it was
built from). ``$APPROXHIL_CACHE`` overrides the platform's user cache folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

ENV_VAR = "APPROXHIL_CACHE"


def cache_dir(*parts: str) -> Path:
    """``$APPROXHIL_CACHE/<parts>`` or the user cache folder's ``approxhil/<parts>`` (created)."""
    root = os.environ.get(ENV_VAR) or platformdirs.user_cache_dir("approxhil", appauthor=False)
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
