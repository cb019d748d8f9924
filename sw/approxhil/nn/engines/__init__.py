"""Engines that compute approximate layers bit-exactly: ``lowrank``, ``gather`` and their GPU variants.

``get_engine(name)`` returns a registered engine; ``select_engine("auto", plan, device)`` picks the
low-rank engine when the table factors into few int8 components, the gather engine otherwise, and
the torch-op (``-gpu``) variants for CUDA tensors. Per-table work (decompositions, derived tensors)
is cached by the table's sha256 (:func:`plan_for`).
"""

from approxhil.nn.engines.base import (
    AUTO_MAX_COMPONENTS,
    LINEAR,
    Engine,
    Geometry,
    TablePlan,
    check_engine_name,
    engine_names,
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
    "get_engine",
    "plan_for",
    "register",
    "select_engine",
]
