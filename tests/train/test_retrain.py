"""Fitting on a real network, the retraining modes, checkpoints and resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from approxhil.errormodel import ErrorModel, ErrorModelError, RunningStats
from approxhil.errormodel.fit import fit_error_model
from approxhil.nn import approx_layers
from approxhil.train import RetrainConfig, apply_mode, evaluate, retrain
from approxhil.train.checkpoint import CheckpointError
from approxhil.train.config import ConfigError
from approxhil.workflow import accuracies, approximate_network, make_batches


def _approx(model, digits, config="2222"):
    return approximate_network(model, config, make_batches("digits_cnn", digits.train, 64, train=False))


def test_fit_matches_direct_statistics(float_digits, digits) -> None:
    approx = _approx(float_digits, digits)
    batches = make_batches("digits_cnn", digits.train, 50, train=False)
    em = fit_error_model(approx, batches, 200, progress=False)
    assert em.samples == 200 and set(em.layers) == set(approx_layers(approx))
    # Reference for the first layer: its input is the network input, so exact_and_approx on the raw batch.
    first_name, first = next(iter(approx_layers(approx).items()))
    x = torch.cat([b[0] for b, _ in zip(batches, range(4))])[:200]
    y, ya = first.exact_and_approx(x)
    ref = RunningStats()
    ref.update(y, ya)
    for key, value in ref.finalize().as_dict().items():
        torch.testing.assert_close(em.layers[first_name].as_dict()[key], value)
    rho = em.layers[first_name].rho
    assert torch.isfinite(rho).all() and (rho.abs() <= 1).all()
    assert (em.layers[first_name].sigma_e > 0).any()


def test_error_model_refuses_other_table(float_digits, digits, tmp_path: Path) -> None:
    approx = _approx(float_digits, digits)
    em = fit_error_model(approx, make_batches("digits_cnn", digits.train, 100, train=False), 100, progress=False)
    em.save(tmp_path / "em.pt")
    other = _approx(float_digits, digits, "1100")
    with pytest.raises(ErrorModelError, match="multiplier"):
        apply_mode(other, "errormodel", error_model=ErrorModel.load(tmp_path / "em.pt"))


def _run(model, digits, workdir, stop_after=None, mode="errormodel", em=None):
    config = RetrainConfig(mode=mode, epochs=2, seed=3)
    batches = make_batches("digits_cnn", digits.train.subset(512), 64, train=True, seed=3)
    return retrain(model, batches, config, workdir=workdir, error_model=em, progress=False, stop_after=stop_after)


def test_resume_equals_uninterrupted(float_digits, digits, tmp_path: Path) -> None:
    approx = _approx(float_digits, digits)
    em = fit_error_model(approx, make_batches("digits_cnn", digits.train, 100, train=False), 300, progress=False)
    a = _approx(float_digits, digits)
    a.load_state_dict(approx.state_dict())
    b = _approx(float_digits, digits)
    b.load_state_dict(approx.state_dict())
    whole = _run(a, digits, tmp_path / "whole", em=em)
    part = _run(b, digits, tmp_path / "part", stop_after=1, em=em)
    assert not part["complete"] and len(part["history"]) == 1
    c = _approx(float_digits, digits)
    c.load_state_dict(approx.state_dict())
    resumed = _run(c, digits, tmp_path / "part", em=em)
    assert resumed["complete"] and [h["loss"] for h in resumed["history"]] == [h["loss"] for h in whole["history"]]
    for (k, va), vc in zip(a.state_dict().items(), c.state_dict().values()):
        assert torch.equal(va, vc) if isinstance(va, torch.Tensor) else va == vc, k


def test_checkpoint_of_other_settings_is_refused(float_digits, digits, tmp_path: Path) -> None:
    _run(_approx(float_digits, digits), digits, tmp_path, stop_after=1, mode="behavioral")
    with pytest.raises(CheckpointError, match="other settings"):
        _run(_approx(float_digits, digits), digits, tmp_path, mode="awgn")


@pytest.mark.parametrize("mode", ["errormodel", "behavioral", "baseline", "awgn", "quant"])
def test_every_mode_trains_and_ends_in_behavioral_evaluation(float_digits, digits, mode: str) -> None:
    approx = _approx(float_digits, digits)
    em = (
        fit_error_model(approx, make_batches("digits_cnn", digits.train, 100, train=False), 200, progress=False)
        if mode == "errormodel"
        else None
    )
    before = {k: v.clone() for k, v in approx.state_dict().items() if isinstance(v, torch.Tensor)}
    record = _run(approx, digits, None, mode=mode, em=em)
    assert all(np.isfinite(h["loss"]) for h in record["history"])
    changed = [k for k, v in approx.state_dict().items() if k.endswith(".weight") and not torch.equal(v, before[k])]
    assert changed, "retraining did not move any weight"
    for layer in approx_layers(approx).values():
        assert layer.mode == "behavioral" and layer.output_perturbation is None and layer.weight_perturbation is None


def test_errormodel_recovers_accuracy(float_digits, digits) -> None:
    """On digits with the large-error 2222, error-model retraining regains accuracy lost to approximation."""
    approx = _approx(float_digits, digits)
    tests = {"test": make_batches("digits_cnn", digits.test, 256, train=False)}
    before = accuracies(approx, tests)["test"]
    int8 = accuracies(approx, tests, mode="quant")["test"]
    em = fit_error_model(approx, make_batches("digits_cnn", digits.train, 100, train=False), 1000, progress=False)
    config = RetrainConfig(mode="errormodel", epochs=4, lr=1e-3)
    retrain(approx, make_batches("digits_cnn", digits.train, 64, train=True), config, error_model=em, progress=False)
    after = evaluate(approx, tests["test"])["accuracy"]
    assert after > before or after >= int8 - 1.0, (int8, before, after)


def test_refit_every_epoch_refreshes_the_injection(float_digits, digits) -> None:
    approx = _approx(float_digits, digits)
    fit_batches = make_batches("digits_cnn", digits.train, 100, train=False)
    em = fit_error_model(approx, fit_batches, 200, progress=False)
    fits = []

    def refit(model):
        fits.append(fit_error_model(model, fit_batches, 200, progress=False))
        return fits[-1]

    config = RetrainConfig(mode="errormodel", epochs=3, refit_every=1, lr=1e-3)
    batches = make_batches("digits_cnn", digits.train.subset(256), 64, train=True)
    retrain(approx, batches, config, error_model=em, progress=False, refit=refit)
    assert len(fits) == 2
    name = next(iter(em.layers))
    assert not torch.equal(fits[-1].layers[name].mu_y, em.layers[name].mu_y)
    with pytest.raises(ValueError, match="refit"):
        retrain(_approx(float_digits, digits), batches, config, error_model=em, progress=False)


def test_hybrid_keeps_the_behavioral_simulation_where_the_model_is_poor(float_digits, digits) -> None:
    from approxhil.train.hybrid import layer_fidelity, select_behavioral_layers
    from approxhil.workflow import recover

    approx = _approx(float_digits, digits)
    fit_batches = make_batches("digits_cnn", digits.train, 100, train=False)
    em = fit_error_model(approx, fit_batches, 200, progress=False)
    fidelity = layer_fidelity(approx, em, fit_batches, 200)
    assert set(fidelity) == set(approx_layers(approx))
    assert all(
        np.isfinite(f["loss_modelled"]) and f["loss_behavioral"] == fidelity[next(iter(fidelity))]["loss_behavioral"]
        for f in fidelity.values()
    )
    worst = max(fidelity, key=lambda n: fidelity[n]["increase"])
    tolerance = fidelity[worst]["increase"] - 1e-9
    assert select_behavioral_layers(fidelity, tolerance) == (worst,)
    assert layer_fidelity(approx, em, fit_batches, 200) == fidelity  # fixed data and noise: reproducible
    apply_mode(approx, "errormodel", error_model=em, behavioral_layers=[worst])
    modes = {n: (layer.mode, layer.output_perturbation is not None) for n, layer in approx_layers(approx).items()}
    assert modes[worst] == ("behavioral", False) and all(m == ("quant", True) for n, m in modes.items() if n != worst)
    with pytest.raises(Exception, match="no approximate layer named nope"):
        apply_mode(approx, "errormodel", error_model=em, behavioral_layers=["nope"])
    config = RetrainConfig(mode="errormodel", epochs=1, hybrid=tolerance, fit_samples=200)
    record = recover(approx, config, make_batches("digits_cnn", digits.train.subset(256), 64, train=True), fit_batches=fit_batches)
    chosen = select_behavioral_layers(record["hybrid"]["fidelity"], tolerance)  # measured on HYBRID_SAMPLES images
    assert chosen and record["hybrid"]["behavioral_layers"] == list(chosen) and record["config"]["behavioral_layers"] == chosen
    assert all(layer.mode == "behavioral" for layer in approx_layers(approx).values())


def test_gradient_settings_are_validated_in_the_config() -> None:
    config = RetrainConfig(mode="behavioral", gradient="lut-diff", gradient_window=3)
    assert config.gradient_spec.label == "lut-diff H=3" and config.to_dict()["gradient"] == "lut-diff"
    assert RetrainConfig().gradient == "ste"
    for bad in ({"gradient": "bogus"}, {"gradient_window": -1}, {"gradient_window": 64}, {"gradient_edge": "wrap"}):
        with pytest.raises(ConfigError, match="gradient"):
            RetrainConfig(mode="behavioral", **bad)


def test_table_gradients_train_and_change_the_result(float_digits, digits) -> None:
    """Behavioral retraining with lut-diff and lut-1d trains (finite loss, moved weights) and differs from STE;
    the estimator is what the layers back-propagate with."""
    batches = make_batches("digits_cnn", digits.train.subset(256), 64, train=True, seed=1)
    weights = {}
    for estimator in ("ste", "lut-diff", "lut-1d"):
        approx = _approx(float_digits, digits)
        start = approx_layers(approx)["conv1"].weight.detach().clone()
        config = RetrainConfig(mode="behavioral", epochs=1, lr=1e-3, gradient=estimator)
        record = retrain(approx, batches, config, progress=False)
        assert np.isfinite(record["history"][0]["loss"]) and record["config"]["gradient"] == estimator
        layers = approx_layers(approx)
        assert all(layer.gradient.estimator == estimator for layer in layers.values())
        assert all((layer.gradient_backend is None) == (estimator == "ste") for layer in layers.values())
        weights[estimator] = layers["conv1"].weight.detach()
        assert not torch.equal(weights[estimator], start)
    assert not torch.allclose(weights["lut-diff"], weights["ste"]) and not torch.allclose(weights["lut-1d"], weights["ste"])


def test_hybrid_errormodel_uses_the_estimator_in_its_behavioral_layers(float_digits, digits) -> None:
    approx = _approx(float_digits, digits)
    fit_batches = make_batches("digits_cnn", digits.train, 100, train=False)
    em = fit_error_model(approx, fit_batches, 200, progress=False)
    config = RetrainConfig(mode="errormodel", epochs=1, behavioral_layers=("conv1",), gradient="lut-diff")
    retrain(approx, make_batches("digits_cnn", digits.train.subset(128), 64, train=True), config, error_model=em, progress=False)
    backends = {name: layer.gradient_backend for name, layer in approx_layers(approx).items()}
    assert backends.pop("conv1") is not None  # the behavioral layer back-propagated through the table's derivatives
    assert all(b is None for b in backends.values())  # the modelled layers through their own forward
