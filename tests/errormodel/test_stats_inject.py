"""Streaming statistics, the injected error Ξ, its gradient (eq. 15), baselines and the model file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from approxhil.errormodel import AWGN, ErrorInjection, ErrorModel, ErrorModelError, NeuronStats, RunningStats, StatisticsError, WeightNoise


def _synthetic(n: int = 4000, shape=(3, 4), seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randn((n, *shape), generator=g, dtype=torch.float64) * 3 + 1
    e = -0.2 * y + 0.5 * torch.randn((n, *shape), generator=g, dtype=torch.float64) - 2
    return y, y + e


def test_stats_equal_numpy_reference_for_any_batching() -> None:
    y, ya = _synthetic()
    ref_e = (ya - y).numpy()
    ref_y = y.numpy()
    rng = np.random.default_rng(1)
    cuts = np.sort(rng.choice(np.arange(1, len(y)), size=17, replace=False))
    acc = RunningStats("t")
    for chunk_y, chunk_a in zip(np.split(ref_y, cuts), np.split(ya.numpy(), cuts)):
        acc.update(torch.from_numpy(chunk_y), torch.from_numpy(chunk_a))
    s = acc.finalize()
    assert s.count == len(y)
    np.testing.assert_allclose(s.mu_y.numpy(), ref_y.mean(0), rtol=1e-12)
    np.testing.assert_allclose(s.sigma_y.numpy(), ref_y.std(0), rtol=1e-12)
    np.testing.assert_allclose(s.mu_e.numpy(), ref_e.mean(0), rtol=1e-12)
    np.testing.assert_allclose(s.sigma_e.numpy(), ref_e.std(0), rtol=1e-12)
    rho = np.array([[np.corrcoef(ref_y[:, i, j], ref_e[:, i, j])[0, 1] for j in range(4)] for i in range(3)])
    np.testing.assert_allclose(s.rho.numpy(), rho, rtol=1e-10)


def test_merge_equals_single_pass() -> None:
    y, ya = _synthetic(1000)
    whole = RunningStats()
    whole.update(y, ya)
    a, b = RunningStats(), RunningStats()
    a.update(y[:300], ya[:300])
    b.update(y[300:], ya[300:])
    a.merge(b)
    for k, v in whole.finalize().as_dict().items():
        torch.testing.assert_close(a.finalize().as_dict()[k], v)


def test_degenerate_neurons_give_no_nan() -> None:
    y = torch.zeros(50, 3, dtype=torch.float64)
    y[:, 1] = torch.arange(50.0)
    ya = y.clone()
    ya[:, 2] += 5.0  # constant error, constant output
    s = RunningStats("deg")
    s.update(y, ya)
    st = s.finalize()
    for v in st.as_dict().values():
        assert torch.isfinite(v).all()
    assert st.rho.tolist() == [0.0, 0.0, 0.0] and st.mu_e[2] == 5.0
    inj = ErrorInjection(st)
    out = inj(torch.randn(8, 3))
    assert torch.isfinite(out).all()


def test_bad_samples() -> None:
    acc = RunningStats("conv1")
    with pytest.raises(StatisticsError, match="conv1: NaN"):
        acc.update(torch.tensor([[float("nan")]]), torch.tensor([[1.0]]))
    with pytest.raises(StatisticsError, match="differ in shape"):
        acc.update(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(StatisticsError, match="no samples"):
        acc.finalize()


def _fitted(rho: float) -> NeuronStats:
    shape = (5,)
    return NeuronStats(
        mu_y=torch.full(shape, 2.0, dtype=torch.float64),
        sigma_y=torch.full(shape, 4.0, dtype=torch.float64),
        mu_e=torch.full(shape, -1.5, dtype=torch.float64),
        sigma_e=torch.full(shape, 0.8, dtype=torch.float64),
        rho=torch.full(shape, rho, dtype=torch.float64),
        count=1000,
    )


@pytest.mark.parametrize("rho, fresh", [(-0.6, False), (0.0, False), (0.3, False), (0.95, False), (0.3, True)])
def test_injected_error_has_fitted_moments(rho: float, fresh: bool) -> None:
    torch.manual_seed(0)
    inj = ErrorInjection(_fitted(rho), fresh_noise=fresh)
    y = torch.randn(200_000, 5) * 4.0 + 2.0
    xi = inj(y) - y
    assert xi.mean().item() == pytest.approx(-1.5, abs=0.01)
    assert xi.std().item() == pytest.approx(0.8, rel=0.01)
    corr = np.corrcoef(y[:, 0].numpy(), xi[:, 0].numpy())[0, 1]
    assert corr == pytest.approx(rho, abs=0.01)


def test_gradient_through_s1_matches_eq15() -> None:
    inj = ErrorInjection(_fitted(0.3))
    y = torch.randn(16, 5, requires_grad=True)
    inj(y).sum().backward()
    torch.testing.assert_close(y.grad, torch.full_like(y, 1.0 + 0.8 * 0.3 / 4.0))


def test_fresh_noise_each_call() -> None:
    inj = ErrorInjection(_fitted(0.0))
    y = torch.zeros(4, 5)
    assert not torch.equal(inj(y), inj(y))
    # Successive draws from the noise table are uncorrelated per neuron.
    torch.manual_seed(1)
    y = torch.zeros(2000, 5)
    a, b = inj(y), inj(y)
    assert abs(np.corrcoef(a[:, 0].numpy(), b[:, 0].numpy())[0, 1]) < 0.1


def test_weight_noise_and_awgn() -> None:
    torch.manual_seed(0)
    w = torch.full((100_000,), 2.0)
    rel = WeightNoise(-0.05, 0.1)(w) / w - 1
    assert rel.mean().item() == pytest.approx(-0.05, abs=2e-3) and rel.std().item() == pytest.approx(0.1, rel=0.02)
    y = torch.randn(200_000) * 3
    noise = AWGN(20.0)(y) - y
    snr = 10 * torch.log10(y.pow(2).mean() / noise.pow(2).mean())
    assert snr.item() == pytest.approx(20.0, abs=0.1)
    with pytest.raises(ValueError):
        WeightNoise(float("nan"), 0.1)


def test_model_file_round_trip_and_mismatch(tmp_path: Path) -> None:
    em = ErrorModel(layers={"conv1": _fitted(0.2)}, tables={"conv1": "ab" * 32}, fingerprint="f" * 64, samples=1000)
    path = em.save(tmp_path / "em.pt")
    back = ErrorModel.load(path)
    torch.testing.assert_close(back.layers["conv1"].rho, em.layers["conv1"].rho)
    back.check_matches("f" * 64, {"conv1": "ab" * 32})
    with pytest.raises(ErrorModelError, match="another network"):
        back.check_matches("0" * 64, {"conv1": "ab" * 32})
    with pytest.raises(ErrorModelError, match="multiplier"):
        back.check_matches("f" * 64, {"conv1": "cd" * 32})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ErrorModelError, match="corrupt"):
        ErrorModel.load(path)
