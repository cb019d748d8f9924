"""``gather-cuda``: a CUDA kernel for any table, the whole table in shared memory, int32 sums.

Compiled on first use with NVRTC (``torch.cuda._compile_kernel``; CUDA builds of torch ship NVRTC, so
neither nvcc nor an extension build is needed). Implicit GEMM: a block of :data:`BM` threads computes
:data:`BM` output pixels × :data:`TN` output channels, one pixel and ``TN`` int32 accumulators per
thread, over a slice of the reduction; activation and weight codes of :data:`BK` reduction steps are
staged in shared memory, and every product is ``table[w_code · 256 + x_code]`` from the table held in
shared memory as int16 (128 KiB; GPUs with less shared memory per block read it through the L1 cache
instead). Small layers split the reduction across blocks (split-K) and add the slices with integer
atomics, which are exact in any order.

Exact: every product is a table entry, ``|T| < 2^15`` (int16) and ``K · max|T| < 2^31`` keep the int32
sums exact. Before first use on a GPU the kernel checks itself against the torch gather engine on
random tables and awkward geometries (padding, stride, dilation, groups, split-K); if that fails the
engine is unavailable and ``auto`` does not consider it.
"""

from __future__ import annotations

import ctypes
import math
import threading
from collections.abc import Callable
from functools import cache
from typing import Any

import torch
from torch import Tensor

from approxhil.nn.engines.base import OFFSET, Engine, Geometry, TablePlan, as_conv, from_conv, register
from approxhil.nn.errors import EngineError

BM = 256  # threads per block = output pixels per block
TN = 16  # output channels per block (accumulators per thread)
BK = 32  # reduction steps staged per round
_TABLE_BYTES = 256 * 256 * 2
_SMEM_TABLE = _TABLE_BYTES + BK * BM + BK * TN
_SMEM_STAGING = BK * BM + BK * TN
_CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8
_GRID_LIMIT = 65535  # blocks along grid y and z

SOURCE = r"""
#define BM %(BM)d
#define TN %(TN)d
#define BK %(BK)d

static __device__ __forceinline__ int imin(int a, int b) { return a < b ? a : b; }

extern "C" __global__ void __launch_bounds__(BM)
gather_conv_cuda(const unsigned char* __restrict__ x, const unsigned char* __restrict__ w,
                 const short* __restrict__ table, int* __restrict__ y,
                 int N, int C, int H, int W, int O, int KH, int KW, int OH, int OW,
                 int sh, int sw, int ph, int pw, int dh, int dw, int groups, int kper, int atomic)
{
    extern __shared__ int4 smem4[];  /* 16-byte aligned */
#ifdef TABLE_GLOBAL
    const short* tab = table;
    unsigned char* xs = (unsigned char*)smem4;              /* [BK][BM] activation codes */
#else
    short* tab = (short*)smem4;                             /* [256 w codes][256 x codes] */
    unsigned char* xs = (unsigned char*)(tab + 65536);
#endif
    unsigned char* ws = xs + BK * BM;                       /* [BK][TN] weight codes */
    const int tid = threadIdx.x;
    const int cg = C / groups, og = O / groups, taps = KH * KW, K = cg * taps;
    const int plane = OH * OW;
    const long long M = (long long)N * plane;
    const long long m = (long long)blockIdx.x * BM + tid;
    const int ob = blockIdx.y * TN;
    const int g = blockIdx.z %% groups;
    const int k0 = (blockIdx.z / groups) * kper;
    const int k1 = imin(K, k0 + kper);

#ifndef TABLE_GLOBAL
    {
        const int4* src = (const int4*)table;
        for (int i = tid; i < 65536 * 2 / 16; i += BM) smem4[i] = src[i];
    }
#endif
    const bool valid = m < M;
    int n = 0, oh = 0, ow = 0;
    if (valid) {
        n = (int)(m / plane);
        const int r = (int)(m %% plane);
        oh = r / OW;
        ow = r %% OW;
    }
    const unsigned char* xn = x + ((long long)n * C + (long long)g * cg) * H * W;
    const int ih0 = oh * sh - ph, iw0 = ow * sw - pw;
    int acc[TN];
#pragma unroll
    for (int t = 0; t < TN; ++t) acc[t] = 0;

    for (int kb = k0; kb < k1; kb += BK) {
        __syncthreads();  /* the previous round is consumed; the first time, the table load is ordered too */
        const int kn = imin(BK, k1 - kb);
        int c = kb / taps, r = kb %% taps, i = r / KW, j = r %% KW;
        for (int kk = 0; kk < kn; ++kk) {
            unsigned char code = 128;  /* padding feeds the value 0 (code 128) to the table */
            const int ih = ih0 + i * dh, iw = iw0 + j * dw;
            if (valid && ih >= 0 && ih < H && iw >= 0 && iw < W) code = xn[((long long)c * H + ih) * W + iw];
            xs[kk * BM + tid] = code;
            if (++j == KW) {
                j = 0;
                if (++i == KH) {
                    i = 0;
                    ++c;
                }
            }
        }
        for (int e = tid; e < kn * TN; e += BM) {
            const int kk = e / TN, t = e %% TN, o = ob + t;
            ws[kk * TN + t] = o < og ? w[(long long)(g * og + o) * K + kb + kk] : (unsigned char)128;
        }
        __syncthreads();
        for (int kk = 0; kk < kn; ++kk) {
            const int xc = xs[kk * BM + tid];
            const uint4 wv = *(const uint4*)(ws + kk * TN);  /* the block's 16 weight codes: one broadcast load */
            const unsigned int words[4] = {wv.x, wv.y, wv.z, wv.w};
#pragma unroll
            for (int t = 0; t < TN; ++t)
                acc[t] += tab[(((words[t >> 2] >> (8 * (t & 3))) & 0xffu) << 8) | xc];
        }
    }
    if (!valid) return;
    const long long base = (long long)n * O * plane + (long long)oh * OW + ow;
#pragma unroll
    for (int t = 0; t < TN; ++t) {
        const int o = ob + t;
        if (o < og) {
            int* dst = y + base + (long long)(g * og + o) * plane;
            if (atomic) atomicAdd(dst, acc[t]);
            else *dst = acc[t];
        }
    }
}
""" % {"BM": BM, "TN": TN, "BK": BK}  # noqa: UP031 (braces of the C source stay literal)


def _compiler() -> Callable[..., Any] | None:
    return getattr(torch.cuda, "compile_kernel", None) or getattr(torch.cuda, "_compile_kernel", None)


def _max_shared(device: torch.device) -> int:
    props = torch.cuda.get_device_properties(device)
    return int(getattr(props, "shared_memory_per_block_optin", 48 * 1024))


def _allow_shared(kernel: Any, size: int) -> None:
    """Let the kernel use ``size`` bytes of dynamic shared memory (above 48 KiB this needs an opt-in)."""
    if hasattr(kernel, "set_shared_memory_config"):
        kernel.set_shared_memory_config(size)
        return
    from torch.cuda._utils import _get_gpu_runtime_library  # older torch: call the driver directly

    lib = _get_gpu_runtime_library()
    status = lib.cuFuncSetAttribute(kernel.func, _CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, ctypes.c_int(size))
    if status != 0:
        raise EngineError(f"cuFuncSetAttribute failed with CUDA error {status}", fix="use engine='gather-gpu' (torch gathers)")


_KERNELS: dict[int, tuple[Any, int]] = {}
_KERNELS_LOCK = threading.Lock()


def _kernel(device: torch.device) -> tuple[Any, int]:
    """The compiled kernel for ``device`` and its dynamic shared memory size (compiled once per device)."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    with _KERNELS_LOCK:
        hit = _KERNELS.get(index)
        if hit is None:
            compile_kernel = _compiler()
            if compile_kernel is None:
                raise EngineError(
                    "this torch has no runtime CUDA compiler (torch.cuda._compile_kernel)", fix="use engine='gather-gpu', or a newer torch"
                )
            in_smem = _max_shared(torch.device("cuda", index)) >= _SMEM_TABLE
            with torch.cuda.device(index):
                kernel = compile_kernel(SOURCE, "gather_conv_cuda", nvcc_options=[] if in_smem else ["-DTABLE_GLOBAL"])
                size = _SMEM_TABLE if in_smem else _SMEM_STAGING
                _allow_shared(kernel, size)
            hit = _KERNELS[index] = (kernel, size)
    return hit


def _table16(plan: TablePlan, device: torch.device) -> Tensor:
    return plan.tensor("weight_major_int16", device, lambda: plan.weight_major(torch.device("cpu")).to(torch.int16))


def launch_config(
    x: Tensor, w: Tensor, plan: TablePlan, geometry: Geometry, splits: int | None = None, sms: int | None = None
) -> tuple[tuple[int, int, int], list[Any], Tensor]:
    """Grid, kernel arguments and the zeroed int32 output ``[N, O, OH, OW]`` for one call.

    ``splits`` reduction slices (default: enough blocks to fill ``sms`` multiprocessors twice over).
    Pure tensor work, so the CPU tests can hand the same arguments to an emulation of the kernel.
    """
    x, w = as_conv(x, w, geometry)
    xc = (x.to(torch.int16) + OFFSET).to(torch.uint8).contiguous()
    wc = (w.to(torch.int16) + OFFSET).to(torch.uint8).contiguous()
    n, c, h, wd = xc.shape
    o, cg, kh, kw = wc.shape
    oh, ow = geometry.output_size(h, wd, kh, kw)
    groups = geometry.groups
    k = cg * kh * kw
    grid_x, grid_y = -(-(n * oh * ow) // BM), -(-(o // groups) // TN)
    if splits is None:
        splits = max(1, min(-(-k // BK), math.ceil(2 * (sms or 1) / max(1, grid_x * grid_y * groups))))
    splits = max(1, min(splits, _GRID_LIMIT // groups))  # grid.z = groups * splits
    kper = -(-k // max(1, splits))
    splits = -(-k // kper)
    y = torch.zeros((n, o, oh, ow), dtype=torch.int32, device=x.device)
    args = [
        xc,
        wc,
        _table16(plan, x.device),
        y,
        n,
        c,
        h,
        wd,
        o,
        kh,
        kw,
        oh,
        ow,
        geometry.stride[0],
        geometry.stride[1],
        geometry.padding[0],
        geometry.padding[1],
        geometry.dilation[0],
        geometry.dilation[1],
        groups,
        kper,
        int(splits > 1),
    ]
    return (grid_x, grid_y, groups * splits), args, y


def _launch(x: Tensor, w: Tensor, plan: TablePlan, geometry: Geometry, splits: int | None = None) -> Tensor:
    device = x.device
    kernel, smem = _kernel(device)
    sms = torch.cuda.get_device_properties(device).multi_processor_count
    grid, args, y = launch_config(x, w, plan, geometry, splits, sms)
    if y.numel():
        kernel(grid=grid, block=(BM, 1, 1), shared_mem=smem, args=args)
    return from_conv(y, geometry)


@cache
def self_check(index: int) -> str | None:
    """Compare the kernel with the torch gather engine on device ``index``; the reason it fails, or ``None``."""
    from approxhil.nn.engines.base import plan_for
    from approxhil.nn.engines.gather import _gather_torch

    device = torch.device("cuda", index)
    gen = torch.Generator().manual_seed(2024)
    values = torch.randint(-32768, 32768, (256, 256), generator=gen, dtype=torch.int32)
    values[0, 0], values[255, 255] = -32768, 32767
    plan = plan_for(values)
    cases = [
        ((2, 4, 7, 6), (6, 2, 3, 3), Geometry((2, 1), (1, 2), (1, 2), 2), None),
        ((3, 5, 9, 9), (20, 5, 3, 3), Geometry((1, 1), (1, 1)), 3),  # split-K with atomics, 2 channel blocks
        ((1, 6, 4, 5), (6, 1, 2, 3), Geometry((1, 2), (0, 1), (1, 1), 6), None),
        ((300, 37, 1, 1), (3, 37, 1, 1), Geometry(), None),  # a linear layer: more rows than a block
    ]
    try:
        for xs, ws, geometry, splits in cases:
            x = torch.randint(-128, 128, xs, generator=gen).float()
            w = torch.randint(-128, 128, ws, generator=gen).float()
            x.view(-1)[:2] = torch.tensor([-128.0, 127.0])
            w.view(-1)[:2] = torch.tensor([-128.0, 127.0])
            want = _gather_torch(x, w, plan, geometry).to(torch.int64)
            got = _launch(x.to(device), w.to(device), plan, geometry, splits).cpu().to(torch.int64)
            if not torch.equal(got, want):
                return f"it disagrees with the torch gather engine on a {xs} x {ws} self-check layer"
    except (RuntimeError, EngineError, OSError) as exc:
        return f"the kernel failed to compile or run ({exc})"
    return None


def check(plan: TablePlan, device: torch.device, w_shape: tuple[int, ...]) -> str | None:
    """Why ``gather-cuda`` cannot compute a layer exactly here (``None``: it can)."""
    if device.type != "cuda":
        return "it computes CUDA tensors"
    if plan.min_value < -(1 << 15) or plan.max_value >= 1 << 15:
        return "its table entries do not fit int16 (the table it keeps in shared memory)"
    taps = math.prod(w_shape[1:]) if len(w_shape) > 1 else 1
    if taps * max(1, plan.max_abs) >= 1 << 31:
        return f"{taps} products per output of up to {plan.max_abs} can overflow int32 sums"
    if w_shape and -(-w_shape[0] // TN) > _GRID_LIMIT:
        return f"{w_shape[0]} output channels exceed the kernel's grid"
    if not torch.cuda.is_available():
        return "no CUDA device is available"
    if _compiler() is None:
        return "this torch has no runtime CUDA compiler (torch.cuda._compile_kernel)"
    index = device.index if device.index is not None else torch.cuda.current_device()
    return self_check(index)


def _gather_cuda(x: Tensor, w: Tensor, plan: TablePlan, geometry: Geometry) -> Tensor:
    reason = check(plan, x.device, tuple(as_conv(x, w, geometry)[1].shape))
    if reason is not None:
        raise EngineError(
            f"engine 'gather-cuda' cannot compute this layer exactly here: {reason}",
            fix="use engine='gather-gpu' (torch gathers), or 'auto'",
        )
    return _launch(x, w, plan, geometry)


GATHER_CUDA = register(
    Engine(
        "gather-cuda",
        _gather_cuda,
        "table lookup per product in a CUDA kernel with the table in shared memory (CUDA tensors, any int16 table)",
        devices=("cuda",),
        check=check,
        rank=15,
    )
)
