"""The HDL the toolkit ships: the multiplier netlists (``rtl/``) and the accelerator (``hw/``).

In a source checkout ``approxhil/hdl/rtl`` and ``approxhil/hdl/hw`` are links to the top-level
``rtl/`` and ``hw/`` folders; wheels and sdists carry the files themselves. Either way they are
found as package resources, so an installed toolkit simulates, imports and synthesizes the same
sources as a checkout. ``APPROXHIL_RTL`` / ``APPROXHIL_HW`` point at other folders (e.g. a user's
modified netlists).
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from approxhil.errors import ToolMissingError


def _resource_dir(name: str, env: str) -> Path:
    override = os.environ.get(env)
    if override:
        path = Path(override)
    else:
        path = Path(str(resources.files(__name__) / name)).resolve()  # a checkout's link names the real folder
    if not path.is_dir():
        raise ToolMissingError(
            f"the {name}/ HDL folder is missing ({path})",
            fix=f"reinstall approxhil (the wheel ships it), or set {env} to a folder holding it",
        )
    return path


def rtl_dir() -> Path:
    """Folder of the multiplier netlists, their primitives and file lists (``rtl/``)."""
    return _resource_dir("rtl", "APPROXHIL_RTL")


def hw_dir() -> Path:
    """Folder of the accelerator: RTL, Vivado TCL, board files and its Makefile (``hw/``)."""
    return _resource_dir("hw", "APPROXHIL_HW")
