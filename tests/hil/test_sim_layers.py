"""Layer outputs measured on the simulated board: bit for bit the behavioral simulation, and the same error model."""

from __future__ import annotations

import pytest
import torch
from approxhil.errormodel.fit import fit_error_model
from approxhil.hil import LayerMeasure, check_layer_tables, fit_on_backend, measure_table
from approxhil.hil.errors import HilError
from approxhil.models import DigitsCNN
from approxhil.nn import approx_layers
from approxhil.workflow import approximate_network, load_splits, make_batches

pytestmark = pytest.mark.rtl


@pytest.fixture(scope="module")
def digits():
    return load_splits("digits")


def _network(digits, multiplier, seed: int = 0, operand_a: str = "activation") -> torch.nn.Module:
    torch.manual_seed(seed)
    return approximate_network(DigitsCNN(), multiplier, make_batches("digits_cnn", digits.train, 64, train=False), operand_a=operand_a)


def _layer_inputs(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    inputs: dict[str, torch.Tensor] = {}
    layers = approx_layers(model)
    hooks = [layer.register_forward_pre_hook(lambda m, args, n=name: inputs.__setitem__(n, args[0])) for name, layer in layers.items()]
    model.eval()
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return inputs


@pytest.mark.parametrize("operand_a", ["activation", "weight"])
def test_layer_outputs_equal_behavioral_simulation_bit_for_bit(verilator_board, digits, operand_a: str) -> None:
    model = _network(digits, "2222", operand_a=operand_a)
    x = next(iter(make_batches("digits_cnn", digits.test, 4, train=False)))[0]
    measure = LayerMeasure(verilator_board)
    layer_inputs = _layer_inputs(model, x)
    for name, layer in approx_layers(model).items():
        inputs = layer_inputs[name]
        x_int, w_int, _ = layer.int_operands(inputs)
        hw = measure.accumulations(layer, x_int, w_int)
        sw = layer.integer_output(x_int, w_int)
        assert hw.dtype == torch.int64 and hw.shape == sw.shape
        assert torch.equal(hw, sw), f"{name}: {int((hw != sw).sum())} outputs differ"
        _, y_approx = layer.exact_and_approx(inputs)
        assert torch.equal(measure(name, layer, inputs), y_approx), name


def test_error_model_from_simulated_board_equals_behavioral_fit(verilator_board, digits) -> None:
    table = measure_table(verilator_board, "3330")
    model = _network(digits, table, seed=1)
    batches = make_batches("digits_cnn", digits.train, 8, train=False)
    measured = fit_on_backend(verilator_board, model, batches, 16, progress=False, tables={"3330": table})
    behavioral = fit_error_model(model, batches, 16, progress=False)
    assert measured.source == "hil-sim:verilator" and measured.samples == behavioral.samples == 16
    assert measured.tables == behavioral.tables and measured.fingerprint == behavioral.fingerprint
    for name, stats in behavioral.layers.items():
        for key, value in stats.as_dict().items():
            assert torch.equal(measured.layers[name].as_dict()[key], value), f"{name}.{key}"
    assert measured.meta["hil"]["simulator"] == "verilator" and measured.meta["hil"]["pairs"] > 0
    assert set(measured.meta["hil"]["layers"]) == set(behavioral.layers)


def test_layer_table_that_is_not_the_cores_is_refused(verilator_board, digits) -> None:
    model = _network(digits, "3333")  # not in the core
    with pytest.raises(HilError, match="multiplier 3333 is not in this core"):
        check_layer_tables(verilator_board, model)
    other = golden_table_with_other_values()
    model = _network(digits, other)
    with pytest.raises(HilError, match=r"layer conv1: the core's multiplier 3330 \(7d61723f1640\) is not the layer's table"):
        check_layer_tables(verilator_board, model)


def golden_table_with_other_values():
    """A table named 3330 whose values are 2222's: what a mislabelled file would be."""
    from dataclasses import replace

    from approxhil.multipliers import golden_table

    return replace(golden_table("2222"), name="3330")
