"""8-bit symmetric quantization (paper eq. 1), straight-through gradients and calibration."""

from __future__ import annotations

import pytest
import torch
from approxhil.errors import SpecError
from approxhil.nn import approx_layers, approximate
from approxhil.quant import QMAX, QMIN, CalibrationError, Quantizer, calibrate, fake_quant, quantize_int, step_from_range
from torch import nn


def test_codes_round_half_even_and_clip() -> None:
    delta = torch.tensor(0.5)
    x = torch.tensor([0.25, 0.75, -0.25, 1.0, 63.4, 63.75, 64.0, -64.0, -64.3, -100.0, 0.0])
    xq, codes = fake_quant(x, delta)
    assert codes.tolist() == [0, 2, -0, 2, 127, 127, 127, -128, -128, -128, 0]
    assert torch.equal(xq, codes * delta)
    assert torch.equal(quantize_int(x, delta), codes)
    assert (QMIN, QMAX) == (-128, 127)


def test_straight_through_gradient_masks_clipped_values() -> None:
    x = torch.tensor([-70.0, -3.2, 0.1, 5.0, 63.7, 64.0], requires_grad=True)
    xq, codes = fake_quant(x, torch.tensor(0.5))
    assert not codes.requires_grad
    (xq * torch.arange(1.0, 7.0)).sum().backward()
    assert x.grad.tolist() == [0.0, 2.0, 3.0, 4.0, 5.0, 0.0]


def test_step_from_range() -> None:
    assert float(step_from_range(12.7)) == pytest.approx(0.1)
    assert float(step_from_range(0.0)) == 1.0


def test_dynamic_quantizer_follows_the_tensor() -> None:
    quant = Quantizer(dynamic=True)
    for scale in (1.0, 3.0):
        w = torch.linspace(-scale, scale / 2, 11)
        _, codes = quant(w)
        assert float(quant.delta) == pytest.approx(scale / 127)
        assert codes.min() == -127 and codes.abs().max() == 127


def test_static_quantizer_needs_calibration() -> None:
    quant = Quantizer()
    with pytest.raises(CalibrationError, match="before calibration"):
        quant(torch.ones(3))
    quant.set_delta(0.25)
    assert quant(torch.tensor([1.0]))[1].item() == 4
    with pytest.raises(CalibrationError, match="positive finite"):
        quant.set_delta(float("nan"))
    with pytest.raises(SpecError, match="unknown calibration method"):
        Quantizer(method="mse")
    with pytest.raises(SpecError, match="percentile"):
        Quantizer(percentile=0)


def _model() -> nn.Module:
    torch.manual_seed(0)
    return approximate(nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 4)), "3330")


def test_calibrate_maxabs_and_percentile() -> None:
    batches = [torch.randn(8, 2, 4, 4, generator=torch.Generator().manual_seed(i)) * (i + 1) for i in range(3)]
    model = _model()
    model.train()
    deltas = calibrate(model, batches)
    assert deltas["0"] == pytest.approx(max(float(b.abs().max()) for b in batches) / 127)
    layers = approx_layers(model)
    assert all(bool(layer.act_quant.calibrated) and layer.mode == "behavioral" for layer in layers.values())
    assert model.training  # train/eval state restored
    percentile = calibrate(model, [(b, torch.zeros(8)) for b in batches], method="percentile", percentile=99.0)
    expected = sum(float(b.abs().flatten().kthvalue(round(0.99 * b.numel())).values) for b in batches) / 3
    assert percentile["0"] == pytest.approx(expected / 127)
    assert percentile["0"] < deltas["0"]
    assert layers["0"].act_quant.method == "percentile"
    assert calibrate(model, batches, num_batches=1)["0"] == pytest.approx(float(batches[0].abs().max()) / 127)


def test_calibrate_errors() -> None:
    with pytest.raises(CalibrationError, match="no approximate layers"):
        calibrate(nn.Linear(2, 2), [torch.ones(1, 2)])
    model = _model()
    bad = torch.zeros(1, 2, 4, 4)
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(CalibrationError, match="layer 0: calibration input holds NaN"):
        calibrate(model, [bad])
    assert {layer.mode for layer in approx_layers(model).values()} == {"behavioral"}
    with pytest.raises(CalibrationError, match="layer 0: calibration saw no data"):
        calibrate(model, [])
    with pytest.raises(CalibrationError, match="holds no input tensor"):
        calibrate(model, ["not a tensor"])
