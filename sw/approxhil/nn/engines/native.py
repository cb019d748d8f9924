"""Build, cache and call the C kernels in ``kernels.c`` (ctypes; no torch headers, sub-second build).

The shared library is compiled once per source/compiler/flags/CPU combination into the user cache
folder (:func:`cache_dir`) with an atomic rename, so concurrent processes never load a
half-written file. Without a C compiler, or when the build fails, :func:`library` returns ``None``
and ``auto`` uses other engines. Calls release the GIL, so slices of a call run in parallel on a
small thread pool sized by ``torch.get_num_threads()``.

``APPROXHIL_KERNEL_FLAGS=portable`` builds without ``-march=native`` (plain ``-O3``): the kernels are
portable C and must give the same results either way; the tests check that build too (and an aarch64
cross build under qemu where the tools are installed).
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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import torch

from approxhil.atomic import atomic_path
from approxhil.cache import cache_dir as approxhil_cache_dir
from approxhil.nn.errors import KernelError

SOURCE = Path(__file__).with_name("kernels.c")
_FLAGS = ["-O3", "-std=gnu99", "-shared", "-fPIC", "-fno-strict-aliasing"]
_I64 = ctypes.c_int64
_PTR = ctypes.c_void_p
_SIGNATURES = {
    "stack_lookup": [_PTR, _I64, _I64, _I64, _I64, _I64, _I64, _I64, _PTR, _I64, _PTR, _I64, _I64],
    "stack_lookup_f32": [_PTR, _I64, _I64, _I64, _I64, _I64, _I64, _I64, _PTR, _I64, _PTR, _I64, _I64],
    "gather_conv": [_PTR, _PTR, _PTR, _PTR] + [_I64] * 15,
    "gather_conv_packed": [_PTR, _PTR, _PTR, _PTR] + [_I64] * 19,
}


def cache_dir() -> Path:
    """Folder for compiled kernels: ``kernels`` in the toolkit's cache folder (:func:`approxhil.cache.cache_dir`)."""
    return approxhil_cache_dir("kernels")


def _compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc") or shutil.which("clang")


@lru_cache(maxsize=1)
def cpu_flags() -> str:
    """The CPU's feature flags (/proc/cpuinfo `flags` on x86, `Features` on ARM), or its processor name."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def build_flags(portable: bool | None = None) -> list[str]:
    """Compiler flags: ``-O3`` etc., plus ``-march=native`` unless ``portable``.

    ``$APPROXHIL_KERNEL_FLAGS`` chooses when ``portable`` is not given: ``portable`` (plain ``-O3``),
    ``native`` (the default), or flags that replace ``-march=native`` — e.g. ``-march=x86-64-v3`` builds
    for AVX2 without AVX-512, to measure an AVX2-only CPU on a newer one.
    """
    setting = os.environ.get("APPROXHIL_KERNEL_FLAGS", "").strip()
    if portable is None:
        portable = setting.lower() == "portable"
    flags = list(_FLAGS)
    if portable:
        return flags
    if setting and setting.lower() not in ("native", "portable"):
        return flags + setting.split()
    if platform.machine().lower() in ("x86_64", "amd64", "aarch64", "arm64"):
        flags.append("-march=native")
    return flags


def _build(compiler: str, flags: list[str], target: Path) -> None:
    with atomic_path(target, suffix=".so") as tmp:
        proc = subprocess.run([compiler, *flags, str(SOURCE), "-o", str(tmp)], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise KernelError(
                f"{compiler} failed to build the C kernels: {proc.stderr.strip()[:500]}",
                fix="install a working gcc or clang (or set CC), or use the torch engines",
            )


def load(portable: bool | None = None) -> ctypes.CDLL:
    """Build (once, cached on disk) and load the kernels; raises :class:`KernelError` when that fails."""
    compiler = _compiler()
    if compiler is None:
        raise KernelError("no C compiler found for the C kernels", fix="install gcc or clang, or set CC")
    flags = build_flags(portable)
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
        key = hashlib.sha256(
            "\0".join([SOURCE.read_text(), compiler, version, platform.machine(), cpu_flags(), " ".join(flags)]).encode()
        ).hexdigest()[:16]
        target = cache_dir() / f"approxhil_kernels_{key}.so"
        if not target.is_file():
            try:
                _build(compiler, flags, target)
            except KernelError:
                if "-march=native" not in flags:
                    raise
                return load(portable=True)  # a compiler that does not know -march=native here: plain -O3
        lib = ctypes.CDLL(str(target))
    except (OSError, subprocess.SubprocessError) as exc:
        raise KernelError(
            f"C kernels unavailable: {exc}", fix=f"check the compiler and the cache folder {cache_dir()} (or set APPROXHIL_CACHE)"
        ) from exc
    for name, args in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.argtypes = args
        fn.restype = ctypes.c_int
    return lib


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The compiled kernels, building them on first use; ``None`` when they cannot be built here."""
    if os.environ.get("APPROXHIL_NO_NATIVE"):
        return None
    try:
        return load()
    except KernelError as exc:
        warnings.warn(f"approxhil: {exc}; the C engines are unavailable", RuntimeWarning, stacklevel=2)
        return None


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


def parallel(fn: Callable[..., int], items: int, *args: int, min_items: int = 1) -> None:
    """Run ``fn(*args, begin, end)`` over ``[0, items)`` split across ``torch.get_num_threads()`` threads.

    A kernel returns non-zero when it could not allocate its scratch memory; that raises :class:`KernelError`.
    """
    workers = max(1, min(torch.get_num_threads(), items // max(1, min_items)))
    if workers == 1:
        status = [fn(*args, 0, items)]
    else:
        bounds = [items * k // workers for k in range(workers + 1)]
        pool = _pool(workers)
        futures = [pool.submit(fn, *args, bounds[k], bounds[k + 1]) for k in range(1, workers)]
        status = [fn(*args, bounds[0], bounds[1])] + [future.result() for future in futures]
    if any(status):
        raise KernelError(
            f"C kernel {getattr(fn, '__name__', 'call')} ran out of memory",
            fix="use smaller batches or fewer threads (torch.set_num_threads)",
        )
