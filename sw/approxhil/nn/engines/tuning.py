"""On-disk cache of ``auto``'s measured engine choices, so each new process does not measure again.

One JSON file per machine under the user cache folder (``tuning/engines-<fingerprint>.json`` beside the
compiled kernels). The fingerprint covers what makes a measurement valid: CPU model and instruction-set
flags, the ISA caps a user can set for oneDNN and ATen (``ONEDNN_MAX_CPU_ISA``, ``ATEN_CPU_CAPABILITY``),
the torch version, the C kernels' source and the GPUs. Entries are keyed by layer workload
(:func:`approxhil.nn.engines.auto.workload_key`). Writes are atomic; a file that does not parse is
ignored with a warning and rebuilt. ``APPROXHIL_ENGINE_CACHE=0`` keeps choices in memory only.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import threading
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from approxhil.atomic import write_text
from approxhil.cache import cache_dir
from approxhil.nn.engines import native

VERSION = 1
_ENV_CAPS = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "APPROXHIL_KERNEL_FLAGS")


def enabled() -> bool:
    """Whether measured choices are kept on disk (``APPROXHIL_ENGINE_CACHE`` not ``0``/``off``/``false``/``no``)."""
    return os.environ.get("APPROXHIL_ENGINE_CACHE", "1").strip().lower() not in ("0", "off", "false", "no")


def machine_identity() -> dict[str, Any]:
    """What a measurement depends on besides the workload."""
    gpus = []
    if torch.cuda.is_available():
        gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return {
        "machine": platform.machine(),
        "cpu": native.cpu_flags(),
        "caps": {name: os.environ.get(name, "") for name in _ENV_CAPS},
        "torch": torch.__version__,
        "kernels": _source_digest(),
        "gpus": gpus,
    }


@lru_cache(maxsize=1)
def _source_digest() -> str:
    return hashlib.sha256(native.SOURCE.read_bytes()).hexdigest()[:16]


@lru_cache(maxsize=8)
def _fingerprint(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()[:16]


def path() -> Path:
    """The cache file of this machine (and ISA caps, torch version, kernels)."""
    identity = json.dumps(machine_identity(), sort_keys=True)
    return cache_dir("tuning") / f"engines-{_fingerprint(identity)}.json"


_LOCK = threading.Lock()


def load(target: Path | None = None) -> dict[str, dict[str, Any]]:
    """Entries ``{workload key: {"engine": name, "seconds": {name: s}}}``; ``{}`` when absent or corrupt."""
    target = target or path()
    try:
        text = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        warnings.warn(f"approxhil: cannot read the engine tuning cache {target} ({exc}); measuring again", RuntimeWarning, stacklevel=2)
        return {}
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("entries"), dict):
            raise ValueError("not an engine tuning cache of this version")
        entries = data["entries"]
        for key, entry in entries.items():
            if not (isinstance(key, str) and isinstance(entry, dict) and isinstance(entry.get("engine"), str)):
                raise ValueError(f"malformed entry {key!r}")
        return entries
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        warnings.warn(f"approxhil: ignoring the corrupt engine tuning cache {target} ({exc}); it is rebuilt", RuntimeWarning, stacklevel=2)
        return {}


def store(key: str, entry: dict[str, Any], target: Path | None = None) -> None:
    """Add one entry (merged with what other processes wrote meanwhile), atomically."""
    target = target or path()
    with _LOCK:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # load() already warned about a corrupt file
            entries = load(target)
        entries[key] = entry
        data = {"version": VERSION, "machine": machine_identity(), "entries": entries}
        try:
            write_text(target, json.dumps(data, indent=1, sort_keys=True) + "\n")
        except OSError as exc:
            warnings.warn(f"approxhil: cannot write the engine tuning cache {target} ({exc})", RuntimeWarning, stacklevel=2)
