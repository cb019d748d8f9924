"""Where the host keeps what it knows about boards: the default bitstream path and each board's secret.

Secrets live in the user's configuration folder (``$APPROXHIL_CONFIG``, else the platform's, e.g.
``~/.config/approxhil``) as ``boards/<host>_<port>.secret``,
written by ``approxhil hil deploy`` and read by the remote backend.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import platformdirs

from approxhil.hdl import hw_dir


def config_dir() -> Path:
    """The user's approxhil configuration folder."""
    if os.environ.get("APPROXHIL_CONFIG"):
        return Path(os.environ["APPROXHIL_CONFIG"])
    return Path(platformdirs.user_config_dir("approxhil", appauthor=False))


def secret_path(host: str, port: int) -> Path:
    """The host-side secret of the agent at ``host:port``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", host)
    return config_dir() / "boards" / f"{safe}_{port}.secret"


def default_bitstream(board: str) -> Path:
    """Where ``make bitstream BOARD=<board>`` leaves the bitstream (its ``.hwh`` beside it)."""
    return hw_dir() / "build" / board / f"approxhil_{board}.bit"
