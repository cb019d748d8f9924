"""The pipeline on a CUDA device gives what it gives on the CPU: layer outputs, fits, retraining, grid cells."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from approxhil.errormodel.fit import fit_error_model, run_approximate
from approxhil.experiments import Cell, run_cell
from approxhil.nn import approx_layers, model_device
from approxhil.train import RetrainConfig, evaluate, retrain
from approxhil.workflow import approximate_network, load_retrained, make_batches, save_network

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
CUDA = torch.device("cuda")


def _approx(model, digits, config: str):
    return approximate_network(model, config, make_batches("digits_cnn", digits.train, 64, train=False))


@pytest.mark.parametrize("config", ["2222", "3330"])
def test_every_layer_is_bit_exact_on_cuda(float_digits, digits, config: str) -> None:
    """Each approximate layer, fed the same input, gives the same integer sums on CUDA as on the CPU."""
    cpu = _approx(float_digits, digits, config)
    gpu = copy.deepcopy(cpu).to(CUDA)
    inputs: dict[str, torch.Tensor] = {}
    layers = approx_layers(cpu)

    def keep(name, y, ya):  # run_approximate propagates the approximate outputs: realistic layer inputs
        pass

    handles = [layer.register_forward_hook(lambda m, i, o, n=name: inputs.setdefault(n, i[0])) for name, layer in layers.items()]
    run_approximate(cpu, make_batches("digits_cnn", digits.test, 128, train=False), 128, keep, progress=False)
    for h in handles:
        h.remove()
    gpu_layers = approx_layers(gpu)
    for name, layer in layers.items():
        y_exact, y_approx = layer.exact_and_approx(inputs[name])
        g_exact, g_approx = gpu_layers[name].exact_and_approx(inputs[name].to(CUDA))
        assert torch.equal(g_approx.cpu(), y_approx), name
        assert torch.equal(g_exact.cpu(), y_exact), name


def test_fit_on_cuda_equals_fit_on_cpu(float_digits, digits) -> None:
    cpu = _approx(float_digits, digits, "2222")
    gpu = copy.deepcopy(cpu).to(CUDA)
    batches = make_batches("digits_cnn", digits.train, 100, train=False)
    a = fit_error_model(cpu, batches, 300, progress=False)
    b = fit_error_model(gpu, batches, 300, progress=False)
    for name, stats in a.layers.items():
        for key, value in stats.as_dict().items():
            torch.testing.assert_close(b.layers[name].as_dict()[key].cpu(), value, rtol=1e-4, atol=1e-4, msg=f"{name}.{key}")


@pytest.mark.parametrize("mode", ["errormodel", "behavioral"])
def test_retraining_on_cuda_saves_a_network_the_cpu_evaluates_alike(float_digits, digits, mode: str, tmp_path: Path) -> None:
    approx = _approx(float_digits, digits, "2222").to(CUDA)
    em = (
        fit_error_model(approx, make_batches("digits_cnn", digits.train, 100, train=False), 300, progress=False)
        if mode == "errormodel"
        else None
    )
    config = RetrainConfig(mode=mode, epochs=2, lr=1e-3, device="cuda")
    record = retrain(
        approx, make_batches("digits_cnn", digits.train, 64, train=True), config, workdir=tmp_path, error_model=em, progress=False
    )
    assert record["complete"] and record["machine"].get("gpu") and model_device(approx).type == "cuda"
    tests = make_batches("digits_cnn", digits.test, 256, train=False)
    on_gpu = evaluate(approx, tests)
    save_network(approx, tmp_path / "model.pt")
    on_cpu = evaluate(load_retrained("digits_cnn", "2222", tmp_path / "model.pt"), tests)
    assert on_gpu["n"] == on_cpu["n"] and abs(on_gpu["accuracy"] - on_cpu["accuracy"]) <= 100.0 / on_cpu["n"] + 1e-9
    assert on_gpu["accuracy"] > 50


def test_grid_cell_runs_on_cuda(tmp_path: Path) -> None:
    """A whole cell (before, fit, retraining, after, BatchNorm recalibration) with device='cuda'."""
    cell = Cell(network="digits_cnn", multiplier="2222", mode="errormodel", epochs=1, fit_samples=200, train_subset=256)
    result = run_cell(cell, tmp_path, device="cuda", progress=False)
    assert result["machine"].get("gpu") and result["after"]["test"] > 50 and result["after_bn"]["test"] > 50
    saved = json.loads((cell.folder(tmp_path) / "result.json").read_text())
    assert saved["after"] == result["after"]


@pytest.mark.parametrize("estimator", ["lut-diff", "lut-1d"])
def test_table_gradients_on_cuda_equal_the_cpu_ones(float_digits, digits, estimator: str) -> None:
    """The table-derived backward on CUDA (float factors or torch gathers) gives the CPU's gradients."""
    from approxhil.nn.gradients import set_gradient

    cpu = set_gradient(_approx(float_digits, digits, "2222"), estimator)
    gpu = copy.deepcopy(cpu).to(CUDA)
    x, y = next(iter(make_batches("digits_cnn", digits.train, 64, train=False)))
    for model, device in ((cpu, "cpu"), (gpu, CUDA)):
        model.train()
        torch.nn.functional.cross_entropy(model(x.to(device)), y.to(device)).backward()
    for (name, a), b in zip(cpu.named_parameters(), gpu.parameters()):
        torch.testing.assert_close(b.grad.cpu(), a.grad, rtol=1e-3, atol=1e-5, msg=name)
    assert all(layer.gradient_backend is not None for layer in approx_layers(gpu).values())
