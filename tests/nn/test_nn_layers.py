"""ApproxConv2d / ApproxLinear: modes, bit-exact behavioral forward, straight-through backward, hooks, state."""

from __future__ import annotations

import copy
import inspect
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from engine_cases import require_exact
from nn_reference import conv_reference, linear_reference
from torch import nn

from approxhil.errors import TableError
from approxhil.multipliers import golden_table
from approxhil.nn import ApproxConv2d, ApproxLinear, LayerError, approximate
from approxhil.nn.errors import EngineError
from approxhil.quant import CalibrationError


def _conv(multiplier="3330", **kwargs) -> ApproxConv2d:
    torch.manual_seed(0)
    layer = ApproxConv2d(4, 6, 3, stride=(2, 1), padding=1, dilation=(1, 2), groups=2, multiplier=multiplier, **kwargs)
    layer.act_quant.set_delta(0.02)
    return layer


def _linear(multiplier="2220", **kwargs) -> ApproxLinear:
    torch.manual_seed(1)
    layer = ApproxLinear(12, 5, multiplier=multiplier, **kwargs)
    layer.act_quant.set_delta(0.03)
    return layer


def _x(*shape: int, seed: int = 2) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_constructors_keep_torch_signatures() -> None:
    for ours, theirs in ((ApproxConv2d, nn.Conv2d), (ApproxLinear, nn.Linear)):
        mine = list(inspect.signature(ours).parameters.values())
        base = list(inspect.signature(theirs).parameters.values())
        assert [(p.name, p.default) for p in mine[: len(base)]] == [(p.name, p.default) for p in base]
        assert [p.name for p in mine[len(base) :]] == ["multiplier", "mode", "engine", "operand_a"]
    layer = ApproxConv2d(3, 8, 3, 1, 1)  # positional, as for nn.Conv2d
    assert (layer.padding, layer.mode, layer.table) == ((1, 1), "quant", None)
    assert ApproxConv2d(3, 8, 3, multiplier="1100").mode == "behavioral"


@pytest.mark.parametrize("engine", ["auto", "lowrank", "lowrank-f32", "gather", "lowrank-gpu", "gather-gpu"])
def test_behavioral_conv_is_bit_exact(engine: str) -> None:
    if engine != "auto":
        require_exact(engine)
    layer = _conv(engine=engine)
    x = _x(2, 4, 7, 6)
    y = layer(x)
    x_int, w_int, scale = layer.int_operands(x)
    want = conv_reference(x_int.numpy(), w_int.numpy(), golden_table("3330").values, (2, 1), (1, 1), (1, 2), 2)
    assert np.array_equal(layer.integer_output(x_int, w_int).numpy(), want)
    expected = torch.from_numpy(want).float() * scale + layer.bias.view(1, -1, 1, 1)
    assert torch.equal(y, expected)


def test_behavioral_linear_is_bit_exact_with_extra_dims() -> None:
    layer = _linear()
    x = _x(3, 4, 12)
    y = layer(x)
    assert y.shape == (3, 4, 5)
    x_int, w_int, scale = layer.int_operands(x)
    want = linear_reference(x_int.reshape(-1, 12).numpy(), w_int.numpy(), golden_table("2220").values)
    expected = torch.from_numpy(want).float().reshape(3, 4, 5) * scale + layer.bias
    assert torch.equal(y, expected)


def test_identity_table_equals_exact_8bit_layer() -> None:
    layer = _conv(multiplier="0000")
    x = _x(2, 4, 7, 6)
    x_int, w_int, _scale = layer.int_operands(x)
    exact = F.conv2d(x_int.double(), w_int.double(), None, (2, 1), 1, (1, 2), 2)
    assert torch.equal(layer.integer_output(x_int, w_int).double(), exact)
    behavioral = layer(x)
    layer.mode = "quant"
    assert torch.allclose(behavioral, layer(x), rtol=1e-5, atol=1e-6)
    y_exact, y_approx = layer.exact_and_approx(x)
    assert torch.equal(y_exact, y_approx)


def test_operand_a_weight_transposes_the_table() -> None:
    table = golden_table("1100")
    assert not np.array_equal(table.values, table.values.T)  # design 1 treats a and b differently
    layer = _conv(multiplier=table, operand_a="weight")
    assert layer.operand_a == "weight"
    assert np.array_equal(layer.table.numpy(), table.values.T)
    x_int, w_int, _ = layer.int_operands(_x(2, 4, 7, 6))
    want = conv_reference(x_int.numpy(), w_int.numpy(), table.values.T, (2, 1), (1, 1), (1, 2), 2)
    assert np.array_equal(layer.integer_output(x_int, w_int).numpy(), want)
    weight_table = golden_table("1100", operand_a="weight")
    assert np.array_equal(_conv(multiplier=weight_table).table.numpy(), table.values.T)


@pytest.mark.parametrize("make, shape", [(_conv, (2, 4, 7, 6)), (_linear, (6, 12))])
def test_straight_through_backward_is_the_quantized_gradient(make, shape) -> None:
    grads = {}
    for mode in ("quant", "behavioral"):
        layer = make()
        layer.mode = mode
        x = _x(*shape).mul_(3.0).requires_grad_()  # some inputs clip: their gradient must be zero
        y = layer(x)
        y.backward(_x(*y.shape, seed=5))
        grads[mode] = (x.grad, layer.weight.grad, layer.bias.grad)
    for got, want in zip(grads["behavioral"], grads["quant"]):
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-6)
    assert (grads["behavioral"][0] == 0).any()


def test_float_and_quant_modes() -> None:
    layer = _conv()
    reference = nn.Conv2d(4, 6, 3, (2, 1), 1, (1, 2), 2)
    reference.load_state_dict({"weight": layer.weight, "bias": layer.bias})
    x = _x(2, 4, 7, 6)
    layer.mode = "float"
    assert torch.equal(layer(x), reference(x))
    layer.mode = "quant"
    dx, dw = 0.02, float(layer.weight.detach().abs().max()) / 127
    xq = torch.clamp(torch.round(x / dx), -128, 127) * dx
    wq = torch.round(layer.weight / dw) * dw
    assert torch.allclose(layer(x), F.conv2d(xq, wq, layer.bias, (2, 1), 1, (1, 2), 2), atol=1e-6)


def test_output_and_weight_perturbation_hooks() -> None:
    class Record(nn.Module):
        def forward(self, y: torch.Tensor) -> torch.Tensor:
            self.seen = y.detach().clone()
            return y + 1.0

    layer = _conv()
    x = _x(2, 4, 7, 6)
    layer.mode = "quant"
    plain = layer(x)
    layer.output_perturbation = Record()
    perturbed = layer(x)
    pre_bias = plain - layer.bias.view(1, -1, 1, 1)
    assert torch.allclose(layer.output_perturbation.seen, pre_bias, atol=1e-6)
    assert torch.allclose(perturbed, plain + 1.0, atol=1e-6)
    layer.mode = "behavioral"  # the injection is for quant mode only
    assert torch.equal(layer(x), _conv()(x))

    class Double(nn.Module):
        def forward(self, w: torch.Tensor) -> torch.Tensor:
            return 2 * w

    layer = _conv()
    layer.weight_perturbation = Double()
    layer(x)
    assert float(layer.weight_quant.delta) == pytest.approx(2 * float(layer.weight.detach().abs().max()) / 127)


def test_exact_and_approx_share_operands() -> None:
    layer = _conv()
    x = _x(2, 4, 7, 6)
    y_exact, y_approx = layer.exact_and_approx(x)
    assert torch.equal(y_approx + layer.bias.view(1, -1, 1, 1), layer(x))
    layer.mode = "quant"
    assert torch.allclose(y_exact, layer(x) - layer.bias.view(1, -1, 1, 1), atol=1e-5)
    assert not torch.equal(y_exact, y_approx)


def test_bad_inputs_name_the_layer() -> None:
    model = approximate(nn.Sequential(nn.Conv2d(4, 6, 3)), "3330")
    layer = model[0]
    layer.act_quant.set_delta(0.1)
    x = _x(1, 4, 5, 5)
    for bad in (float("nan"), float("inf")):
        x_bad = x.clone()
        x_bad[0, 1, 2, 3] = bad
        with pytest.raises(LayerError, match="layer 0: input holds NaN or inf"):
            model(x_bad)
    with pytest.raises(LayerError, match=r"layer 0: input is torch\.int64.*x\.float\(\)"):
        model(torch.randint(-3, 3, (1, 4, 5, 5)))  # was an unexplained IndexError
    with pytest.raises(LayerError, match="layer 0: activation operands must be integers in -128..127"):
        layer.integer_output(torch.full((1, 4, 5, 5), 128), torch.zeros(6, 4, 3, 3))
    with pytest.raises(CalibrationError, match="layer 0: activation quantizer used before calibration"):
        approximate(nn.Sequential(nn.Conv2d(4, 6, 3)), "3330")(x)
    with pytest.raises(LayerError, match="no multiplier"):
        fresh = ApproxConv2d(4, 6, 3, mode="behavioral")
        fresh.act_quant.set_delta(0.1)
        fresh(x)
    with pytest.raises(LayerError, match="padding_mode='reflect'"):
        ApproxConv2d(4, 6, 3, padding_mode="reflect")
    with pytest.raises(LayerError, match="unknown mode 'fast'"):
        layer.mode = "fast"


def test_table_encoding_must_match() -> None:
    with pytest.raises(TableError, match="unsigned table but the layer's operands are signed"):
        ApproxConv2d(2, 2, 1, multiplier=golden_table("3330", encoding="unsigned"))
    with pytest.raises(TableError, match="4-bit table .16x16.; the layer multiplies 8-bit operands"):
        ApproxLinear(2, 2, multiplier="4x4-2")


def test_state_dict_round_trip_and_checksum(tmp_path) -> None:
    layer = _conv()
    state = layer.state_dict()
    fresh = ApproxConv2d(4, 6, 3, stride=(2, 1), padding=1, dilation=(1, 2), groups=2)
    fresh.load_state_dict(state)
    assert (fresh.multiplier_name, fresh.multiplier_sha256) == ("3330", golden_table("3330").sha256)
    assert float(fresh.act_quant.delta) == pytest.approx(0.02) and bool(fresh.act_quant.calibrated)
    fresh.mode = "behavioral"
    x = _x(2, 4, 7, 6)
    assert torch.equal(fresh(x), layer(x))
    torch.save(state, tmp_path / "ckpt.pt")
    tampered = torch.load(tmp_path / "ckpt.pt")
    tampered["table"][3, 4] += 1
    with pytest.raises(TableError, match="fails its checksum"):
        fresh.load_state_dict(tampered)


def test_copy_pickle_and_string_padding() -> None:
    layer = _conv()
    x = _x(2, 4, 7, 6)
    assert torch.equal(copy.deepcopy(layer)(x), layer(x))
    assert torch.equal(pickle.loads(pickle.dumps(layer))(x), layer(x))
    same = ApproxConv2d(4, 4, 3, padding="same", multiplier="1110")
    same.act_quant.set_delta(0.05)
    assert same(x).shape == x.shape
    assert "multiplier=3330" in repr(layer) and "mode=behavioral" in repr(layer)


def test_float64_layer_rescales_the_exact_integers() -> None:
    layer = _conv(multiplier="2222").double()
    x = _x(2, 4, 7, 6).double()
    x_int, w_int, scale = layer.int_operands(x)
    want = conv_reference(x_int.numpy(), w_int.numpy(), golden_table("2222").values, (2, 1), (1, 1), (1, 2), 2)
    expected = torch.from_numpy(want).double() * scale + layer.bias.view(1, -1, 1, 1)
    assert torch.equal(layer(x), expected)


@pytest.mark.parametrize("engine", ["lowrank", "lowrank-f32", "gather", "gather-gpu"])
def test_output_memory_format_follows_the_input(engine: str) -> None:
    require_exact(engine)
    layer = _conv(engine=engine)
    x = _x(2, 4, 7, 6)
    y = layer(x)
    assert y.is_contiguous()
    y.view(2, -1)  # user code that views the output keeps working
    y_last = layer(x.contiguous(memory_format=torch.channels_last))
    assert y_last.is_contiguous(memory_format=torch.channels_last) and torch.equal(y_last, y)


def test_engines_agree_bitwise_beyond_float32_integers() -> None:
    """Sums above 2^24 come back as float64 or int from different engines; the rescaled outputs still agree."""
    torch.manual_seed(4)
    layer = ApproxConv2d(256, 2, 3, multiplier="3330", bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.where(torch.rand_like(layer.weight) < 0.9, -1.0, 1.0))
    layer.act_quant.set_delta(1.0)
    x = torch.full((1, 256, 3, 3), -200.0)
    outputs = {}
    for engine in ("lowrank", "lowrank-f32", "gather", "lowrank-gpu"):
        layer.engine = engine
        try:
            outputs[engine] = layer(x)
        except EngineError:  # not exact on this machine (lowrank without VNNI): refused, never inexact
            continue
        assert layer.engine_used == engine
        assert layer.integer_output(*layer.int_operands(x)[:2]).abs().max() > 2**24
    assert {"lowrank-f32", "gather", "lowrank-gpu"} <= set(outputs)
    first = outputs["gather"]
    assert all(torch.equal(first, out) for out in outputs.values())
