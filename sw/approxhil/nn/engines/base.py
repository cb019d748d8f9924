"""What every engine shares: the layer geometry, the per-table plan (cached by sha256) and the registry.

An engine computes, for integer activations ``x_int`` and weights ``w_int`` (values -128..127), the
exact integer result of a convolution or linear layer in which every product is a table lookup:
``y[o] = Σ_k T(x_k, w_{o,k})``. It returns a tensor of whole numbers: ``float32`` only where every
value is provably below 2^24 (so exactly representable), otherwise ``float64``, ``int32`` or ``int64``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache, wraps

import numpy as np
import torch
from torch import Tensor

from approxhil.encoding import OFFSET
from approxhil.errors import SpecError
from approxhil.nn.engines.decompose import Decomposition, cached_decomposition
from approxhil.tables import table_sha256

#: Thread count whose probe verdicts apply while engines are timed at another count (:func:`timed_at_one_thread`).
_RESULT_THREADS: ContextVar[int | None] = ContextVar("_RESULT_THREADS", default=None)


def result_threads() -> int:
    """The PyTorch thread count results are computed with. oneDNN picks its kernels by thread count (on some
    VNNI CPUs its one-thread int8 kernel rounds sums above 2^24 that the two-thread one keeps exact), so an
    exactness probe's verdict holds for one count: probes are cached per count."""
    return _RESULT_THREADS.get() or torch.get_num_threads()


def per_thread_count(probe: Callable[[], bool]) -> Callable[[], bool]:
    """An exactness probe cached per :func:`result_threads` count, and run with that many PyTorch threads
    (so a verdict asked for while engines are timed on one thread is still the verdict for the real count)."""

    @lru_cache(maxsize=8)
    def at(threads: int) -> bool:
        saved = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            return probe()
        finally:
            torch.set_num_threads(saved)

    @wraps(probe)
    def verdict() -> bool:
        return at(result_threads())

    verdict.cache_clear = at.cache_clear  # type: ignore[attr-defined]
    return verdict


@contextlib.contextmanager
def timed_at_one_thread(threads: int) -> Iterator[None]:
    """While engines are timed on one thread (results discarded), judge exactness at ``threads``, the count
    the chosen engine will compute with."""
    token = _RESULT_THREADS.set(threads)
    try:
        yield
    finally:
        _RESULT_THREADS.reset(token)


#: ``auto`` considers the low-rank engines up to this many int8 components (the gather engines always).
AUTO_MAX_COMPONENTS = 24
#: Scratch memory one engine call may allocate per chunk (bytes).
CHUNK_BYTES = 64 << 20


@dataclass(frozen=True)
class Geometry:
    """Convolution parameters; a linear layer is a 1x1 convolution (``linear=True``)."""

    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    linear: bool = False

    def output_size(self, height: int, width: int, kh: int, kw: int) -> tuple[int, int]:
        oh = (height + 2 * self.padding[0] - self.dilation[0] * (kh - 1) - 1) // self.stride[0] + 1
        ow = (width + 2 * self.padding[1] - self.dilation[1] * (kw - 1) - 1) // self.stride[1] + 1
        return oh, ow


LINEAR = Geometry(linear=True)


def as_conv(x: Tensor, w: Tensor, geometry: Geometry) -> tuple[Tensor, Tensor]:
    """4-D views of a layer's operands: linear ``[M, F]`` becomes ``[M, F, 1, 1]``."""
    if geometry.linear:
        return x.reshape(x.shape[0], x.shape[1], 1, 1), w.reshape(w.shape[0], w.shape[1], 1, 1)
    return x, w


def pointwise_subsample(x: Tensor, w: Tensor, geometry: Geometry) -> tuple[Tensor, Geometry]:
    """A strided 1x1 convolution without padding reads every ``stride``-th pixel: drop the others first."""
    if geometry.linear or w.shape[2:] != (1, 1) or geometry.padding != (0, 0) or geometry.stride == (1, 1):
        return x, geometry
    sh, sw = geometry.stride
    return x[:, :, ::sh, ::sw], replace(geometry, stride=(1, 1))


def from_conv(y: Tensor, geometry: Geometry) -> Tensor:
    """Inverse of :func:`as_conv` for the output."""
    return y.reshape(y.shape[0], y.shape[1]) if geometry.linear else y


@dataclass(eq=False)
class TablePlan:
    """A table in [activation, weight] order and what engines derive from it, per device."""

    values: np.ndarray  # int32 [256, 256]
    digest: str
    _tensors: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __reduce__(self):  # pickling/deepcopy share the cached plan instead of copying locks
        return (plan_for, (self.values,))

    @cached_property
    def decomposition(self) -> Decomposition:
        return cached_decomposition(self.values)

    @cached_property
    def zero_row(self) -> bool:
        """``T(0, w) == 0`` for every ``w``: padding with code 0 then adds nothing."""
        return not self.values[OFFSET].any()

    @cached_property
    def max_abs(self) -> int:
        return int(np.abs(self.values.astype(np.int64)).max(initial=0))

    @cached_property
    def min_value(self) -> int:
        return int(self.values.min())

    @cached_property
    def max_value(self) -> int:
        return int(self.values.max())

    def tensor(self, key: str, device: torch.device, make: Callable[[], Tensor]) -> Tensor:
        """A derived tensor on ``device``, built once by ``make()`` (on the CPU) and cached."""
        slot = (key, str(device))
        with self._lock:
            hit = self._tensors.get(slot)
        if hit is None:
            hit = make().to(device)
            with self._lock:
                self._tensors[slot] = hit
        return hit

    def weight_major(self, device: torch.device) -> Tensor:
        """int32 ``[256 weight codes, 256 activation codes]`` (one contiguous column per weight)."""
        return self.tensor("weight_major", device, lambda: torch.from_numpy(np.ascontiguousarray(self.values.T)))


_PLANS: dict[str, TablePlan] = {}
_PLANS_LOCK = threading.Lock()


def plan_for(values: np.ndarray | Tensor) -> TablePlan:
    """The (cached) plan of an oriented int32 ``[256, 256]`` table."""
    if isinstance(values, Tensor):
        values = values.detach().cpu().numpy()
    values = np.ascontiguousarray(values, dtype=np.int32)
    digest = table_sha256(values)
    with _PLANS_LOCK:
        plan = _PLANS.get(digest)
        if plan is None:
            values = values.copy()
            values.setflags(write=False)
            plan = _PLANS[digest] = TablePlan(values=values, digest=digest)
    return plan


# --------------------------------------------------------------------------- registry
EngineFn = Callable[[Tensor, Tensor, TablePlan, Geometry], Tensor]
#: ``check(plan, device, w_shape)``: why an engine cannot compute this layer exactly here (``None``: it can).
CheckFn = Callable[[TablePlan, torch.device, tuple[int, ...]], "str | None"]


@dataclass(frozen=True)
class Engine:
    """A named way of computing table-lookup layers. ``run(x_int, w_int, plan, geometry)``.

    ``devices``: device types whose tensors it computes. ``gpu``: a torch-op implementation that runs on
    any device and is the default for CUDA tensors (on the CPU it is a slow reference path, which
    ``auto`` uses only when no CPU engine can run). ``family``: ``lowrank`` (factors of the table) or
    ``gather`` (a lookup per product). ``check``: exactness/availability on this machine. ``rank``:
    the static preference (lower first) where ``auto`` does not measure.
    """

    name: str
    run: EngineFn
    description: str
    gpu: bool = False
    devices: tuple[str, ...] = ("cpu",)
    family: str = "gather"
    check: CheckFn | None = None
    rank: int = 50

    def __call__(self, x_int: Tensor, w_int: Tensor, plan: TablePlan, geometry: Geometry) -> Tensor:
        return self.run(x_int, w_int, plan, geometry)

    def runs_on(self, device: torch.device) -> bool:
        return self.gpu or device.type in self.devices

    def unavailable(self, plan: TablePlan, device: torch.device, w_shape: tuple[int, ...] = ()) -> str | None:
        """Why this engine cannot compute a layer with weights ``w_shape`` exactly on ``device`` (``None``: it can)."""
        if not self.runs_on(device):
            return f"it computes {' and '.join(self.devices)} tensors, not {device.type}"
        return self.check(plan, device, tuple(w_shape)) if self.check is not None else None


_REGISTRY: dict[str, Engine] = {}


def register(engine: Engine) -> Engine:
    """Add an engine to the registry (by its name)."""
    _REGISTRY[engine.name] = engine
    return engine


def engine_names() -> list[str]:
    """Registered engine names, plus ``auto``."""
    _load_builtin()
    return ["auto", *sorted(_REGISTRY)]


def engines() -> list[Engine]:
    """Every registered engine, in static preference order."""
    _load_builtin()
    return sorted(_REGISTRY.values(), key=lambda e: (e.rank, e.name))


def check_engine_name(name: str) -> str:
    """Validate an engine name (``auto`` or a registered engine)."""
    names = engine_names()
    if name not in names:
        raise SpecError(f"unknown engine {name!r}", fix=f"use one of: {', '.join(names)}")
    return name


def get_engine(name: str) -> Engine:
    """The registered engine ``name`` (not ``auto``; see :func:`select_engine`)."""
    _load_builtin()
    if name not in _REGISTRY:
        raise SpecError(f"unknown engine {name!r}", fix=f"use one of: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def select_engine(
    name: str,
    plan: TablePlan,
    device: torch.device,
    x: Tensor | None = None,
    w: Tensor | None = None,
    geometry: Geometry | None = None,
) -> Engine:
    """The engine that computes a layer: ``name`` itself, or for ``auto`` the fastest exact one here.

    ``auto`` with the layer's operands measures the exact candidates on first use and caches the
    winner (:mod:`approxhil.nn.engines.auto`); without operands it returns the static preference.
    A named CPU engine given CUDA tensors runs its ``-gpu`` variant. A named engine that is not exact or
    not available here raises :class:`~approxhil.nn.errors.EngineError` naming the one to use.
    """
    check_engine_name(name)
    from approxhil.nn.engines import auto  # the measured choice builds on this registry

    w_shape = tuple(w.shape) if w is not None else ()
    if name == "auto":
        return auto.choose(plan, device, x, w, geometry)
    engine = get_engine(name)
    if not engine.runs_on(device) and f"{name}-gpu" in _REGISTRY:
        engine = get_engine(f"{name}-gpu")
    reason = engine.unavailable(plan, device, w_shape)
    if reason is not None:
        from approxhil.nn.errors import EngineError

        use = auto.static_choice(plan, device, w_shape, family=engine.family)
        raise EngineError(
            f"engine {engine.name!r} cannot compute this layer exactly here: {reason}",
            fix=f"use engine={use.name!r}, or 'auto' (the fastest exact engine on this machine)",
        )
    return engine


def _load_builtin() -> None:
    import approxhil.nn.engines.floatconv
    import approxhil.nn.engines.gather
    import approxhil.nn.engines.gpu_kernel
    import approxhil.nn.engines.lowrank  # noqa: F401 - registers lowrank, lowrank-gpu
