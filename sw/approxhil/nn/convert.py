"""Convert a model's ``nn.Conv2d`` / ``nn.Linear`` layers into approximate layers, and switch them as a group."""

from __future__ import annotations

import copy
import fnmatch
import itertools
from collections.abc import Iterable, Mapping

import torch
from torch import nn

from approxhil.errors import SpecError
from approxhil.nn.errors import LayerError
from approxhil.nn.layers import MODES, ApproxConv2d, ApproxLayerMixin, ApproxLinear
from approxhil.nn.multiplier import MultiplierLike, layer_table

MultiplierArg = MultiplierLike | Mapping[str, MultiplierLike]

#: Layer types that hold multiplications but have no approximate counterpart: converting a model
#: that contains one fails (naming the layer) unless the layer is excluded.
_UNSUPPORTED = (nn.modules.conv._ConvNd, nn.Linear, nn.Bilinear, nn.MultiheadAttention)


def approx_layers(model: nn.Module, required: bool = False) -> dict[str, ApproxLayerMixin]:
    """Every approximate layer of ``model`` by qualified name, in module order.

    ``required``: a model without any is a :class:`LayerError` (callers that measure, fit or retrain
    approximate layers need at least one).
    """
    layers = {name: m for name, m in model.named_modules() if isinstance(m, ApproxLayerMixin)}
    if required and not layers:
        raise LayerError("the model has no approximate layers", fix="convert it with approxhil.nn.approximate()")
    return layers


def set_mode(model: nn.Module, mode: str) -> nn.Module:
    """Set every approximate layer to ``mode`` (``float``, ``quant`` or ``behavioral``)."""
    if mode not in MODES:
        raise LayerError(f"unknown mode {mode!r}", fix=f"use one of: {', '.join(MODES)}")
    for layer in approx_layers(model).values():
        layer.mode = mode
    return model


def set_multiplier(model: nn.Module, multiplier: MultiplierArg, operand_a: str | None = None) -> nn.Module:
    """Give every approximate layer ``multiplier`` (or ``{layer_name: multiplier}``, covering every layer)."""
    layers = approx_layers(model)
    tables = _per_layer(multiplier, list(layers), operand_a)
    for name, layer in layers.items():
        layer.set_multiplier(tables[name], operand_a)
    return model


def approximate(
    model: nn.Module,
    multiplier: MultiplierArg | None,
    exclude: Iterable[str] = (),
    operand_a: str | None = None,
    inplace: bool = False,
    engine: str = "auto",
    mode: str | None = None,
) -> nn.Module:
    """Replace every ``nn.Conv2d`` and ``nn.Linear`` of ``model`` (not in ``exclude``) by an approximate layer.

    ``multiplier``: a :class:`~approxhil.tables.TruthTable`, a name or file path accepted by
    :func:`approxhil.multipliers.resolve_table`, a dict ``{layer_name: multiplier}`` covering every
    converted layer, or ``None`` (set it later). ``exclude``: qualified layer names or glob patterns.
    ``operand_a`` (``activation``/``weight``): which tensor feeds operand A; ``None`` keeps each
    table's record (``activation`` for names). Weights and biases are the same ``Parameter`` objects,
    so an optimizer built on the converted model's parameters keeps working. Layers already
    approximate get the new multiplier. Other layers with multiplications (transposed or 1-D/3-D
    convolutions, ``padding_mode != 'zeros'``, attention) raise :class:`LayerError` unless excluded.
    Returns the converted model (a deep copy unless ``inplace``).
    """
    exclude = list(exclude)
    names = [name for name, _ in model.named_modules() if name]
    for pattern in exclude:
        if not any(fnmatch.fnmatchcase(name, pattern) for name in names):
            raise SpecError(f"exclude: no layer matches {pattern!r}", fix="print(model) to see the layer names")
    if not inplace:
        model = copy.deepcopy(model)
    targets = _targets(model, exclude)
    tables = _per_layer(multiplier, [name for name, _ in targets], operand_a) if multiplier is not None else {}
    for name, module in targets:
        table = tables.get(name)
        if isinstance(module, ApproxLayerMixin):
            module.set_name(name)
            if table is not None:
                module.set_multiplier(table, operand_a)
            module.engine = engine
            if mode is not None:
                module.mode = mode
            continue
        layer = _convert(module, name, table, operand_a, engine, mode)
        _replace(model, name, layer)
    return model


def _excluded(name: str, exclude: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) or name.startswith(p + ".") for p in exclude)


def _targets(model: nn.Module, exclude: list[str]) -> list[tuple[str, nn.Module]]:
    targets = []
    for name, module in model.named_modules():
        if not name or _excluded(name, exclude):
            continue
        if isinstance(module, ApproxLayerMixin) or type(module) in (nn.Conv2d, nn.Linear):
            if type(module) is nn.Conv2d and module.padding_mode != "zeros":
                raise LayerError(
                    f"layer {name}: Conv2d with padding_mode={module.padding_mode!r} cannot be approximated "
                    "(the accelerator pads with zeros)",
                    fix=f"use padding_mode='zeros' or pass exclude=[{name!r}]",
                )
            targets.append((name, module))
        elif isinstance(module, _UNSUPPORTED) and not _inside(name, targets):
            raise LayerError(
                f"layer {name}: {type(module).__name__} is not supported by the approximate simulation",
                fix=f"pass exclude=[{name!r}] to keep it exact",
            )
    return targets


def _inside(name: str, targets: list[tuple[str, nn.Module]]) -> bool:
    return any(name.startswith(t + ".") for t, _ in targets)


def _per_layer(multiplier: MultiplierArg, names: list[str], operand_a: str | None) -> dict[str, object]:
    """Resolve ``multiplier`` once per distinct value, validated against each layer it serves."""
    if isinstance(multiplier, Mapping):
        unknown = sorted(set(multiplier) - set(names))
        if unknown:
            raise SpecError(f"multiplier dict names layers that are not converted: {unknown}", fix=f"approximated layers are: {names}")
        missing = [n for n in names if n not in multiplier]
        if missing:
            raise SpecError(f"multiplier dict has no entry for layers {missing}", fix="add them to the dict or to exclude=")
        resolved: dict[int, object] = {}
        out = {}
        for name in names:
            value = multiplier[name]
            if id(value) not in resolved:
                resolved[id(value)] = layer_table(value, name, operand_a)
            out[name] = layer_table(resolved[id(value)], name, operand_a)
        return out
    if not names:
        return {}
    table = layer_table(multiplier, names[0], operand_a)
    return {name: table for name in names}


def _convert(module: nn.Module, name: str, table: object, operand_a: str | None, engine: str, mode: str | None) -> nn.Module:
    device, dtype = module.weight.device, module.weight.dtype
    if isinstance(module, nn.Conv2d):
        layer: nn.Module = ApproxConv2d(
            module.in_channels,
            module.out_channels,
            module.kernel_size,
            module.stride,
            module.padding,
            module.dilation,
            module.groups,
            module.bias is not None,
            module.padding_mode,
            device,
            dtype,
            engine=engine,
            operand_a=operand_a,
        )
    else:
        layer = ApproxLinear(
            module.in_features, module.out_features, module.bias is not None, device, dtype, engine=engine, operand_a=operand_a
        )
    layer.set_name(name)
    layer.weight = module.weight
    if module.bias is not None:
        layer.bias = module.bias
    if table is not None:
        layer.set_multiplier(table, operand_a)
    layer.mode = mode if mode is not None else ("behavioral" if table is not None else "quant")
    layer.train(module.training)
    return layer


def _replace(model: nn.Module, name: str, layer: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, layer)


def model_device(model: nn.Module) -> torch.device:
    """The device a model's parameters (or buffers) live on: where the data it is given must go."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")
