"""Gather engine: every product is a lookup in the full 256x256 table (any table, any rank).

* CPU (``gather``): a direct convolution in C (``kernels.c``): for each weight tap the kernel holds
  the table column ``T(·, w)`` (1 KiB, cache resident) and adds ``column[x]`` over an output plane,
  four output channels per pass over the input row. Memory: the padded uint8 input and the int32
  output, nothing per product. Without a C compiler the torch path below runs.
* Any device (``gather-gpu``): im2col of the operand codes and ``table[w_code, x_code]`` gathered
  in chunks of at most :data:`CHUNK_BYTES` bytes, summed in int64.

Sums stay in int32 in C: ``|T| < 2^16`` per product and at most 2^15 products per output.
"""

from __future__ import annotations

import torch
from torch import Tensor

from approxhil.nn.engines import native
from approxhil.nn.engines.base import (
    CHUNK_BYTES,
    OFFSET,
    Engine,
    Geometry,
    TablePlan,
    as_conv,
    from_conv,
    pointwise_subsample,
    register,
)
from approxhil.nn.engines.torchops import pad_input, patches

#: Products per output that int32 sums of table values (|T| < 2^16) always hold.
_C_MAX_TAPS = 1 << 15


def _codes_u8(x: Tensor) -> Tensor:
    return (x.to(torch.int16) + OFFSET).to(torch.uint8)


def _gather_cpu(x: Tensor, w: Tensor, plan: TablePlan, geometry: Geometry) -> Tensor:
    lib = native.library()
    taps = w[0].numel()
    if x.device.type != "cpu" or lib is None or taps > _C_MAX_TAPS:
        return _gather_torch(x, w, plan, geometry)
    if geometry.linear:
        # [M, F] as one image of width M: the inner loop runs over the batch
        xc = _codes_u8(x).t().contiguous().view(1, x.shape[1], 1, x.shape[0])
        wc = _codes_u8(w).contiguous().view(w.shape[0], w.shape[1], 1, 1)
        y = _run_c(lib, xc, wc, plan, Geometry())
        return y.view(w.shape[0], x.shape[0]).t()
    x, geometry = pointwise_subsample(x, w, geometry)
    xc = _codes_u8(pad_input(x, geometry)).contiguous()
    wc = _codes_u8(w).contiguous()
    return _run_c(lib, xc, wc, plan, geometry)


def _run_c(lib, xc: Tensor, wc: Tensor, plan: TablePlan, geometry: Geometry) -> Tensor:
    n, c, hp, wp = xc.shape
    o, cg, kh, kw = wc.shape
    oh = (hp - geometry.dilation[0] * (kh - 1) - 1) // geometry.stride[0] + 1
    ow = (wp - geometry.dilation[1] * (kw - 1) - 1) // geometry.stride[1] + 1
    table = plan.weight_major(torch.device("cpu"))
    y = torch.empty((n, o, oh, ow), dtype=torch.int32)
    groups = geometry.groups
    items = n * groups * -(-(o // groups) // 4)
    native.parallel(
        lib.gather_conv, items,
        xc.data_ptr(), wc.data_ptr(), table.data_ptr(), y.data_ptr(),
        c, hp, wp, o, kh, kw, oh, ow, geometry.stride[0], geometry.stride[1],
        geometry.dilation[0], geometry.dilation[1], groups,
    )
    return y


def _gather_torch(x: Tensor, w: Tensor, plan: TablePlan, geometry: Geometry) -> Tensor:
    x, w = as_conv(x, w, geometry)
    x, geometry = pointwise_subsample(x, w, geometry)
    x = pad_input(x, geometry)
    n = x.shape[0]
    o, cg, kh, kw = w.shape
    groups, og = geometry.groups, o // geometry.groups
    k = cg * kh * kw
    table = plan.weight_major(x.device).reshape(-1)  # index w_code * 256 + x_code
    wcodes = ((w.to(torch.int64) + OFFSET) * 256).reshape(groups, og, k)
    xcodes = x.to(torch.int64) + OFFSET
    cols = patches(xcodes, kh, kw, geometry)  # [N, OH, OW, C, KH, KW] view
    oh, ow = cols.shape[1], cols.shape[2]
    y = torch.empty((n, oh, ow, o), dtype=torch.int64, device=x.device)
    per_row = 12 * k  # int64 index + int32 value per product
    rows = max(1, CHUNK_BYTES // per_row)
    samples = max(1, rows // max(1, oh * ow * og))
    outs = max(1, min(og, CHUNK_BYTES // max(1, per_row * oh * ow)))
    for b in range(0, n, samples):
        block = cols[b : b + samples].reshape(-1, groups, k)  # [L, g, K]
        for g in range(groups):
            xg = block[:, g]
            for o0 in range(0, og, outs):
                wg = wcodes[g, o0 : o0 + outs]  # [Oc, K]
                sums = table[wg[:, None, :] + xg[None, :, :]].sum(dim=-1, dtype=torch.int64)  # [Oc, L]
                y[b : b + samples, :, :, g * og + o0 : g * og + o0 + wg.shape[0]] = sums.t().reshape(
                    -1, oh, ow, wg.shape[0]
                )
    return from_conv(y.permute(0, 3, 1, 2), geometry)


GATHER = register(Engine(
    "gather", _gather_cpu,
    "table lookup per product in a C direct convolution (CPU, any table); torch fallback without a compiler",
))
GATHER_GPU = register(Engine(
    "gather-gpu", _gather_torch,
    "table lookup per product with chunked torch gathers (any device; used for CUDA tensors)",
    gpu=True,
))
