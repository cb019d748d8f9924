"""Table-derived gradients: the estimators' tables, every backward backend against a brute-force reference,
the layers' backward pass (every forward engine), and checks against autograd of smooth surrogates."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from engine_cases import all_cases, require_exact, table_values
from nn_reference import conv_grad_reference, linear_grad_reference

from approxhil.errors import ConfigError
from approxhil.multipliers import golden_table
from approxhil.nn import ApproxConv2d, ApproxLinear, approximate
from approxhil.nn.gradients import (
    BACKENDS,
    DEFAULT_WINDOW,
    EDGES,
    ESTIMATORS,
    MAX_WINDOW,
    Gradient,
    backend_for,
    diff_tables,
    gradient_plan,
    gradient_tables,
    set_gradient,
    slope_tables,
    split,
    table_backward,
)
from approxhil.nn.multiplier import oriented_values
from approxhil.tables import TruthTable, provenance

VALUES = np.arange(-128, 128)
EXACT = oriented_values(golden_table("0000"))


# --------------------------------------------------------------------------- the estimators' tables
@pytest.mark.parametrize("edge", EDGES)
@pytest.mark.parametrize("window", [0, 1, 2, 5, MAX_WINDOW])
def test_lut_diff_of_the_exact_table_is_the_exact_derivative(window: int, edge: str) -> None:
    ga, gb = diff_tables(EXACT, window, edge)
    assert np.array_equal(ga, np.broadcast_to(VALUES, ga.shape))  # ∂(x·w)/∂x = w, edge codes included
    assert np.array_equal(gb, np.broadcast_to(VALUES[:, None], gb.shape))  # ∂(x·w)/∂w = x


def test_every_estimator_reduces_to_the_exact_gradient_for_the_exact_table() -> None:
    ste = gradient_tables(EXACT, Gradient(estimator="ste"))
    for estimator in ESTIMATORS:
        ga, gb = gradient_tables(EXACT, Gradient(estimator=estimator))
        assert np.array_equal(ga, ste[0]) and np.array_equal(gb, ste[1]), estimator
        assert gradient_plan(EXACT, Gradient(estimator=estimator)).exact
    assert not gradient_plan(table_values("2222"), Gradient(estimator="lut-diff")).exact


def _direct_diff(table: np.ndarray, h: int, edge: str) -> np.ndarray:
    """The method as written in the issue, one column at a time in the value domain (no prefix sums)."""
    out = np.empty(table.shape)
    n = table.shape[0]
    for b in range(table.shape[1]):
        column = [float(v) for v in table[:, b]]
        smooth = {a: sum(column[a + d] for d in range(-h, h + 1)) / (2 * h + 1) for a in range(h, n - h)}
        for a in range(n):
            if h < a < n - 1 - h:
                out[a, b] = (smooth[a + 1] - smooth[a - 1]) / 2
            elif edge == "slope":
                out[a, b] = (smooth[n - 1 - h] - smooth[h]) / (n - 1 - 2 * h)
            elif edge == "one-sided":
                out[a, b] = smooth[h + 1] - smooth[h] if a <= h else smooth[n - 1 - h] - smooth[n - 2 - h]
            else:
                out[a, b] = np.sign(smooth[n - 1 - h] - smooth[h]) * (max(column) - min(column)) / (n - 1)
    return out


@pytest.mark.parametrize("edge", EDGES)
@pytest.mark.parametrize(("table", "window"), [("2222", 2), ("random", 3), ("3330", 0)])
def test_lut_diff_follows_the_definition(table: str, window: int, edge: str) -> None:
    values = table_values(table)
    ga, gb = diff_tables(values, window, edge)
    np.testing.assert_allclose(ga, _direct_diff(values, window, edge), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(gb, _direct_diff(values.T, window, edge).T, rtol=1e-12, atol=1e-9)


def test_sign_magnitude_tables_are_differentiated_in_the_value_domain() -> None:
    """A sign-magnitude table is odd in each operand (T(−x, w) = −T(x, w)), so its derivative along x is even:
    differences over consecutive values, across zero, not over the byte codes of sign and magnitude."""
    values = table_values("2222").astype(np.int64)
    inner = np.arange(1, 128)  # x and −x both in the table (−128 has no mirror)
    assert np.array_equal(values[128 + inner], -values[128 - inner])
    ga, gb = diff_tables(values, 2)
    mirrored = np.arange(4, 124)  # both x and −x interior for H = 2
    np.testing.assert_allclose(ga[128 + mirrored], ga[128 - mirrored], atol=1e-9)
    np.testing.assert_allclose(gb[:, 128 + mirrored], gb[:, 128 - mirrored], atol=1e-9)
    assert golden_table("0000").encoding.value == "sign-magnitude"  # whose lut-diff is exactly w (test above)


def test_lut_1d_is_the_least_squares_slope() -> None:
    values = table_values("3333").astype(np.float64)
    ga, gb = slope_tables(values.astype(np.int64))
    for w in (0, 17, 128, 255):
        assert np.allclose(ga[:, w], np.polyfit(VALUES, values[:, w], 1)[0])
    for x in (3, 128, 200):
        assert np.allclose(gb[x], np.polyfit(VALUES, values[x], 1)[0])
    assert split(ga)[0].shape[1] == 1 and split(gb)[0].shape[1] == 1  # rank one: one convolution per side


def _quadratic_table() -> np.ndarray:
    """``x·w + x(x+1)/2 − w(w−1)/2``: whole numbers, quadratic in each operand, so its smoothed central difference
    is its derivative ``w + x + ½`` (``x − w + ½``) exactly at every interior code, whatever the window."""
    x, w = np.meshgrid(VALUES, VALUES, indexing="ij")
    return x * w + x * (x + 1) // 2 - w * (w - 1) // 2


@pytest.mark.parametrize("window", [0, 2, 7])
def test_lut_diff_of_a_quadratic_is_its_derivative(window: int) -> None:
    ga, gb = diff_tables(_quadratic_table(), window)
    inner = slice(window + 1, 255 - window)
    x, w = np.meshgrid(VALUES, VALUES, indexing="ij")
    np.testing.assert_array_equal(ga[inner], (w + x + 0.5)[inner])
    np.testing.assert_array_equal(gb[:, inner], (x - w + 0.5)[:, inner])


def test_settings_are_validated() -> None:
    assert Gradient().estimator == "ste" and Gradient().window == DEFAULT_WINDOW
    for bad in ({"estimator": "bogus"}, {"window": -1}, {"window": MAX_WINDOW + 1}, {"window": 2.5}, {"window": True}, {"edge": "wrap"}):
        with pytest.raises(ConfigError):
            Gradient(**bad)
    assert Gradient(estimator="lut-diff", window=3).suffix == "-glut-diff-H3" and Gradient().suffix == ""
    assert Gradient(estimator="lut-diff", window=2, edge="range").label == "lut-diff H=2 range"


# --------------------------------------------------------------------------- backends against the reference
@cache
def _reference(table: str, estimator: str, case: int) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    plan = gradient_plan(table_values(table), Gradient(estimator=estimator))
    _, x, w, geometry = list(all_cases())[case]
    gen = torch.Generator().manual_seed(100 + case)
    if geometry.linear:
        g = torch.randn(x.shape[0], w.shape[0], generator=gen)
        gx, gw = linear_grad_reference(g.numpy(), x.long().numpy(), w.long().numpy(), plan.ga, plan.gb)
    else:
        oh, ow = geometry.output_size(x.shape[2], x.shape[3], w.shape[2], w.shape[3])
        g = torch.randn(x.shape[0], w.shape[0], oh, ow, generator=gen)
        gx, gw = conv_grad_reference(
            g.numpy(),
            x.long().numpy(),
            w.long().numpy(),
            plan.ga,
            plan.gb,
            geometry.stride,
            geometry.padding,
            geometry.dilation,
            geometry.groups,
        )
    return gx, gw, g


def _close(got: torch.Tensor, want: np.ndarray, label: str) -> None:
    scale = max(1.0, float(np.abs(want).max()))
    assert got.shape == want.shape, label
    np.testing.assert_allclose(got.double().numpy(), want, rtol=0, atol=2e-6 * scale, err_msg=label)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("table", "estimator"),
    [
        ("random", "lut-diff"),
        ("random-nonzero-row", "lut-diff"),
        ("2222", "lut-diff"),
        ("3330", "lut-1d"),
        ("random-nonzero-row", "lut-1d"),
    ],
)
def test_backend_matches_the_reference(backend: str, table: str, estimator: str) -> None:
    if backend == "gather":
        require_exact("gather")
    plan = gradient_plan(table_values(table), Gradient(estimator=estimator))
    for case, x, w, geometry in all_cases():
        want_x, want_w, g = _reference(table, estimator, case)
        gx, gw = table_backward(backend, g, x, w, plan, geometry)
        _close(gx, want_x, f"{backend} {table} case {case} gx")
        _close(gw, want_w, f"{backend} {table} case {case} gw")
        only_x, none_w = table_backward(backend, g, x, w, plan, geometry, need_w=False)
        none_x, only_w = table_backward(backend, g, x, w, plan, geometry, need_x=False)
        assert none_w is None and none_x is None
        assert torch.equal(only_x, gx) and torch.equal(only_w, gw)


def test_c_kernel_does_not_depend_on_the_thread_split() -> None:
    require_exact("gather")
    plan = gradient_plan(table_values("random"), Gradient(estimator="lut-diff"))
    _, x, w, geometry = next(iter(all_cases()))
    _, _, g = _reference("random", "lut-diff", 0)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = table_backward("gather", g, x, w, plan, geometry)
        torch.set_num_threads(3)
        three = table_backward("gather", g, x, w, plan, geometry)
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for a, b in zip(one, three))


def test_backend_choice() -> None:
    cpu = torch.device("cpu")
    diff = gradient_plan(table_values("2222"), Gradient(estimator="lut-diff"))
    slope = gradient_plan(table_values("2222"), Gradient(estimator="lut-1d"))
    assert backend_for("lowrank", diff, cpu) == "factors" and backend_for("gather-gpu", diff, cpu) == "gather-torch"
    assert backend_for("auto", slope, cpu) == "factors"  # rank one: two plain convolutions
    if backend_for("gather", diff, cpu) == "gather":  # the C kernels build here: lut-diff (rank 9) runs there
        assert backend_for("auto", diff, cpu) == "gather"
    random = gradient_plan(table_values("random"), Gradient(estimator="lut-diff"))
    assert (
        backend_for("auto", random, torch.device("cuda")) == "gather-torch" and backend_for("auto", diff, torch.device("cuda")) == "factors"
    )


# --------------------------------------------------------------------------- the layers
def _conv(multiplier, engine: str = "auto", gradient: str = "lut-diff") -> ApproxConv2d:
    torch.manual_seed(0)
    layer = ApproxConv2d(4, 6, 3, stride=(2, 1), padding=1, dilation=(1, 2), groups=2, multiplier=multiplier, engine=engine)
    layer.act_quant.set_delta(0.02)
    layer.gradient = Gradient(estimator=gradient)
    return layer


def _grads(layer, x: torch.Tensor, seed: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    layer.weight.grad = None
    y = layer(x)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed))
    y.backward(g)
    return x.grad, layer.weight.grad, g


def _x(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(2))


@pytest.mark.parametrize("engine", ["auto", "lowrank", "lowrank-f32", "gather", "lowrank-gpu", "gather-gpu"])
@pytest.mark.parametrize("estimator", ["lut-diff", "lut-1d"])
def test_every_engine_back_propagates_through_the_gradient_tables(engine: str, estimator: str) -> None:
    """x.grad = Δw · Σ g·Ga (zero where the activation clipped), weight.grad = Δx · Σ g·Gb, for every engine."""
    if engine != "auto":
        require_exact(engine, "2222")
    layer = _conv("2222", engine, estimator)
    x = _x(2, 4, 7, 6) * 3  # some activations clip at ±128 codes
    gx, gw, g = _grads(layer, x)
    x_int, w_int, _ = layer.int_operands(x)
    plan = gradient_plan(oriented_values(golden_table("2222")), Gradient(estimator=estimator))
    geometry = layer.geometry()
    want_x, want_w = conv_grad_reference(
        g.numpy(), x_int.numpy(), w_int.numpy(), plan.ga, plan.gb, geometry.stride, geometry.padding, geometry.dilation, geometry.groups
    )
    inside = (torch.round(x / layer.act_quant.delta).abs() <= 127).numpy() | (torch.round(x / layer.act_quant.delta) == -128).numpy()
    _close(gx, want_x * float(layer.weight_quant.delta) * inside, f"{engine} gx")
    _close(gw, want_w * float(layer.act_quant.delta), f"{engine} gw")
    assert layer.gradient_backend in BACKENDS


def test_linear_layer_with_extra_dimensions() -> None:
    torch.manual_seed(1)
    layer = ApproxLinear(12, 5, multiplier="2220")
    layer.act_quant.set_delta(0.03)
    layer.gradient = Gradient(estimator="lut-diff", window=1)
    x = _x(3, 4, 12)
    gx, gw, g = _grads(layer, x)
    assert gx.shape == x.shape and gw.shape == layer.weight.shape
    x_int, w_int, _ = layer.int_operands(x)
    plan = gradient_plan(oriented_values(golden_table("2220")), layer.gradient)
    want_x, want_w = linear_grad_reference(g.reshape(-1, 5).numpy(), x_int.reshape(-1, 12).numpy(), w_int.numpy(), plan.ga, plan.gb)
    _close(gx.reshape(-1, 12), want_x * float(layer.weight_quant.delta), "linear gx")
    _close(gw, want_w * float(layer.act_quant.delta), "linear gw")


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_exact_table_back_propagates_exactly_like_ste(estimator: str) -> None:
    """For the exact multiplier every estimator is the straight-through backward, bit for bit."""
    x = _x(2, 4, 7, 6)
    want = _grads(_conv("0000", gradient="ste"), x)
    got = _grads(_conv("0000", gradient=estimator), x)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_ste_backward_is_unchanged_and_lut_diff_differs() -> None:
    x = _x(2, 4, 7, 6)
    ste = _grads(_conv("2222", gradient="ste"), x)
    exact_layer = _conv("0000", gradient="ste")
    exact = _grads(exact_layer, x)
    assert torch.equal(ste[0], exact[0]) and torch.equal(ste[1], exact[1])  # STE: the exact layer's gradient
    diff = _grads(_conv("2222", gradient="lut-diff"), x)
    assert not torch.allclose(diff[0], ste[0]) and not torch.allclose(diff[1], ste[1])


def test_gradcheck_against_a_smooth_surrogate() -> None:
    """A table sampled from a quadratic f: at interior codes lut-diff is f's derivative, so the layer's backward
    equals autograd through Σ f(x, w) (float64) — a gradcheck of the whole table-gradient path."""
    table = TruthTable(_quadratic_table(), name="quadratic", encoding="twos-complement", provenance=provenance("import", note="test"))
    torch.manual_seed(5)
    layer = ApproxConv2d(3, 4, 3, padding=0, multiplier=table)
    layer.gradient = Gradient(estimator="lut-diff", window=2)
    codes = torch.randint(-100, 101, (2, 3, 6, 6), generator=torch.Generator().manual_seed(6)).double()
    layer.act_quant.set_delta(0.5)
    with torch.no_grad():
        layer.weight.copy_(torch.randint(-100, 101, layer.weight.shape, generator=torch.Generator().manual_seed(7)).float())
        layer.weight[0, 0, 0, 0] = 127.0  # Δw = 1: weight codes are the weights
    gx, gw, g = _grads(layer, (codes * 0.5).float())

    def surrogate(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        cols = F.unfold(x, 3)  # [N, C·9, L]
        wf = w.reshape(4, -1)
        a, b = cols[:, None, :, :], wf[None, :, :, None]
        return (a * b + a * (a + 1) / 2 - b * (b - 1) / 2).sum(2).reshape(2, 4, 4, 4)

    x64 = codes.clone().requires_grad_(True)
    w64 = layer.weight.detach().double().requires_grad_(True)
    surrogate(x64, w64).backward(g.double())
    # y = Δx·Δw·Σ T(x/Δx, w/Δw) with Δx = 0.5, Δw = 1: ∂y/∂x = Σ g·∂f/∂x, ∂y/∂w = 0.5·Σ g·∂f/∂w
    torch.testing.assert_close(gx.double(), x64.grad, rtol=1e-6, atol=1e-3)
    interior = torch.ones_like(gw, dtype=torch.bool)
    interior[0, 0, 0, 0] = False  # the largest weight always quantizes to code 127, an edge code (slope rule there)
    torch.testing.assert_close(gw.double()[interior], 0.5 * w64.grad[interior], rtol=1e-6, atol=1e-3)
    assert not torch.isclose(gw.double()[0, 0, 0, 0], 0.5 * w64.grad[0, 0, 0, 0])


def test_set_gradient_and_repr() -> None:
    model = approximate(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.Linear(4, 2)), "2222")
    set_gradient(model, "lut-diff", window=4)
    assert all(layer.gradient == Gradient(estimator="lut-diff", window=4) for layer in (model[0], model[2]))
    assert "gradient=lut-diff H=4" in repr(model)
    set_gradient(model, Gradient())
    assert "gradient" not in repr(model)
    with pytest.raises(ConfigError, match="gradient estimator"):
        set_gradient(model, "bogus")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("table", ["2222", "random"])
def test_cuda_backward_equals_the_cpu_one(table: str) -> None:
    plan = gradient_plan(table_values(table), Gradient(estimator="lut-diff"))
    cuda = torch.device("cuda")
    for case, x, w, geometry in all_cases():
        _, _, g = _reference(table, "lut-diff", case)
        want = table_backward("gather-torch", g, x, w, plan, geometry)
        backend = backend_for("auto", plan, cuda)
        got = table_backward(backend, g.to(cuda), x.to(cuda), w.to(cuda), plan, geometry)
        for a, b in zip(got, want):
            torch.testing.assert_close(a.cpu(), b, rtol=1e-4, atol=1e-3)
