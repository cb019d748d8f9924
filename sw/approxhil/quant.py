"""Symmetric per-layer 8-bit quantization (paper eq. 1) with straight-through gradients, and calibration.

``Z~ = clip(round(Z / Δ), -128, 127)``, ``Z_q = Z~ · Δ``. A :class:`Quantizer` keeps its step ``Δ`` in
a buffer so checkpoints carry it. Activation quantizers are calibrated once on a few batches
(:func:`calibrate`, max-abs or a percentile of ``|Z|``); weight quantizers are *dynamic*: their ``Δ``
is the weight's max-abs divided by 127, recomputed every forward because retraining moves the weights.

The backward pass is straight-through: the gradient passes unchanged where ``Z / Δ`` rounds inside
``[-128, 127]`` and is zero where the value was clipped (the gradient of the clip).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor, nn

from approxhil.errors import ApproxHilError, SpecError

BITS = 8
QMIN = -(1 << (BITS - 1))
QMAX = (1 << (BITS - 1)) - 1
METHODS = ("maxabs", "percentile")
DEFAULT_PERCENTILE = 99.99


class CalibrationError(ApproxHilError, RuntimeError):
    """A quantizer used before its step Δ was calibrated, or calibration that saw no usable data."""

    default_fix = "calibrate the model on data that reaches every approximate layer (approxhil.quant.calibrate)"


def step_from_range(maxabs: Tensor | float) -> Tensor:
    """Step Δ that maps ``maxabs`` to the largest code 127; Δ = 1 for an all-zero range."""
    maxabs = torch.as_tensor(maxabs, dtype=torch.float32)
    return torch.where(maxabs > 0, maxabs / QMAX, torch.ones_like(maxabs))


def quantize_int(x: Tensor, delta: Tensor) -> Tensor:
    """Integer codes ``clip(round(x / Δ), -128, 127)`` as a float tensor of whole numbers (no gradient)."""
    return torch.round(x.detach() / delta).clamp_(QMIN, QMAX)


class _FakeQuant(torch.autograd.Function):
    """``(x_int · Δ, x_int)`` with the straight-through gradient of the clip for the first output."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, delta: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        codes = torch.round(x / delta)
        inside = (codes >= QMIN) & (codes <= QMAX)
        codes.clamp_(QMIN, QMAX)
        ctx.save_for_backward(inside)
        ctx.mark_non_differentiable(codes)
        return codes * delta, codes

    @staticmethod
    def backward(ctx: Any, grad: Tensor, _grad_codes: Tensor) -> tuple[Tensor | None, None]:  # type: ignore[override]
        (inside,) = ctx.saved_tensors
        return grad * inside, None


def fake_quant(x: Tensor, delta: Tensor) -> tuple[Tensor, Tensor]:
    """Quantize ``x`` with step ``delta``: returns ``(x_q, x_int)``; ``x_q`` has a straight-through gradient."""
    return _FakeQuant.apply(x, delta.to(dtype=x.dtype, device=x.device))


class Quantizer(nn.Module):
    """Symmetric 8-bit quantizer of one tensor.

    ``dynamic=True`` (weights): Δ = max|x| / 127 from the tensor itself at every call.
    ``dynamic=False`` (activations): Δ comes from calibration (``method`` ``maxabs`` or ``percentile``)
    and using the quantizer before that raises :class:`CalibrationError`.
    """

    def __init__(self, method: str = "maxabs", percentile: float = DEFAULT_PERCENTILE, dynamic: bool = False) -> None:
        super().__init__()
        self.method = check_method(method)
        self.percentile = check_percentile(percentile)
        self.dynamic = bool(dynamic)
        self.owner = "tensor"  # name used in error messages; set by the owning layer
        self.register_buffer("delta", torch.tensor(1.0))
        self.register_buffer("calibrated", torch.tensor(False))
        self._observed: list[float] | None = None

    # ----------------------------------------------------------------- quantization
    def step(self, x: Tensor) -> Tensor:
        """The step Δ to use for ``x`` (computed from ``x`` when dynamic)."""
        if self.dynamic:
            with torch.no_grad():
                delta = step_from_range(x.detach().abs().max().float())
                self.delta.copy_(delta)
            return self.delta
        if not bool(self.calibrated):
            raise CalibrationError(
                f"{self.owner}: activation quantizer used before calibration",
                fix="run approxhil.quant.calibrate(model, batches) or set_delta(...) first",
            )
        return self.delta

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(x_q, x_int)``: fake-quantized tensor (straight-through gradient) and its integer codes."""
        return fake_quant(x, self.step(x))

    def set_delta(self, delta: float | Tensor) -> None:
        """Fix Δ by hand (and mark the quantizer calibrated)."""
        value = float(delta)
        if not value > 0 or value != value or value == float("inf"):
            raise CalibrationError(f"{self.owner}: quantization step must be a positive finite number, got {value}")
        self.delta.fill_(value)
        self.calibrated.fill_(True)

    # ----------------------------------------------------------------- calibration
    def start_observing(self) -> None:
        """Begin collecting statistics of the tensors passed to :meth:`observe`."""
        self._observed = []

    def observe(self, x: Tensor) -> None:
        """Record one batch: its max-abs, or the ``percentile`` of ``|x|``."""
        if self._observed is None:
            return
        values = x.detach().abs().flatten().float()
        if values.numel() == 0:
            return
        if self.method == "maxabs":
            stat = values.max()
        else:
            k = max(1, min(values.numel(), round(self.percentile / 100.0 * values.numel())))
            stat = values.kthvalue(k).values
        self._observed.append(float(stat))

    def finish_observing(self) -> float:
        """Set Δ from the statistics seen: max over batches (maxabs) or their mean (percentile)."""
        observed, self._observed = self._observed, None
        if not observed:
            raise CalibrationError(
                f"{self.owner}: calibration saw no data",
                fix="pass at least one non-empty batch that reaches this layer",
            )
        stat = max(observed) if self.method == "maxabs" else sum(observed) / len(observed)
        self.set_delta(step_from_range(stat))
        return float(self.delta)

    def extra_repr(self) -> str:
        if self.dynamic:
            return f"dynamic max-abs, delta={float(self.delta):.4g}"
        kind = self.method if self.method == "maxabs" else f"percentile {self.percentile:g}"
        return f"{kind}, delta={float(self.delta):.4g}, calibrated={bool(self.calibrated)}"


def check_method(method: str) -> str:
    """Validate a calibration method name."""
    if method not in METHODS:
        raise SpecError(f"unknown calibration method {method!r}", fix=f"use one of: {', '.join(METHODS)}")
    return method


def check_percentile(percentile: float) -> float:
    """Validate a percentile in (0, 100]."""
    value = float(percentile)
    if not 0.0 < value <= 100.0:
        raise SpecError(f"percentile must lie in (0, 100], got {percentile}")
    return value


def _first_tensor(batch: Any) -> Tensor:
    if isinstance(batch, Tensor):
        return batch
    if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], Tensor):
        return batch[0]
    if isinstance(batch, dict) and isinstance(batch.get("input"), Tensor):
        return batch["input"]
    raise CalibrationError(
        f"calibration batch of type {type(batch).__name__} holds no input tensor",
        fix="pass tensors, (inputs, labels) pairs or dicts with an 'input' entry",
    )


def _quantized_layers(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    for name, module in model.named_modules():
        if isinstance(getattr(module, "act_quant", None), Quantizer) and hasattr(module, "mode"):
            yield name, module


def calibrate(
    model: nn.Module,
    batches: Iterable[Any],
    method: str = "maxabs",
    percentile: float = DEFAULT_PERCENTILE,
    num_batches: int | None = None,
) -> dict[str, float]:
    """Set the activation step Δ of every approximate layer from a few batches; returns ``{layer: Δ}``.

    The batches run through the model in eval mode with every approximate layer in ``float`` mode, so
    each layer sees the activations of the unquantized network. Modes and the train/eval state are
    restored afterwards.
    """
    check_method(method)
    check_percentile(percentile)
    layers = dict(_quantized_layers(model))
    if not layers:
        raise CalibrationError(
            "calibrate: the model has no approximate layers",
            fix="convert it first with approxhil.nn.approximate(model, multiplier)",
        )
    modes = {name: layer.mode for name, layer in layers.items()}
    was_training = model.training
    handles = []
    try:
        for name, layer in layers.items():
            quant: Quantizer = layer.act_quant
            quant.method, quant.percentile = method, float(percentile)
            quant.owner = f"layer {name}"
            quant.start_observing()
            layer.mode = "float"
            handles.append(layer.register_forward_pre_hook(_observe_hook(name)))
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        model.eval()
        seen = 0
        with torch.no_grad():
            for batch in batches:
                if num_batches is not None and seen >= num_batches:
                    break
                model(_first_tensor(batch).to(device))
                seen += 1
        return {name: layer.act_quant.finish_observing() for name, layer in layers.items()}
    finally:
        for handle in handles:
            handle.remove()
        for name, layer in layers.items():
            layer.mode = modes[name]
            layer.act_quant._observed = None
        model.train(was_training)


def _observe_hook(name: str):
    def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
        x = args[0]
        if not torch.isfinite(x).all():
            raise CalibrationError(
                f"layer {name}: calibration input holds NaN or inf",
                fix="check the data and the layers before this one",
            )
        module.act_quant.observe(x)

    return hook
