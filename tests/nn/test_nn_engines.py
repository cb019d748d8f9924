"""Every engine equals the brute-force table reference bit for bit; float exactness is proven on extreme layers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from approxhil.errors import SpecError
from approxhil.multipliers import PAPER_CONFIGS, golden_table
from approxhil.nn.engines import LINEAR, Geometry, engine_names, get_engine, plan_for, select_engine
from approxhil.nn.engines import lowrank, native
from approxhil.nn.multiplier import oriented_values
from nn_reference import conv_reference, linear_reference

ENGINES = ["lowrank", "lowrank-gpu", "gather", "gather-gpu"]
TABLES = [*PAPER_CONFIGS, "0000", "random", "random-nonzero-row"]


def table_values(name: str) -> np.ndarray:
    """Oriented int32 table: a paper config, the exact multiplier or a random full-rank table."""
    if name.startswith("random"):
        rng = np.random.default_rng(7)
        ops = np.arange(-128, 128)
        values = np.outer(ops, ops) + rng.integers(-3000, 3001, (256, 256))
        if name == "random":
            values[128, :] = 0  # T(0, w) = 0 like every real multiplier
            values[:, 128] = 0
        return values.astype(np.int32)  # "random-nonzero-row": padding must feed T(0, w) != 0
    return oriented_values(golden_table(name))


CONV_CASES = [
    # (x shape, w shape, geometry)
    ((2, 4, 7, 6), (6, 2, 3, 3), Geometry((2, 1), (1, 2), (1, 2), 2)),
    ((2, 3, 5, 5), (4, 3, 3, 3), Geometry((1, 1), (1, 1), (1, 1), 1)),
    ((1, 6, 4, 5), (6, 1, 2, 3), Geometry((1, 2), (0, 1), (1, 1), 6)),  # depthwise, asymmetric kernel
    ((3, 5, 3, 3), (7, 5, 1, 1), Geometry()),
    ((2, 3, 7, 8), (4, 3, 1, 1), Geometry((2, 3), (0, 0), (1, 1), 1)),  # strided 1x1 (ResNet shortcut)
]


def _operands(xs, ws, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randint(-128, 128, xs, generator=gen).float()
    w = torch.randint(-128, 128, ws, generator=gen).float()
    x.view(-1)[:3] = torch.tensor([-128.0, 127.0, 0.0])  # extremes always present
    w.view(-1)[:2] = torch.tensor([-128.0, 127.0])
    return x, w


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("table", TABLES)
def test_engine_matches_reference(table: str, engine: str) -> None:
    values = table_values(table)
    plan = plan_for(values)
    run = get_engine(engine)
    for seed, (xs, ws, geometry) in enumerate(CONV_CASES):
        x, w = _operands(xs, ws, seed)
        want = conv_reference(x.long().numpy(), w.long().numpy(), values, geometry.stride, geometry.padding,
                              geometry.dilation, geometry.groups)
        got = run(x, w, plan, geometry)
        assert got.shape == want.shape
        assert np.array_equal(got.to(torch.int64).numpy(), want), f"{engine} {table} case {seed}"
    x, w = _operands((5, 37), (3, 37), 99)
    got = run(x, w, plan, LINEAR)
    assert np.array_equal(got.to(torch.int64).numpy(), linear_reference(x.long().numpy(), w.long().numpy(), values))


@pytest.mark.parametrize("engine", ENGINES)
def test_identity_table_is_exact_conv(engine: str) -> None:
    plan = plan_for(table_values("0000"))
    x, w = _operands((4, 8, 9, 9), (6, 4, 3, 3), 3)
    geometry = Geometry((2, 2), (1, 1), (1, 1), 2)
    want = F.conv2d(x.double(), w.double(), stride=2, padding=1, groups=2)
    assert torch.equal(get_engine(engine)(x, w, plan, geometry).double(), want)


def _onehot_reference(x: torch.Tensor, w: torch.Tensor, values: np.ndarray, padding: int) -> torch.Tensor:
    """Σ_a conv([x == a], T(a, w)) in float64: exact here (|partial sums| < 2^40), independent of the engines."""
    xp = F.pad(x, (padding,) * 4)
    table = torch.from_numpy(values.astype(np.float64))
    out = 0
    for a in torch.unique(xp).tolist():
        out = out + F.conv2d((xp == a).double(), table[int(a) + 128][w.long() + 128])
    return out


def test_float32_bound_is_respected_on_large_kernels() -> None:
    """ALL-CNN-sized reduction (3x3x256 = 2304 taps): sums reach 3.8e7 > 2^24, beyond float32's exact range.

    The low-rank engine splits the channels so each oneDNN call stays below 2^24 and adds the parts in
    float64; a plain float32 convolution of the same operands is not exact, which shows the bound matters.
    """
    values = table_values("3330")
    plan = plan_for(values)
    x = torch.full((1, 256, 3, 3), -128.0)
    w = torch.full((2, 256, 3, 3), -128.0)
    x[0, :128, 1, 1] = 127.0
    w[1, ::3] = 127.0
    want = _onehot_reference(x, w, values, 0)
    assert want.abs().max() > 2**24
    for engine in ENGINES:
        got = get_engine(engine)(x, w, plan, Geometry())
        assert torch.equal(got.double(), want), engine
    x = torch.full((1, 256, 3, 3), -128.0)
    w = torch.full((1, 256, 3, 3), -128.0)
    x[0, 0, 1, 1] = w[0, 0, 1, 1] = -127.0  # one odd product: the centre sum is odd and above 2^24
    exact = F.conv2d(x.double(), w.double(), padding=1)
    assert exact[0, 0, 1, 1] > 2**24 and exact[0, 0, 1, 1] % 2 == 1
    assert not torch.equal(F.conv2d(x, w, padding=1).double(), exact)  # float32 cannot hold it
    want = _onehot_reference(x, w, values, 1)
    for engine in ENGINES:
        assert torch.equal(get_engine(engine)(x, w, plan, Geometry(padding=(1, 1))).double(), want), engine


def test_torch_fallbacks_are_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the C kernels and without oneDNN's int8 convolution the engines stay exact."""
    values = table_values("2220")
    plan = plan_for(values)
    xs, ws, geometry = CONV_CASES[0]
    x, w = _operands(xs, ws, 11)
    want = conv_reference(x.long().numpy(), w.long().numpy(), values, geometry.stride, geometry.padding,
                          geometry.dilation, geometry.groups)
    monkeypatch.setattr(native, "library", lambda: None)
    assert np.array_equal(get_engine("gather")(x, w, plan, geometry).long().numpy(), want)
    assert np.array_equal(get_engine("lowrank")(x, w, plan, geometry).long().numpy(), want)
    monkeypatch.setattr(lowrank, "onednn_exact", lambda: False)
    assert np.array_equal(get_engine("lowrank")(x, w, plan, geometry).long().numpy(), want)


def test_int_operands_any_dtype() -> None:
    """Engines accept integer codes as float or integer tensors."""
    values = table_values("1110")
    plan = plan_for(values)
    x, w = _operands((2, 3, 4, 4), (2, 3, 3, 3), 1)
    want = get_engine("gather")(x, w, plan, Geometry(padding=(1, 1))).long()
    for engine in ENGINES:
        got = get_engine(engine)(x.to(torch.int32), w.to(torch.int16), plan, Geometry(padding=(1, 1)))
        assert torch.equal(got.long(), want), engine


def test_onednn_probe_runs() -> None:
    assert isinstance(lowrank.onednn_exact(), bool)


def test_auto_selection() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    smapprox = plan_for(table_values("3330"))
    full = plan_for(table_values("random"))
    assert select_engine("auto", smapprox, cpu).name == "lowrank"
    assert select_engine("auto", full, cpu).name == "gather"
    assert select_engine("auto", smapprox, cuda).name == "lowrank-gpu"
    assert select_engine("auto", full, cuda).name == "gather-gpu"
    assert select_engine("gather", smapprox, cuda).name == "gather-gpu"
    assert set(ENGINES) < set(engine_names())
    with pytest.raises(SpecError, match="unknown engine 'fast'"):
        select_engine("fast", smapprox, cpu)


def test_plans_are_cached_by_checksum() -> None:
    a = plan_for(table_values("3330"))
    b = plan_for(table_values("3330").copy())
    assert a is b
    assert a.decomposition is b.decomposition


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("table", ["3330", "random"])
def test_cuda_engines_match_cpu(table: str) -> None:
    values = table_values(table)
    plan = plan_for(values)
    xs, ws, geometry = CONV_CASES[0]
    x, w = _operands(xs, ws, 4)
    want = get_engine("gather")(x, w, plan, geometry).long()
    for engine in ("auto", "lowrank", "gather"):
        got = select_engine(engine, plan, torch.device("cuda"))(x.cuda(), w.cuda(), plan, geometry)
        assert torch.equal(got.long().cpu(), want), engine


@pytest.mark.skipif(native.library() is None, reason="no C compiler: the torch path is the only path")
@pytest.mark.parametrize("ncomp", [1, 9, 14, 16, 17, 40])
def test_stack_kernel_matches_torch(ncomp: int, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = torch.Generator().manual_seed(ncomp)
    lut = torch.randint(-128, 128, (256, ncomp), generator=gen, dtype=torch.int8)
    for shape in [(2, 1, 3, 5), (3, 4, 7, 6), (1, 19, 2, 9)]:
        x = torch.randint(-128, 128, shape, generator=gen).float()[..., ::1]
        fast = lowrank._stack_input(x.transpose(2, 3).contiguous().transpose(2, 3), lut)  # strided input
        with monkeypatch.context() as patch:
            patch.setattr(native, "library", lambda: None)
            slow = lowrank._stack_input(x, lut)
        assert torch.equal(fast, slow)
