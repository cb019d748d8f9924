"""What every engine shares: the layer geometry, the per-table plan (cached by sha256) and the registry.

An engine computes, for integer activations ``x_int`` and weights ``w_int`` (values -128..127), the
exact integer result of a convolution or linear layer in which every product is a table lookup:
``y[o] = Σ_k T(x_k, w_{o,k})``. It returns a tensor of whole numbers: ``float32`` only where every
value is provably below 2^24 (so exactly representable), otherwise ``float64``, ``int32`` or ``int64``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from approxhil.errors import SpecError
from approxhil.nn.engines.decompose import Decomposition, cached_decomposition
from approxhil.tables import table_sha256

OFFSET = 128
#: ``auto`` uses the low-rank engine up to this many int8 components, the gather engine above.
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


@dataclass(frozen=True)
class Engine:
    """A named way of computing table-lookup layers. ``run(x_int, w_int, plan, geometry)``."""

    name: str
    run: EngineFn
    description: str
    gpu: bool = False  # a torch-op implementation that CUDA tensors use (it runs on any device)

    def __call__(self, x_int: Tensor, w_int: Tensor, plan: TablePlan, geometry: Geometry) -> Tensor:
        return self.run(x_int, w_int, plan, geometry)


_REGISTRY: dict[str, Engine] = {}


def register(engine: Engine) -> Engine:
    """Add an engine to the registry (by its name)."""
    _REGISTRY[engine.name] = engine
    return engine


def engine_names() -> list[str]:
    """Registered engine names, plus ``auto``."""
    _load_builtin()
    return ["auto", *sorted(_REGISTRY)]


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


def select_engine(name: str, plan: TablePlan, device: torch.device) -> Engine:
    """Resolve ``name`` for a table and device: ``auto`` picks low-rank for few int8 components, gather
    otherwise; on a GPU the torch-op variants (``lowrank-gpu``, ``gather-gpu``) run."""
    check_engine_name(name)
    if name == "auto":
        name = "lowrank" if plan.decomposition.components <= AUTO_MAX_COMPONENTS else "gather"
    engine = get_engine(name)
    if device.type != "cpu" and not engine.gpu:
        engine = get_engine(f"{name}-gpu")
    return engine


def _load_builtin() -> None:
    import approxhil.nn.engines.gather  # noqa: F401 - registers gather, gather-gpu
    import approxhil.nn.engines.lowrank  # noqa: F401 - registers lowrank, lowrank-gpu
