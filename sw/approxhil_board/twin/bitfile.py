"""The twin's "bitstream": which simulated fabric to load, in place of a Vivado ``.bit``.

Loading it through ``pynq.Overlay`` (with the generated ``.hwh`` beside it) connects the emulated
Zynq to the simulator serving that fabric. Its hash identifies the twin's core like a bitstream hash.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

MAGIC = b"approxhil twin bitstream\n"


def write_twin_bitstream(path: str | os.PathLike, fabric_socket: str, **design: Any) -> Path:
    """Write a twin bitstream naming the fabric's Unix socket and the design it simulates."""
    path = Path(path)
    path.write_bytes(MAGIC + json.dumps({"fabric": str(fabric_socket), **design}, sort_keys=True).encode() + b"\n")
    return path


def read_twin_bitstream(path: str | os.PathLike) -> dict[str, Any]:
    """The fabric and design a twin bitstream names; ``ValueError`` for anything else (a real ``.bit``)."""
    data = Path(path).read_bytes()
    if not data.startswith(MAGIC):
        raise ValueError(f"{Path(path).name} is not a twin bitstream (the emulated Zynq loads only those)")
    return dict(json.loads(data[len(MAGIC) :].decode()))
