"""``ApproxConv2d`` and ``ApproxLinear``: drop-in layers whose products go through a multiplier's table.

Modes (``layer.mode``):

* ``float``      — the plain float layer (no quantization);
* ``quant``      — exact 8-bit quantized layer (fake-quantized operands, float convolution); if
  ``output_perturbation`` is set, its output replaces the pre-bias result (error-model injection);
* ``behavioral`` — every integer product ``x_int · w_int`` is looked up in the table, summed exactly
  and rescaled by ``Δx·Δw``; the backward pass follows ``layer.gradient``: straight-through by default
  (the gradient of the exact quantized layer, paper eq. 13), or derivatives taken from the table itself
  (``lut-diff``, ``lut-1d``: :mod:`approxhil.nn.gradients`).

A layer built with a multiplier starts in ``behavioral`` mode, one without in ``quant``. Activation
steps come from :func:`approxhil.quant.calibrate`; weight steps follow the weights every forward.

The forward lives in :class:`ApproxLayerMixin`; each layer supplies its exact float op, its
backward and its engine geometry. The table is a buffer (int32 ``[256, 256]`` indexed
``[activation + 128, weight + 128]``); its name, sha256, encoding and operand role travel in the
module's extra state, and loading a checkpoint re-verifies the checksum.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from approxhil.errors import TableError
from approxhil.multipliers.golden import golden_table
from approxhil.nn.engines import LINEAR, Geometry, TablePlan, check_engine_name, plan_for, select_engine
from approxhil.nn.errors import LayerError
from approxhil.nn.gradients import STE, Gradient, GradientPlan, backend_for, gradient_plan, table_backward
from approxhil.nn.multiplier import MultiplierLike, layer_table, oriented_values
from approxhil.quant import QMAX, QMIN, Quantizer
from approxhil.tables import table_sha256

MODES = ("float", "quant", "behavioral")
_EXACT_PLAN: TablePlan | None = None


def _exact_plan() -> TablePlan:
    global _EXACT_PLAN
    if _EXACT_PLAN is None:
        _EXACT_PLAN = plan_for(oriented_values(golden_table("0000")))
    return _EXACT_PLAN


class _Behavioral(torch.autograd.Function):
    """Forward: table-lookup layer on the integer operands. Backward: the exact quantized layer's gradient
    (straight-through), or the table's own derivatives when the layer's gradient estimator gives them."""

    @staticmethod
    def forward(ctx: Any, xq: Tensor, wq: Tensor, x_int: Tensor, w_int: Tensor, scale: Tensor, layer: ApproxLayerMixin) -> Tensor:  # type: ignore[override]
        y_int = layer.integer_result(x_int, w_int)
        ctx.layer = layer
        ctx.plan = layer.gradient_plan() if any(ctx.needs_input_grad[:2]) else None
        if ctx.plan is None:
            ctx.save_for_backward(xq, wq)
        else:  # int8 codes (a quarter of the float operands' memory) and the steps of this forward
            ctx.dtype = xq.dtype
            ctx.save_for_backward(
                x_int.to(torch.int8),
                w_int.to(torch.int8),
                layer.act_quant.delta.detach().clone(),
                layer.weight_quant.delta.detach().clone(),
            )
        return _rescale(y_int, scale, xq)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if ctx.plan is None:
            xq, wq = ctx.saved_tensors
            gx, gw = ctx.layer._exact_backward(grad, xq, wq, need_x, need_w)
            return gx, gw, None, None, None, None
        x_int, w_int, dx, dw = ctx.saved_tensors
        gx, gw = ctx.layer.table_backward(grad, x_int, w_int, ctx.plan, need_x, need_w)
        # y = Δx·Δw·Σ T(x_int, w_int) with x_int = x_q / Δx: ∂y/∂x_q = Δw·Σ g·Ga, ∂y/∂w_q = Δx·Σ g·Gb
        gx = (gx * dw.to(gx.dtype)).to(ctx.dtype) if gx is not None else None
        gw = (gw * dx.to(gw.dtype)).to(ctx.dtype) if gw is not None else None
        return gx, gw, None, None, None, None


def _memory_format(x: Tensor) -> torch.memory_format:
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def _rescale(y_int: Tensor, scale: Tensor, like: Tensor) -> Tensor:
    """``y_int · Δx·Δw`` in ``like``'s dtype and memory format (torch's convolutions follow their input).

    The integer sums convert to the working dtype first, then multiply, so every engine (whatever
    dtype it returns the same integers in) gives the same bits. Half precision works in float32:
    the sums would overflow it.
    """
    work = torch.promote_types(like.dtype, torch.float32)
    fmt = _memory_format(like) if y_int.dim() == 4 else torch.contiguous_format
    out = torch.empty(y_int.shape, dtype=work, device=y_int.device, memory_format=fmt)
    torch.mul(y_int.to(work), scale.to(work), out=out)
    return out if work == like.dtype else out.to(like.dtype)


class ApproxLayerMixin:
    """Quantizers, table, modes, engines and the hooks the error model uses; shared by both layers."""

    weight: nn.Parameter
    bias: nn.Parameter | None
    table: Tensor | None

    def _init_approx(self, multiplier: MultiplierLike | None, mode: str | None, engine: str, operand_a: str | None) -> None:
        self.layer_name = type(self).__name__
        self._mode = "quant"
        self.act_quant = Quantizer(dynamic=False)
        self.weight_quant = Quantizer(dynamic=True)
        self.register_module("output_perturbation", None)
        self.register_module("weight_perturbation", None)
        self.register_buffer("table", None)
        self.multiplier_name: str | None = None
        self.multiplier_sha256: str | None = None
        self.multiplier_encoding: str | None = None
        self.operand_a = operand_a
        self._plan: TablePlan | None = None
        self.engine = engine
        self.engine_used: str | None = None  # the engine of the last behavioral forward (auto's choice)
        self.gradient: Gradient = STE  # the behavioral backward pass (approxhil.nn.gradients.set_gradient)
        self.gradient_backend: str | None = None  # the backend of the last table-derived backward pass
        if multiplier is not None:
            self.set_multiplier(multiplier, operand_a)
        self.mode = mode if mode is not None else ("behavioral" if multiplier is not None else "quant")

    # ----------------------------------------------------------------- settings
    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise LayerError(f"{self._who()}: unknown mode {value!r}", fix=f"use one of: {', '.join(MODES)}")
        self._mode = value

    @property
    def engine(self) -> str:
        return self._engine

    @engine.setter
    def engine(self, value: str) -> None:
        self._engine = check_engine_name(value)

    def set_name(self, name: str) -> None:
        """Name used in error messages (``approximate`` sets the module's qualified name)."""
        self.layer_name = name
        self.act_quant.owner = f"layer {name}"
        self.weight_quant.owner = f"layer {name} (weights)"

    def set_multiplier(self, multiplier: MultiplierLike | None, operand_a: str | None = None) -> None:
        """Use ``multiplier`` (table, name or file) for this layer's products; ``None`` removes it."""
        if multiplier is None:
            self.table = None
            self.multiplier_name = self.multiplier_sha256 = self.multiplier_encoding = None
            self._plan = None
            return
        role = operand_a if operand_a is not None else self.operand_a
        table = layer_table(multiplier, self.layer_name, role)
        values = torch.from_numpy(oriented_values(table)).to(self.weight.device)
        self.table = values
        self.multiplier_name = table.name
        self.multiplier_sha256 = table.sha256
        self.multiplier_encoding = table.encoding.value
        self.operand_a = table.operand_a
        self._plan = plan_for(values)

    def _who(self) -> str:
        return f"layer {getattr(self, 'layer_name', type(self).__name__)}"

    def plan(self) -> TablePlan:
        """The engine plan of this layer's table (raises when no multiplier is set)."""
        if self.table is None:
            raise LayerError(
                f"{self._who()}: no multiplier set for behavioral simulation",
                fix="pass multiplier= or call set_multiplier(...) / approxhil.nn.set_multiplier(model, ...)",
            )
        if self._plan is None:
            self._plan = plan_for(self.table)
        return self._plan

    # ----------------------------------------------------------------- state
    def get_extra_state(self) -> dict[str, Any]:
        return {
            "name": self.multiplier_name,
            "sha256": self.multiplier_sha256,
            "encoding": self.multiplier_encoding,
            "operand_a": self.operand_a,
        }

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self.multiplier_name = state.get("name")
        self.multiplier_sha256 = state.get("sha256")
        self.multiplier_encoding = state.get("encoding")
        self.operand_a = state.get("operand_a")

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args: Any, **kwargs: Any) -> None:
        key = prefix + "table"
        if key in state_dict and self.table is None:
            self.table = torch.empty((256, 256), dtype=torch.int32, device=self.weight.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)  # type: ignore[misc]
        self._plan = None
        if key in state_dict and self.multiplier_sha256 is not None and self.table is not None:
            values = self.table.detach().cpu().numpy()
            if self.operand_a == "weight":
                values = values.T
            digest = table_sha256(values)
            if digest != self.multiplier_sha256:
                raise TableError(
                    f"{self._who()}: table in the checkpoint fails its checksum "
                    f"(recorded {self.multiplier_sha256[:12]}…, table hashes to {digest[:12]}…)",
                    fix="the checkpoint was modified or damaged; set the multiplier again from its table file",
                )

    # ----------------------------------------------------------------- forward
    def _check_finite(self, x: Tensor) -> None:
        if not x.is_floating_point():
            raise LayerError(
                f"{self._who()}: input is {x.dtype}; approximate layers take real-valued (float) activations and quantize them",
                fix="pass x.float() (integer operands go through integer_result())",
            )
        if not torch.isfinite(x).all():
            raise LayerError(
                f"{self._who()}: input holds NaN or inf",
                fix="check the data and the layers before this one (learning rate, overflow)",
            )

    def _quantized(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """``(x_q, w_q, x_int, w_int, Δx·Δw)`` for input ``x``."""
        self._check_finite(x)
        weight = self._effective_weight()
        xq, x_int = self.act_quant(x)
        wq, w_int = self.weight_quant(weight)
        scale = self.act_quant.delta * self.weight_quant.delta
        return xq, wq, x_int, w_int, scale

    def _effective_weight(self) -> Tensor:
        return self.weight if self.weight_perturbation is None else self.weight_perturbation(self.weight)

    def forward(self, x: Tensor) -> Tensor:
        if self._mode == "float":
            return self._exact_op(x, self._effective_weight(), self.bias)
        xq, wq, x_int, w_int, scale = self._quantized(x)
        if self._mode == "quant":
            if self.output_perturbation is None:
                return self._exact_op(xq, wq, self.bias)
            y = self.output_perturbation(self._exact_op(xq, wq, None))
        else:
            y = _Behavioral.apply(xq, wq, x_int, w_int, scale, self)
        return self.add_bias(y)

    def add_bias(self, y: Tensor) -> Tensor:
        """``y + bias`` over the channel dimension (pre-bias outputs from hooks and measurements)."""
        return y if self.bias is None else y + self.bias.view(1, -1, 1, 1)

    # ----------------------------------------------------------------- integer interface
    def integer_result(self, x_int: Tensor, w_int: Tensor, plan: TablePlan | None = None) -> Tensor:
        """Exact table-lookup sums (whole numbers, engine dtype) for integer operands.

        The engine that ran is recorded in ``engine_used`` (for ``auto``: the measured choice).
        """
        plan = plan or self.plan()
        x2, unflatten = self._flatten_input(x_int)
        geometry = self.geometry()
        engine = select_engine(self._engine, plan, x2.device, x2, w_int, geometry)
        self.engine_used = engine.name
        return unflatten(engine(x2, w_int, plan, geometry))

    def integer_output(self, x_int: Tensor, w_int: Tensor) -> Tensor:
        """Pre-bias integer output (int64) of the table engine for integer operands in -128..127."""
        for label, t in (("activation", x_int), ("weight", w_int)):
            if t.numel() and (t.min() < QMIN or t.max() > QMAX or (t.is_floating_point() and not torch.equal(t, t.round()))):
                raise LayerError(
                    f"{self._who()}: {label} operands must be integers in {QMIN}..{QMAX}",
                    fix="pass the codes returned by int_operands(x)",
                )
        with torch.no_grad():
            return self.integer_result(x_int, w_int).to(torch.int64)

    def int_operands(self, x: Tensor) -> tuple[Tensor, Tensor, float]:
        """``(x_int, w_int, Δx·Δw)``: int32 operand codes and the output scale for input ``x``."""
        with torch.no_grad():
            _, _, x_int, w_int, scale = self._quantized(x)
        return x_int.to(torch.int32), w_int.to(torch.int32), float(scale)

    def exact_and_approx(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Pre-bias ``(y_exact, y_approx)`` for the same quantized operands, both from exact integer sums."""
        with torch.no_grad():
            _, _, x_int, w_int, scale = self._quantized(x)
            exact = self.integer_result(x_int, w_int, _exact_plan())
            approx = self.integer_result(x_int, w_int)
            return _rescale(exact, scale, x), _rescale(approx, scale, x)

    def _flatten_input(self, x: Tensor):
        return x, lambda y: y

    # ----------------------------------------------------------------- table-derived gradients
    def gradient_plan(self) -> GradientPlan | None:
        """The gradient tables of this layer's estimator, or ``None`` where the backward is the straight-through
        one (``ste``, or an estimator that gives the exact derivatives, as every one does for the exact table)."""
        gradient = getattr(self, "gradient", STE)
        if gradient.estimator == "ste":
            return None
        table = self.plan()
        plan = gradient_plan(table.values, gradient, table.digest)
        return None if plan.exact else plan

    def table_backward(
        self, grad: Tensor, x_int: Tensor, w_int: Tensor, plan: GradientPlan, need_x: bool = True, need_w: bool = True
    ) -> tuple[Tensor | None, Tensor | None]:
        """``(Σ g·Ga, Σ g·Gb)`` in integer-operand units (float32) for the output gradient ``grad``.

        The backend follows the layer's engine setting (:func:`approxhil.nn.gradients.backend_for`) and is
        recorded in ``gradient_backend``.
        """
        x2, _ = self._flatten_input(x_int)
        g2, _ = self._flatten_input(grad)
        backend = backend_for(self._engine, plan, grad.device)
        self.gradient_backend = backend
        gx, gw = table_backward(backend, g2, x2, w_int, plan, self.geometry(), need_x, need_w)
        return (gx.reshape(x_int.shape) if gx is not None else None), gw

    # ----------------------------------------------------------------- per-layer hooks
    def _exact_op(self, x: Tensor, w: Tensor, bias: Tensor | None) -> Tensor:
        raise NotImplementedError

    def _exact_backward(self, grad: Tensor, xq: Tensor, wq: Tensor, need_x: bool, need_w: bool) -> tuple[Tensor | None, Tensor | None]:
        raise NotImplementedError

    def geometry(self) -> Geometry:
        """Stride, padding, dilation and groups of the layer's integer operation."""
        raise NotImplementedError

    def _approx_repr(self) -> str:
        table = "none" if self.multiplier_name is None else f"{self.multiplier_name} ({self.multiplier_sha256[:12]})"
        gradient = getattr(self, "gradient", STE)
        extra = "" if gradient == STE else f", gradient={gradient.label}"
        return f"multiplier={table}, mode={self._mode}, engine={self._engine}, operand_a={self.operand_a}{extra}"


class ApproxConv2d(ApproxLayerMixin, nn.Conv2d):
    """``nn.Conv2d`` with an approximate multiplier (same constructor, then ``multiplier``, ``mode``, ``engine``, ``operand_a``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
        multiplier: MultiplierLike | None = None,
        mode: str | None = None,
        engine: str = "auto",
        operand_a: str | None = None,
    ) -> None:
        if padding_mode != "zeros":
            raise LayerError(
                f"ApproxConv2d: padding_mode={padding_mode!r} is not supported (the accelerator pads with zeros)",
                fix="use padding_mode='zeros' or exclude the layer from approximation",
            )
        nn.Conv2d.__init__(
            self,
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
            padding_mode,
            device,
            dtype,
        )
        self._init_approx(multiplier, mode, engine, operand_a)

    def _pads(self) -> tuple[int, int]:
        if isinstance(self.padding, str):  # "same" / "valid"
            if self.padding == "valid":
                return (0, 0)
            if any(s != 1 for s in self.stride):
                raise LayerError(f"{self._who()}: padding='same' needs stride 1")
            pads = []
            for d, k in zip(self.dilation, self.kernel_size):
                total = d * (k - 1)
                if total % 2:
                    raise LayerError(
                        f"{self._who()}: padding='same' with an even kernel pads asymmetrically, which is not supported",
                        fix="give explicit symmetric padding",
                    )
                pads.append(total // 2)
            return (pads[0], pads[1])
        return (int(self.padding[0]), int(self.padding[1]))

    def geometry(self) -> Geometry:
        return Geometry(tuple(self.stride), self._pads(), tuple(self.dilation), self.groups)

    def _exact_op(self, x: Tensor, w: Tensor, bias: Tensor | None) -> Tensor:
        return F.conv2d(x, w, bias, self.stride, self.padding, self.dilation, self.groups)

    def _exact_backward(self, grad: Tensor, xq: Tensor, wq: Tensor, need_x: bool, need_w: bool) -> tuple[Tensor | None, Tensor | None]:
        geometry = self.geometry()
        gx, gw, _ = torch.ops.aten.convolution_backward(
            grad,
            xq,
            wq,
            None,
            list(geometry.stride),
            list(geometry.padding),
            list(geometry.dilation),
            False,
            [0, 0],
            geometry.groups,
            [need_x, need_w, False],
        )
        return gx, gw

    def extra_repr(self) -> str:
        return f"{nn.Conv2d.extra_repr(self)}, {self._approx_repr()}"


class ApproxLinear(ApproxLayerMixin, nn.Linear):
    """``nn.Linear`` with an approximate multiplier (same constructor, then ``multiplier``, ``mode``, ``engine``, ``operand_a``)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
        multiplier: MultiplierLike | None = None,
        mode: str | None = None,
        engine: str = "auto",
        operand_a: str | None = None,
    ) -> None:
        nn.Linear.__init__(self, in_features, out_features, bias, device, dtype)
        self._init_approx(multiplier, mode, engine, operand_a)

    def geometry(self) -> Geometry:
        return LINEAR

    def _flatten_input(self, x: Tensor):
        lead = x.shape[:-1]
        return x.reshape(-1, x.shape[-1]), lambda y: y.reshape(*lead, y.shape[-1])

    def _exact_op(self, x: Tensor, w: Tensor, bias: Tensor | None) -> Tensor:
        return F.linear(x, w, bias)

    def _exact_backward(self, grad: Tensor, xq: Tensor, wq: Tensor, need_x: bool, need_w: bool) -> tuple[Tensor | None, Tensor | None]:
        gx = grad @ wq if need_x else None
        gw = grad.reshape(-1, grad.shape[-1]).t() @ xq.reshape(-1, xq.shape[-1]) if need_w else None
        return gx, gw

    def add_bias(self, y: Tensor) -> Tensor:
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"{nn.Linear.extra_repr(self)}, {self._approx_repr()}"
