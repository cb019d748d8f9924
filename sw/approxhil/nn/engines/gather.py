"""Gather engine: every product is a lookup in the full 256x256 table (any table, any rank).

* CPU (``gather``): a direct convolution in C (``kernels.c``). For large output planes the packed
  kernel builds, per weight tap, a column of 256 uint64 holding the biased products of *three*
  output channels in 21-bit lanes, so one 64-bit load and add perform three lookups (lanes move
  to wide accumulators before they could carry); for small planes (linear layers) the direct
  kernel adds ``T(·, w)[x]`` four output channels per pass. Memory: the padded uint8 input, the
  int32 output and per-thread scratch, nothing per product. Without a C compiler ``gather`` is
  not available; ``auto`` then uses the torch path below.
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
from approxhil.nn.errors import EngineError

#: Products per output that int32 sums of table values (|T| < 2^16) always hold.
_C_MAX_TAPS = 1 << 15
#: Lane width of the packed kernel (three lanes in a uint64) and its capacity.
_LANE_LIMIT = 1 << 21
#: Output pixels one packed work item covers (columns are rebuilt per item: amortize them).
_PACKED_PIXELS = 4096
#: Below this many pixels per packed column the direct kernel is faster.
_PACKED_MIN_PIXELS = 512


def _codes_u8(x: Tensor) -> Tensor:
    return (x.to(torch.int16) + OFFSET).to(torch.uint8)


def check(plan: TablePlan, device: torch.device, w_shape: tuple[int, ...]) -> str | None:
    """Why the C engine cannot compute a layer with weights ``w_shape`` exactly here (``None``: it can)."""
    if device.type != "cpu":
        return "it computes CPU tensors"
    if native.library() is None:
        return "the C kernels could not be built here (no working C compiler)"
    taps = 1
    for size in w_shape[1:]:
        taps *= size
    if plan.max_abs >= 1 << 16 or taps > _C_MAX_TAPS:
        return f"int32 sums need |T| < 2^16 and at most {_C_MAX_TAPS} products per output"
    return None


def _gather_cpu(x: Tensor, w: Tensor, plan: TablePlan, geometry: Geometry) -> Tensor:
    return gather_c(x, w, plan, geometry)


def gather_c(x: Tensor, w: Tensor, plan: TablePlan, geometry: Geometry, kernel: str | None = None) -> Tensor:
    """The C engine; ``kernel`` forces ``packed`` or ``direct`` (default: packed for large output planes)."""
    lib = native.library()
    reason = check(plan, x.device, tuple(as_conv(x, w, geometry)[1].shape))
    if reason is not None:
        raise EngineError(
            f"engine 'gather' cannot compute this layer: {reason}", fix="use engine='auto' (or 'gather-gpu', the torch implementation)"
        )
    if geometry.linear:
        # [M, F] as one image of width M: the inner loop runs over the batch
        xc = _codes_u8(x).t().contiguous().view(1, x.shape[1], 1, x.shape[0])
        wc = _codes_u8(w).contiguous().view(w.shape[0], w.shape[1], 1, 1)
        y = _run_c(lib, xc, wc, plan, Geometry(), kernel)
        return y.view(w.shape[0], x.shape[0]).t()
    x, geometry = pointwise_subsample(x, w, geometry)
    xc = _codes_u8(pad_input(x, geometry)).contiguous()
    wc = _codes_u8(w).contiguous()
    return _run_c(lib, xc, wc, plan, geometry, kernel)


def packed_flush(plan: TablePlan) -> int:
    """Taps the packed kernel may add to a 21-bit lane before moving it out: ``flush · (max T − min T) < 2^21``."""
    return (_LANE_LIMIT - 1) // max(1, plan.max_value - plan.min_value)


def _biased(plan: TablePlan) -> Tensor:
    """Weight-major table minus its minimum (entries in [0, max T − min T]) for the packed kernel."""
    cpu = torch.device("cpu")
    return plan.tensor("weight_major_biased", cpu, lambda: plan.weight_major(cpu) - plan.min_value)


def _run_c(lib, xc: Tensor, wc: Tensor, plan: TablePlan, geometry: Geometry, kernel: str | None) -> Tensor:
    n, c, hp, wp = xc.shape
    o, _cg, kh, kw = wc.shape
    oh = (hp - geometry.dilation[0] * (kh - 1) - 1) // geometry.stride[0] + 1
    ow = (wp - geometry.dilation[1] * (kw - 1) - 1) // geometry.stride[1] + 1
    table = plan.weight_major(torch.device("cpu"))
    y = torch.empty((n, o, oh, ow), dtype=torch.int32)
    groups = geometry.groups
    plane = oh * ow
    flush = packed_flush(plan)
    if kernel is None:
        kernel = "packed" if plane * n >= _PACKED_MIN_PIXELS and flush >= kw else "direct"
    if kernel == "packed" and flush < kw:
        raise EngineError(
            f"the packed kernel cannot hold {kw} taps of this table in a 21-bit lane", fix="use the direct kernel (kernel='direct')"
        )
    if kernel == "packed":
        blocks = groups * -(-(o // groups) // 6)
        chunks = -(-2 * torch.get_num_threads() // blocks)  # at least two work items per thread where possible
        nchunk = max(1, min(n, _PACKED_PIXELS // max(1, plane), -(-n // chunks)))
        items = -(-n // nchunk) * blocks
        native.parallel(
            lib.gather_conv_packed,
            items,
            xc.data_ptr(),
            wc.data_ptr(),
            _biased(plan).data_ptr(),
            y.data_ptr(),
            n,
            c,
            hp,
            wp,
            o,
            kh,
            kw,
            oh,
            ow,
            geometry.stride[0],
            geometry.stride[1],
            geometry.dilation[0],
            geometry.dilation[1],
            groups,
            -plan.min_value,
            flush,
            nchunk,
        )
        return y
    items = n * groups * -(-(o // groups) // 4)
    native.parallel(
        lib.gather_conv,
        items,
        xc.data_ptr(),
        wc.data_ptr(),
        table.data_ptr(),
        y.data_ptr(),
        c,
        hp,
        wp,
        o,
        kh,
        kw,
        oh,
        ow,
        geometry.stride[0],
        geometry.stride[1],
        geometry.dilation[0],
        geometry.dilation[1],
        groups,
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
                y[b : b + samples, :, :, g * og + o0 : g * og + o0 + wg.shape[0]] = sums.t().reshape(-1, oh, ow, wg.shape[0])
    return from_conv(y.permute(0, 3, 1, 2), geometry)


GATHER = register(
    Engine(
        "gather",
        _gather_cpu,
        "table lookup per product in a C direct convolution, three output channels per 64-bit lookup (CPU, any table)",
        check=check,
        rank=10,
    )
)
GATHER_GPU = register(
    Engine(
        "gather-gpu",
        _gather_torch,
        "table lookup per product with chunked torch gathers (any device; the reference path for CUDA tensors)",
        gpu=True,
        devices=("cuda",),
        rank=45,
    )
)
