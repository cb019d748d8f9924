"""Engines that compute approximate layers bit-exactly.

CPU: ``lowrank`` (int8 factors in oneDNN's int8 convolution; exact with VNNI/AMX), ``lowrank-f32``
(the same factors in float32, exact by a 2^24 bound on any CPU), ``gather`` (a C lookup kernel, any
table). CUDA: ``gather-cuda`` (a CUDA kernel, any table). Any device: ``lowrank-gpu`` and ``gather-gpu``
(torch ops). ``get_engine(name)`` returns a registered engine; ``select_engine(name, plan, device, x, w,
geometry)`` checks a named engine is exact here (or raises naming the one to use) and resolves ``auto``
to the fastest exact engine, measured per layer workload (:mod:`auto`, cached by :mod:`tuning`).
Per-table work (decompositions, derived tensors) is cached by the table's sha256 (:func:`plan_for`).
"""

from approxhil.nn.engines.base import (
    AUTO_MAX_COMPONENTS,
    LINEAR,
    Engine,
    Geometry,
    TablePlan,
    check_engine_name,
    engine_names,
    engines,
    get_engine,
    plan_for,
    register,
    select_engine,
)
from approxhil.nn.engines.decompose import Decomposition, cached_decomposition, decompose

__all__ = [
    "AUTO_MAX_COMPONENTS",
    "LINEAR",
    "Decomposition",
    "Engine",
    "Geometry",
    "TablePlan",
    "cached_decomposition",
    "check_engine_name",
    "decompose",
    "engine_names",
    "engines",
    "get_engine",
    "plan_for",
    "register",
    "select_engine",
]
