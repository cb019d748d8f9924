"""The gather-cuda kernel's logic, run without a GPU: its CUDA source compiled as C++ with one OS thread per
CUDA thread and a real barrier for ``__syncthreads``, fed the very arguments the engine launches it with.

This checks the indexing, the staging rounds, padding, groups, linear layers and split-K atomics against the
brute-force reference. What it cannot check (NVRTC, shared-memory limits, the GPU itself) the CUDA tests and
the kernel's self-check on first use cover on a machine with a GPU.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest
import torch
from engine_cases import CONV_CASES, all_cases, operands, reference, table_values
from nn_reference import conv_reference

from approxhil.nn.engines import Geometry, gpu_kernel, plan_for

SHIM = r"""
#include <algorithm>
#include <atomic>
#include <barrier>
#include <thread>
#include <vector>
struct int4 { int x, y, z, w; };
struct uint4 { unsigned int x, y, z, w; };
struct Dim3 { unsigned int x = 0, y = 0, z = 0; };
thread_local Dim3 threadIdx, blockIdx;
static std::barrier<>* block_barrier;
#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(n)
#define __restrict__
#define __shared__
#define __syncthreads() block_barrier->arrive_and_wait()
using std::min;
static inline int atomicAdd(int* p, int v) { return std::atomic_ref<int>(*p).fetch_add(v); }
extern "C" { alignas(16) int4 smem4[(65536 * 2 + 64 * 1024) / 16]; }
"""

RUNNER = r"""
extern "C" int run_grid(int gx, int gy, int gz, const unsigned char* x, const unsigned char* w, const short* table,
                        int* y, int N, int C, int H, int W, int O, int KH, int KW, int OH, int OW, int sh, int sw,
                        int ph, int pw, int dh, int dw, int groups, int kper, int atomic)
{
    for (int bz = 0; bz < gz; ++bz)
        for (int by = 0; by < gy; ++by)
            for (int bx = 0; bx < gx; ++bx) {
                std::barrier<> bar(BM);
                block_barrier = &bar;
                std::vector<std::thread> threads;
                for (int t = 0; t < BM; ++t)
                    threads.emplace_back([=] {
                        threadIdx.x = t;
                        blockIdx.x = bx; blockIdx.y = by; blockIdx.z = bz;
                        gather_conv_cuda(x, w, table, y, N, C, H, W, O, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw,
                                         groups, kper, atomic);
                    });
                for (auto& t : threads) t.join();
            }
    return 0;
}
"""


@pytest.fixture(scope="module", params=["shared", "global"])
def emulator(request, tmp_path_factory) -> ctypes.CDLL:
    """The kernel source built for the host; ``global`` is the variant for GPUs with less shared memory."""
    compiler = shutil.which("g++") or shutil.which("clang++")
    if compiler is None:
        pytest.skip("needs a C++20 compiler (g++ or clang++) to emulate the CUDA kernel")
    folder = tmp_path_factory.mktemp(f"cuda-emulation-{request.param}")
    source = folder / "kernel.cpp"
    source.write_text(SHIM + gpu_kernel.SOURCE + RUNNER)
    library = folder / "kernel.so"
    flags = ["-DTABLE_GLOBAL"] if request.param == "global" else []
    proc = subprocess.run(
        [compiler, "-std=c++20", "-O1", "-pthread", "-shared", "-fPIC", *flags, str(source), "-o", str(library)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode != 0 and "barrier" in proc.stderr:
        pytest.skip(f"{compiler} lacks C++20 <barrier>: {proc.stderr[-300:]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    lib = ctypes.CDLL(str(library))
    lib.run_grid.restype = ctypes.c_int
    return lib


def _emulate(lib: ctypes.CDLL, x: torch.Tensor, w: torch.Tensor, plan, geometry: Geometry, splits=None, sms=4):
    grid, args, y = gpu_kernel.launch_config(x, w, plan, geometry, splits, sms)
    c_args = [ctypes.c_void_p(a.data_ptr()) if isinstance(a, torch.Tensor) else ctypes.c_int(a) for a in args]
    assert lib.run_grid(*[ctypes.c_int(v) for v in grid], *c_args) == 0
    return y.reshape(y.shape[0], y.shape[1]) if geometry.linear else y


@pytest.mark.parametrize("table", ["3330", "random-nonzero-row"])
def test_emulated_kernel_matches_reference(emulator, table: str) -> None:
    plan = plan_for(table_values(table))
    for case, x, w, geometry in all_cases():
        got = _emulate(emulator, x, w, plan, geometry)
        assert np.array_equal(got.long().numpy(), reference(table, case)), (table, case)


def test_emulated_split_k_and_channel_blocks(emulator) -> None:
    """More than one block of 16 channels and of 256 pixels, the reduction split 1, 3 and 9 ways (atomics)."""
    values = table_values("random")
    plan = plan_for(values)
    x, w = operands((2, 7, 13, 11), (20, 7, 3, 3), 8)
    want = conv_reference(x.long().numpy(), w.long().numpy(), values, padding=(1, 1))
    for splits in (1, 3, 9):
        got = _emulate(emulator, x, w, plan, Geometry(padding=(1, 1)), splits=splits)
        assert np.array_equal(got.long().numpy(), want), splits
    assert gpu_kernel.launch_config(x, w, plan, Geometry(padding=(1, 1)), None, 132)[0][2] > 1  # small layer: split


def test_the_engine_refuses_what_int16_tables_and_int32_sums_cannot_hold() -> None:
    big = np.array(table_values("random"), dtype=np.int32)
    big[3, 3] = 40000
    cuda = torch.device("cuda")
    assert "int16" in gpu_kernel.check(plan_for(big), cuda, CONV_CASES[0][1])
    assert "overflow int32" in gpu_kernel.check(plan_for(table_values("3330")), cuda, (4, 2048, 40, 40))
    assert "CUDA tensors" in gpu_kernel.check(plan_for(table_values("3330")), torch.device("cpu"), (4, 3, 3, 3))
