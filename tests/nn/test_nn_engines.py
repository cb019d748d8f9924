"""Every engine equals the brute-force table reference bit for bit; float exactness is proven on extreme layers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from engine_cases import CPU_ENGINES, TABLES, all_cases, operands, reference, require_exact, table_values

from approxhil.errors import SpecError
from approxhil.nn.engines import Geometry, engine_names, floatconv, gather, get_engine, lowrank, native, plan_for, select_engine
from approxhil.nn.engines.base import timed_at_one_thread
from approxhil.nn.errors import EngineError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("engine", CPU_ENGINES)
@pytest.mark.parametrize("table", TABLES)
def test_engine_matches_reference(table: str, engine: str) -> None:
    require_exact(engine, table)
    plan = plan_for(table_values(table))
    run = get_engine(engine)
    for case, x, w, geometry in all_cases():
        got = run(x, w, plan, geometry)
        assert got.shape == reference(table, case).shape
        assert np.array_equal(got.to(torch.int64).numpy(), reference(table, case)), f"{engine} {table} case {case}"


@pytest.mark.parametrize("kernel", ["packed", "direct"])
@pytest.mark.parametrize("table", ["3330", "2222", "0000", "random", "random-nonzero-row"])
def test_both_c_kernels_match_reference(table: str, kernel: str) -> None:
    """The gather engine picks its packed (three channels per 64-bit lookup) or direct kernel by size: test both."""
    require_exact("gather", table)
    plan = plan_for(table_values(table))
    for case, x, w, geometry in all_cases():
        got = gather.gather_c(x, w, plan, geometry, kernel=kernel)
        assert np.array_equal(got.to(torch.int64).numpy(), reference(table, case)), f"{kernel} {table} case {case}"


def test_packed_kernel_moves_lanes_before_they_carry() -> None:
    """A table spanning ±65535 leaves room for only 16 taps per 21-bit lane; 40 channels x 3x3 flush 24 times."""
    require_exact("gather")
    rng = np.random.default_rng(11)
    values = rng.integers(-65535, 65536, (256, 256)).astype(np.int32)
    values[0, :] = -65535  # x = -128 always takes the extreme values
    values[255, :] = 65535
    plan = plan_for(values)
    assert gather.packed_flush(plan) == 16
    x, w = operands((2, 40, 6, 5), (7, 40, 3, 3), 5)
    x[:, :20] = -128.0
    x[:, 20:] = 127.0
    from nn_reference import conv_reference

    want = conv_reference(x.long().numpy(), w.long().numpy(), values, padding=(1, 1))
    for kernel in ("packed", "direct"):
        got = gather.gather_c(x, w, plan, Geometry(padding=(1, 1)), kernel=kernel)
        assert np.array_equal(got.long().numpy(), want), kernel


@pytest.mark.parametrize("engine", CPU_ENGINES)
def test_identity_table_is_exact_conv(engine: str) -> None:
    require_exact(engine, "0000")
    plan = plan_for(table_values("0000"))
    x, w = operands((4, 8, 9, 9), (6, 4, 3, 3), 3)
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


@pytest.fixture
def torch_threads():
    """Set PyTorch's thread count for one test and restore it afterwards."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("table", ["3330", "0000"])
def test_float32_bound_is_respected_on_large_kernels(table: str, threads: int, torch_threads) -> None:
    """ALL-CNN-sized reduction (3x3x256 = 2304 taps): sums reach 3.8e7 > 2^24, beyond float32's exact range.

    The float32 engines split the channels so each convolution stays below 2^24 and add the parts in
    float64; a plain float32 convolution of the same operands is not exact, which shows the bound matters.
    oneDNN picks its kernels by thread count (its one-thread int8 kernel rounds large sums on some CPUs),
    so every engine that says it is available at this count must be exact at it.
    """
    torch_threads(threads)
    values = table_values(table)
    plan = plan_for(values)
    engines = [e for e in CPU_ENGINES if get_engine(e).unavailable(plan, torch.device("cpu"), (2, 256, 3, 3)) is None]
    assert "lowrank-f32" in engines or not floatconv.float_conv_exact()
    x = torch.full((1, 256, 3, 3), -128.0)
    w = torch.full((2, 256, 3, 3), -128.0)
    x[0, :128, 1, 1] = 127.0
    w[1, ::3] = 127.0
    want = _onehot_reference(x, w, values, 0)
    assert want.abs().max() > 2**24
    for engine in engines:
        got = get_engine(engine)(x, w, plan, Geometry())
        assert torch.equal(got.double(), want), engine
    x = torch.full((1, 256, 3, 3), -128.0)
    w = torch.full((1, 256, 3, 3), -128.0)
    x[0, 0, 1, 1] = w[0, 0, 1, 1] = -127.0  # one odd product: the centre sum is odd and above 2^24
    exact = F.conv2d(x.double(), w.double(), padding=1)
    assert exact[0, 0, 1, 1] > 2**24 and exact[0, 0, 1, 1] % 2 == 1
    assert not torch.equal(F.conv2d(x, w, padding=1).double(), exact)  # float32 cannot hold it
    want = _onehot_reference(x, w, values, 1)
    for engine in engines:
        assert torch.equal(get_engine(engine)(x, w, plan, Geometry(padding=(1, 1))).double(), want), engine


def test_int_operands_any_dtype() -> None:
    """Engines accept integer codes as float or integer tensors."""
    plan = plan_for(table_values("1110"))
    x, w = operands((2, 3, 4, 4), (2, 3, 3, 3), 1)
    want = get_engine("gather-gpu")(x, w, plan, Geometry(padding=(1, 1))).long()
    for engine in CPU_ENGINES:
        if get_engine(engine).unavailable(plan, torch.device("cpu"), tuple(w.shape)) is None:
            got = get_engine(engine)(x.to(torch.int32), w.to(torch.int16), plan, Geometry(padding=(1, 1)))
            assert torch.equal(got.long(), want), engine


# --------------------------------------------------------------------------- availability and errors
def test_probes_run() -> None:
    assert isinstance(lowrank.onednn_exact(), bool) and isinstance(floatconv.float_conv_exact(), bool)


@pytest.mark.parametrize("probe", [lowrank.onednn_exact, floatconv.float_conv_exact])
def test_probe_verdicts_are_for_the_thread_count_results_use(probe, torch_threads) -> None:
    """Asked while engines are timed on one thread, a probe answers for the count results are computed with."""
    torch_threads(2)
    probe.cache_clear()
    two = probe()
    probe.cache_clear()
    torch_threads(1)
    with timed_at_one_thread(2):
        assert probe() == two
        assert torch.get_num_threads() == 1  # the probe ran at two threads and restored one
    probe.cache_clear()
    assert probe() == probe()  # cached per count, and stable


def test_forced_engine_that_is_not_exact_here_names_the_one_to_use() -> None:
    plan = plan_for(table_values("3330"))
    if lowrank.onednn_exact():
        pytest.skip("oneDNN's int8 convolution is exact on this CPU (VNNI); the capped run covers this case")
    with pytest.raises(EngineError, match="engine 'lowrank' cannot compute .*exactly here.*'lowrank-f32'"):
        select_engine("lowrank", plan, torch.device("cpu"))
    x, w = operands((2, 3, 5, 5), (4, 3, 3, 3), 1)
    with pytest.raises(EngineError, match="lowrank-f32"):
        get_engine("lowrank")(x, w, plan, Geometry())


def test_without_vnni_lowrank_is_refused_and_auto_stays_exact() -> None:
    """oneDNN capped at AVX2 (no VNNI, its real code path): the probe rejects int8, auto picks exact engines."""
    script = (
        "import numpy as np, torch, sys\n"
        "sys.path.insert(0, 'tests/nn')\n"
        "from engine_cases import CONV_CASES, all_cases, reference, table_values\n"
        "from approxhil.nn.engines import lowrank, plan_for, select_engine, get_engine\n"
        "from approxhil.nn.errors import EngineError\n"
        "assert not lowrank.onednn_exact()\n"
        "plan = plan_for(table_values('3330'))\n"
        "try:\n"
        "    select_engine('lowrank', plan, torch.device('cpu'))\n"
        "    raise SystemExit('lowrank was not refused')\n"
        "except EngineError as exc:\n"
        "    assert 'lowrank-f32' in str(exc), exc\n"
        "for case, x, w, g in list(all_cases())[::len(CONV_CASES)]:  # the grouped, padded case and linear\n"
        "    for name in ('auto', 'lowrank-f32', 'gather'):\n"
        "        e = select_engine(name, plan, x.device, x, w, g)\n"
        "        assert np.array_equal(e(x, w, plan, g).long().numpy(), reference('3330', case)), (name, case)\n"
        "print('ok')\n"
    )
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "PYTHONPATH": os.pathsep.join([str(ROOT / "sw"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]


def test_without_a_compiler_gather_is_refused_and_auto_uses_other_exact_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    """A C compiler that does not exist: the C engine is unavailable (named error), auto stays exact."""
    monkeypatch.setenv("CC", "/nonexistent/cc")
    native.library.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="C engines are unavailable"):
            assert native.library() is None
        plan = plan_for(table_values("random"))
        with pytest.raises(EngineError, match="engine 'gather' .*C kernels.*'gather-gpu'"):
            select_engine("gather", plan, torch.device("cpu"))
        for table in ("random", "2220"):
            plan = plan_for(table_values(table))
            for case, x, w, geometry in all_cases():
                engine = select_engine("auto", plan, x.device, x, w, geometry)
                assert engine.name != "gather"
                got = engine(x, w, plan, geometry)
                assert np.array_equal(got.long().numpy(), reference(table, case)), (engine.name, table, case)
        x, w = operands((2, 3, 5, 5), (4, 3, 3, 3), 1)
        lut = torch.randint(-128, 128, (256, 5), dtype=torch.int8)
        assert torch.equal(lowrank._stack_input(x, lut).float() - 128, floatconv._stack_input(x, lut.float()))  # both torch paths agree
    finally:
        native.library.cache_clear()


def test_static_selection_and_names() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    smapprox = plan_for(table_values("3330"))
    full = plan_for(table_values("random"))
    assert select_engine("auto", smapprox, cpu).name == "gather"  # unmeasured: the C kernel has the least overhead
    assert select_engine("auto", full, cpu).name == "gather"
    if not torch.cuda.is_available():  # the CUDA kernel needs a GPU; the torch engines run anywhere
        assert select_engine("auto", smapprox, cuda).name == "lowrank-gpu"
        assert select_engine("auto", full, cuda).name == "gather-gpu"
        with pytest.raises(EngineError, match="gather-cuda.*CUDA"):
            select_engine("gather-cuda", full, cuda)
    assert select_engine("gather", smapprox, cuda).name == "gather-gpu"
    assert set(CPU_ENGINES) | {"auto", "gather-cuda"} <= set(engine_names())
    with pytest.raises(SpecError, match="unknown engine 'fast'"):
        select_engine("fast", smapprox, cpu)


def test_plans_are_cached_by_checksum() -> None:
    a = plan_for(table_values("3330"))
    b = plan_for(table_values("3330").copy())
    assert a is b
    assert a.decomposition is b.decomposition


# --------------------------------------------------------------------------- C kernels: builds and helpers
@pytest.mark.skipif(native.library() is None, reason="no C compiler here")
@pytest.mark.parametrize("ncomp", [1, 9, 14, 16, 17, 40])
def test_stack_kernels_match_torch(ncomp: int, monkeypatch: pytest.MonkeyPatch) -> None:
    gen = torch.Generator().manual_seed(ncomp)
    lut = torch.randint(-128, 128, (256, ncomp), generator=gen, dtype=torch.int8)
    for shape in [(2, 1, 3, 5), (3, 4, 7, 6), (1, 19, 2, 9)]:
        x = torch.randint(-128, 128, shape, generator=gen).float()
        strided = x.transpose(2, 3).contiguous().transpose(2, 3)
        fast = lowrank._stack_input(strided, lut)
        fast32 = floatconv._stack_input(strided, lut.float())
        with monkeypatch.context() as patch:
            patch.setattr(native, "library", lambda: None)
            slow = lowrank._stack_input(x, lut)
            slow32 = floatconv._stack_input(x, lut.float())
        assert torch.equal(fast, slow) and torch.equal(fast32, slow32)
        assert torch.equal(fast.float() - 128, fast32)


@pytest.mark.skipif(native.library() is None, reason="no C compiler here")
def test_portable_build_is_exact(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernels built with plain -O3 (no -march=native, as on any x86-64 or aarch64) give the same results."""
    assert "-march=native" not in native.build_flags(portable=True)
    portable = native.load(portable=True)
    monkeypatch.setattr(native, "library", lambda: portable)
    for table in ("3330", "random-nonzero-row"):
        plan = plan_for(table_values(table))
        for case, x, w, geometry in all_cases():
            for kernel in ("packed", "direct"):
                got = gather.gather_c(x, w, plan, geometry, kernel=kernel)
                assert np.array_equal(got.long().numpy(), reference(table, case)), (table, case, kernel)


def _selftest_binary(compiler: list[str], tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    proc = subprocess.run(
        [*compiler, "-O3", "-std=gnu99", "-o", str(out), str(ROOT / "tests" / "nn" / "kernels_selftest.c"), str(native.SOURCE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return out


@pytest.mark.skipif(native._compiler() is None, reason="no C compiler here")
def test_kernel_selftest_portable_build(tmp_path: Path) -> None:
    """kernels.c against a naive C loop, built with plain -O3: the same source the engines load."""
    binary = _selftest_binary([native._compiler()], tmp_path, "selftest")
    proc = subprocess.run([str(binary)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr


@pytest.mark.skipif(
    not shutil.which("aarch64-linux-gnu-gcc") or not shutil.which("qemu-aarch64"),
    reason="needs aarch64-linux-gnu-gcc and qemu-aarch64 (apt: gcc-aarch64-linux-gnu qemu-user)",
)
def test_kernel_selftest_aarch64(tmp_path: Path) -> None:
    """The same self-test cross-compiled for aarch64 (plain -O3) and run under qemu: the kernels are portable C."""
    binary = _selftest_binary(["aarch64-linux-gnu-gcc", "-static"], tmp_path, "selftest-aarch64")
    proc = subprocess.run(["qemu-aarch64", str(binary)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "ok" in proc.stdout, proc.stdout + proc.stderr


# --------------------------------------------------------------------------- CUDA
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("table", TABLES)
def test_cuda_engines_match_reference(table: str) -> None:
    plan = plan_for(table_values(table))
    cuda = torch.device("cuda")
    for name in ("gather-cuda", "lowrank-gpu", "gather-gpu", "auto"):
        for case, x, w, geometry in all_cases():
            engine = select_engine(name, plan, cuda, x.cuda(), w.cuda(), geometry)
            got = engine(x.cuda(), w.cuda(), plan, geometry)
            assert np.array_equal(got.long().cpu().numpy(), reference(table, case)), (name, table, case)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_kernel_passes_its_self_check_and_splits_large_reductions() -> None:
    from approxhil.nn.engines import gpu_kernel

    assert gpu_kernel.self_check(torch.cuda.current_device()) is None
    values = table_values("random")
    plan = plan_for(values)
    x, w = operands((2, 64, 6, 6), (8, 64, 3, 3), 21)
    want = gather.gather_c(x, w, plan, Geometry(padding=(1, 1))) if native.library() else None
    want = want if want is not None else get_engine("gather-gpu")(x, w, plan, Geometry(padding=(1, 1)))
    for splits in (1, 2, 7, 18):
        got = gpu_kernel._launch(x.cuda(), w.cuda(), plan, Geometry(padding=(1, 1)), splits)
        assert torch.equal(got.cpu().long(), want.long()), splits
