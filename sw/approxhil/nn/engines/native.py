"""Build, cache and call the C kernels in ``kernels.c`` (ctypes; no torch headers, sub-second build).

The shared library is compiled once per source/compiler/CPU combination into a cache folder
(``$APPROXHIL_CACHE`` or ``~/.cache/approxhil``) with an atomic rename, so concurrent processes never
load a half-written file. Without a C compiler, or when the build fails, :func:`library` returns
``None`` and the engines use their torch implementations. Calls release the GIL, so slices of a
call run in parallel on a small thread pool sized by ``torch.get_num_threads()``.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path
from typing import Callable

import torch

from approxhil.atomic import atomic_path

SOURCE = Path(__file__).with_name("kernels.c")
_FLAGS = ["-O3", "-std=gnu99", "-shared", "-fPIC", "-fno-strict-aliasing"]
_I64 = ctypes.c_int64
_PTR = ctypes.c_void_p
_SIGNATURES = {
    "stack_lookup": [_PTR, _I64, _I64, _I64, _I64, _I64, _I64, _I64, _PTR, _I64, _PTR, _I64, _I64],
    "gather_conv": [_PTR, _PTR, _PTR, _PTR] + [_I64] * 15,
}


def cache_dir() -> Path:
    """Folder for compiled kernels: ``$APPROXHIL_CACHE/kernels`` or ``~/.cache/approxhil/kernels``."""
    root = os.environ.get("APPROXHIL_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "approxhil")
    return Path(root) / "kernels"


def _compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc") or shutil.which("clang")


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _build(compiler: str, target: Path) -> None:
    flags = list(_FLAGS)
    if platform.machine().lower() in ("x86_64", "amd64", "aarch64", "arm64"):
        flags.append("-march=native")
    with atomic_path(target, suffix=".so") as tmp:
        proc = subprocess.run(
            [compiler, *flags, str(SOURCE), "-o", str(tmp)], capture_output=True, text=True, timeout=120
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{compiler} failed: {proc.stderr.strip()[:500]}")


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The compiled kernels, building them on first use; ``None`` when no compiler works here."""
    if os.environ.get("APPROXHIL_NO_NATIVE"):
        return None
    compiler = _compiler()
    if compiler is None:
        return None
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
        key = hashlib.sha256(
            "\0".join([SOURCE.read_text(), compiler, version, platform.machine(), _cpu_flags(), " ".join(_FLAGS)]).encode()
        ).hexdigest()[:16]
        target = cache_dir() / f"approxhil_kernels_{key}.so"
        if not target.is_file():
            _build(compiler, target)
        lib = ctypes.CDLL(str(target))
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        warnings.warn(f"approxhil: C kernels unavailable ({exc}); using the slower torch engines", RuntimeWarning)
        return None
    for name, args in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = None
    return lib


_POOL: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, workers, pool)
_POOL_LOCK = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """The shared worker pool; rebuilt when the thread count changes or in a forked child (no threads there)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL[:2] != (os.getpid(), workers):
            if _POOL is not None and _POOL[0] == os.getpid():
                _POOL[2].shutdown(wait=False)
            _POOL = (os.getpid(), workers, ThreadPoolExecutor(max_workers=workers, thread_name_prefix="approxhil-kernel"))
        return _POOL[2]


def parallel(fn: Callable[..., None], items: int, *args: int, min_items: int = 1) -> None:
    """Run ``fn(*args, begin, end)`` over ``[0, items)`` split across ``torch.get_num_threads()`` threads."""
    workers = max(1, min(torch.get_num_threads(), items // max(1, min_items)))
    if workers == 1:
        fn(*args, 0, items)
        return
    bounds = [items * k // workers for k in range(workers + 1)]
    pool = _pool(workers)
    futures = [pool.submit(fn, *args, bounds[k], bounds[k + 1]) for k in range(1, workers)]
    fn(*args, bounds[0], bounds[1])
    for future in futures:
        future.result()
