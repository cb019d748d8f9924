"""One writer per cell: an exclusive lock file beside the files a cell writes.

Workers of any executor, and separate runs on one results folder (two clusters, two users), take the
cell's lock before computing it; whoever waited finds the finished result and reads it. The lock is an
``flock`` on a file that is never deleted (deleting lock files lets two holders meet on different
inodes), so the operating system releases it whenever its holder ends — a killed worker leaves no lock
behind, and the retry resumes from the cell's last epoch checkpoint.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

LOCK = ".writer.lock"


@contextlib.contextmanager
def exclusive(path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing); waits while another process holds it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:  # "a": creates it without truncating another holder's file
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def remove_partial_files(folder: Path) -> list[Path]:
    """Delete the temporary files a writer that died mid-write left in ``folder`` (call while holding its lock)."""
    partial = sorted(folder.glob(".*.tmp*"))
    for path in partial:
        path.unlink(missing_ok=True)
    return partial
