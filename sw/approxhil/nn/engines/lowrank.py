"""Low-rank engine: the table as a few exact int8 factor pairs, evaluated as stacked int8 convolutions.

With ``T(x, w) = Σ_i 2^{s_i} u_i(x) v_i(w)`` (see :mod:`decompose`), a layer's table-lookup sum is
``Σ_i 2^{s_i} conv(u_i(X), v_i(W))``. All components with the same shift go into *one* convolution
whose input channels are the stacked ``u_i(X)`` (channel order: channel, component) and whose
weights are the matching ``v_i(W)``.

Exactness. Every factor is an int8 integer and the products accumulate in int32:

* CPU (``lowrank``): oneDNN's u8 x s8 convolution (``torch.ops.onednn.qconv2d_pointwise``, VNNI on
  x86) with zero point 128, unit scales and a float32 output. The int32 sum converts to float32
  exactly when ``|y| < 2^24``; channels are split into chunks so that ``K_chunk · max|Σ_i u_i v_i| < 2^24``
  (the per-tap bound comes from the decomposition), and the u8 sums stay below 2^31. Chunks add in
  float64. The engine is available only after a probe on this machine reproduces exact results on
  extreme operands (CPUs without VNNI saturate int16 intermediates); elsewhere ``lowrank-f32``
  (:mod:`floatconv`) evaluates the same factors exactly in float32.
* Any device (``lowrank-gpu``): im2col of the stacked int8 factors and ``torch._int_mm`` (int8 GEMM,
  int32 accumulation in slices that cannot overflow), accumulated in int64.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
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
    per_thread_count,
    pointwise_subsample,
    register,
)
from approxhil.nn.engines.torchops import int8_matmul, pad_input, patches
from approxhil.nn.errors import EngineError

FLOAT32_EXACT = 1 << 24
INT32_LIMIT = 1 << 31
#: Largest u8 code times largest |s8| weight: bound of one tap of oneDNN's u8 accumulation.
_U8_TAP = 255 * 128


# --------------------------------------------------------------------------- shared helpers
def _lut_u(plan: TablePlan, index: np.ndarray, device: torch.device) -> Tensor:
    """int8 ``[256, n]``: ``u_i(x)`` for the components ``index`` (row = activation code)."""
    key = "u:" + ",".join(map(str, index))
    return plan.tensor(key, device, lambda: torch.from_numpy(np.ascontiguousarray(plan.decomposition.u[index].T)))


def _lut_v(plan: TablePlan, index: np.ndarray, device: torch.device) -> Tensor:
    """int8 ``[256, n]``: ``v_i(w)`` for the components ``index`` (row = weight code)."""
    key = "v:" + ",".join(map(str, index))
    return plan.tensor(key, device, lambda: torch.from_numpy(np.ascontiguousarray(plan.decomposition.v[index].T)))


def _codes(t: Tensor) -> Tensor:
    """Operand codes ``value + 128`` as int64 indices."""
    return t.to(torch.int64) + OFFSET


def _chunks(index: np.ndarray, size: int) -> list[np.ndarray]:
    return [index[i : i + size] for i in range(0, len(index), max(1, size))]


# --------------------------------------------------------------------------- oneDNN backend (CPU)
def _qconv(xs: Tensor, ws: Tensor, stride: list[int], padding: list[int], dilation: list[int], groups: int) -> Tensor:
    """u8 (zero point 128) x s8 convolution, unit scales, float32 output (exact below 2^24)."""
    out = ws.shape[0]
    scales = torch.ones(out, dtype=torch.float32)
    zeros = torch.zeros(out, dtype=torch.int64)
    packed = torch.ops.onednn.qconv_prepack(ws, scales, 1.0, OFFSET, stride, padding, dilation, groups, None)
    return torch.ops.onednn.qconv2d_pointwise(
        xs,
        1.0,
        OFFSET,
        packed,
        scales,
        zeros,
        None,
        stride,
        padding,
        dilation,
        groups,
        1.0,
        0,
        torch.float32,
        "none",
        [],
        "",
    )


@per_thread_count
def onednn_exact() -> bool:
    """Whether oneDNN's int8 convolution exists here and reproduces exact sums on probe operands, at the
    thread count results are computed with (:func:`~approxhil.nn.engines.base.per_thread_count`)."""
    if not (hasattr(torch.ops, "onednn") and hasattr(torch.ops.onednn, "qconv2d_pointwise")):
        return False
    if not torch.backends.mkldnn.is_available():
        return False
    gen = torch.Generator().manual_seed(1234)
    odd = torch.full((2, 1024, 1, 1), 127, dtype=torch.int8)
    odd[:, 5] = 126
    probes = [
        # Extremes: u8 pairs that saturate int16 on CPUs without VNNI; the raw u8 sum 33,161,985 is odd
        # and above 2^24 while the zero-point-corrected sum 16,515,969 is below it, so a backend that
        # converted before subtracting the zero point (or saturated) fails here.
        (torch.full((1, 1024, 2, 2), 255, dtype=torch.uint8), odd, 1, 0),
        (torch.zeros((1, 1024, 2, 2), dtype=torch.uint8), torch.full((2, 1024, 1, 1), -128, dtype=torch.int8), 1, 0),
        (
            torch.randint(0, 256, (3, 24, 9, 7), generator=gen, dtype=torch.uint8),
            torch.randint(-128, 128, (8, 12, 3, 3), generator=gen, dtype=torch.int8),
            2,
            1,
        ),
        (
            torch.randint(0, 256, (2, 96, 6, 6), generator=gen, dtype=torch.uint8),
            torch.randint(-128, 128, (5, 96, 3, 3), generator=gen, dtype=torch.int8),
            1,
            1,
        ),
    ]
    try:
        for xs, ws, groups, pad in probes:
            got = _qconv(xs.contiguous(memory_format=torch.channels_last), ws, [1, 1], [pad, pad], [1, 1], groups)
            want = F.conv2d(xs.double() - OFFSET, ws.double(), padding=pad, groups=groups)
            if not torch.equal(got.double(), want):
                return False
    except (RuntimeError, TypeError, AttributeError, NotImplementedError):
        return False
    return True


def _stack_input(x: Tensor, lut: Tensor) -> Tensor:
    """uint8 codes ``u_i(x) + 128`` of ``x [N, C, H, W]`` as ``[N, C·n, H, W]`` (channels last, order (c, i))."""
    n, c, h, w = x.shape
    ncomp = lut.shape[1]
    lib = native.library()
    if lib is not None:
        x = x if x.dtype == torch.float32 else x.float()
        out = torch.empty((n, h, w, c * ncomp), dtype=torch.uint8)
        native.parallel(lib.stack_lookup, n, x.data_ptr(), *x.stride(), c, h, w, lut.data_ptr(), ncomp, out.data_ptr())
        return out.permute(0, 3, 1, 2)
    codes = (lut.to(torch.int16) + OFFSET).to(torch.uint8)[_codes(x)]  # [N, C, H, W, n]
    return codes.permute(0, 2, 3, 1, 4).reshape(n, h, w, c * ncomp).permute(0, 3, 1, 2)


def _stack_weight(w: Tensor, lut: Tensor) -> Tensor:
    """int8 ``v_i(w)`` of ``w [O, Cg, KH, KW]`` as ``[O, Cg·n, KH, KW]`` (order (c, i), matching the input)."""
    o, _cg, kh, kw = w.shape
    stacked = lut[_codes(w)]  # [O, Cg, KH, KW, n]
    return stacked.permute(0, 1, 4, 2, 3).reshape(o, -1, kh, kw).contiguous()


def _channel_chunk(plan: TablePlan, index: np.ndarray, taps: int) -> int:
    """Most input channels (per group) one oneDNN call may sum while staying exact."""
    bound = max(1, plan.decomposition.tap_bound(index))
    by_float = (FLOAT32_EXACT - 1) // (bound * taps)
    by_int32 = (INT32_LIMIT - 1) // (_U8_TAP * len(index) * taps)
    return max(0, min(by_float, by_int32))


def check(plan: TablePlan, device: torch.device, w_shape: tuple[int, ...]) -> str | None:
    """Why ``lowrank`` (oneDNN int8) cannot compute a layer exactly here (``None``: it can)."""
    if device.type != "cpu":
        return "it computes CPU tensors"
    if not onednn_exact():
        return (
            "oneDNN's int8 convolution is not exact on this CPU (it failed the exactness probe: "
            f"without VNNI it saturates int16 sums of u8 x s8 pairs; with {torch.get_num_threads()} thread(s) some "
            "CPUs round sums above 2^24)"
        )
    return None


def _lowrank_cpu(x: Tensor, w: Tensor, plan: TablePlan, geometry: Geometry) -> Tensor:
    reason = check(plan, x.device, ())
    if reason is not None:
        raise EngineError(
            f"engine 'lowrank' cannot compute this layer exactly here: {reason}",
            fix="use engine='lowrank-f32' (the same factors in float32), or 'auto'",
        )
    x, w = as_conv(x, w, geometry)
    x, geometry = pointwise_subsample(x, w, geometry)
    dec = plan.decomposition
    if not plan.zero_row:  # padding must contribute T(0, w): pad the operands, not the codes
        x, geometry = pad_input(x, geometry), replace(geometry, padding=(0, 0))
    n, _c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    groups = geometry.groups
    taps = kh * kw
    oh, ow = geometry.output_size(h, wd, kh, kw)
    parts: list[tuple[int, Tensor]] = []
    for shift, index in dec.groups():
        per_call = max(1, min(len(index), (INT32_LIMIT - 1) // (_U8_TAP * taps * max(1, cg))))
        for part in _chunks(index, per_call):
            chunk = _channel_chunk(plan, part, taps)
            if chunk < 1:  # a single channel would overflow: kernels beyond 2^24 / max|T| taps
                return _lowrank_torch(x, w, plan, geometry)
            lut_u = _lut_u(plan, part, x.device)
            if chunk >= cg:
                ws = _stack_weight(w, _lut_v(plan, part, x.device))  # [O, n·Cg, KH, KW]
                parts.append((shift, _conv_batches(x, lut_u, ws, geometry, groups, (n, o, oh, ow))))
            else:
                parts.append((shift, _conv_channel_chunks(x, lut_u, w, plan, part, geometry, chunk, (n, o, oh, ow))))
    if len(parts) == 1 and parts[0][0] == 0:
        return from_conv(parts[0][1], geometry)
    total = torch.zeros((n, o, oh, ow), dtype=torch.float64)
    for shift, y in parts:  # float64 holds these integer sums exactly (< 2^53)
        total += y.double() * float(1 << shift)
    return from_conv(total, geometry)


def _conv_batches(x: Tensor, lut_u: Tensor, ws: Tensor, geometry: Geometry, groups: int, shape: tuple[int, ...]) -> Tensor:
    """One stacked oneDNN convolution, split over the batch so the stacked input stays small."""
    n, c, h, w = x.shape
    per_sample = c * h * w * lut_u.shape[1]
    step = max(1, CHUNK_BYTES // max(1, per_sample))
    args = (list(geometry.stride), list(geometry.padding), list(geometry.dilation), groups)
    if step >= n:
        return _qconv(_stack_input(x, lut_u), ws, *args)
    out = torch.empty(shape, dtype=torch.float32).contiguous(memory_format=torch.channels_last)
    for b in range(0, n, step):
        out[b : b + step] = _qconv(_stack_input(x[b : b + step], lut_u), ws, *args)
    return out


def _conv_channel_chunks(
    x: Tensor,
    lut_u: Tensor,
    w: Tensor,
    plan: TablePlan,
    part: np.ndarray,
    geometry: Geometry,
    chunk: int,
    shape: tuple[int, ...],
) -> Tensor:
    """Sum of per-channel-chunk convolutions (each exact in float32) in float64; one group at a time."""
    n, o, oh, ow = shape
    groups = geometry.groups
    cg = w.shape[1]
    og = o // groups
    lut_v = _lut_v(plan, part, x.device)
    out = torch.zeros(shape, dtype=torch.float64)
    for g in range(groups):
        for c0 in range(0, cg, chunk):
            c1 = min(cg, c0 + chunk)
            xs = x[:, g * cg + c0 : g * cg + c1]
            ws = _stack_weight(w[g * og : (g + 1) * og, c0:c1], lut_v)
            out[:, g * og : (g + 1) * og] += _conv_batches(xs, lut_u, ws, geometry, 1, (n, og, oh, ow)).double()
    return out


# --------------------------------------------------------------------------- torch backend (any device)
def _lowrank_torch(x: Tensor, w: Tensor, plan: TablePlan, geometry: Geometry) -> Tensor:
    x, w = as_conv(x, w, geometry)
    x, geometry = pointwise_subsample(x, w, geometry)
    dec = plan.decomposition
    x = pad_input(x, geometry)
    xcodes = _codes(x)  # [N, C, Hp, Wp]
    wcodes = _codes(w)  # [O, Cg, KH, KW]
    n = x.shape[0]
    o, cg, kh, kw = w.shape
    groups, og = geometry.groups, o // geometry.groups
    oh, ow = replace(geometry, padding=(0, 0)).output_size(x.shape[2], x.shape[3], kh, kw)
    total = torch.zeros((n * oh * ow, o), dtype=torch.int64, device=x.device)
    for shift, index in dec.groups():
        lut_u = _lut_u(plan, index, x.device)
        lut_v = _lut_v(plan, index, x.device)
        ncomp = len(index)
        k = cg * kh * kw * ncomp
        wst = lut_v[wcodes].reshape(groups, og, k)  # (c, kh, kw, comp) order
        rows = max(1, CHUNK_BYTES // max(1, groups * k))
        samples = max(1, rows // max(1, oh * ow))
        for b in range(0, n, samples):
            stacked = lut_u[xcodes[b : b + samples]]  # [n, C, Hp, Wp, ncomp]
            cols = patches(stacked, kh, kw, geometry).reshape(-1, groups, k)
            r0 = b * oh * ow
            for g in range(groups):
                part = int8_matmul(cols[:, g], wst[g])
                total[r0 : r0 + part.shape[0], g * og : (g + 1) * og] += part << shift
    y = total.view(n, oh, ow, o).permute(0, 3, 1, 2)
    return from_conv(y, geometry)


LOWRANK = register(
    Engine(
        "lowrank",
        _lowrank_cpu,
        "exact int8 factors of the table as stacked oneDNN int8 convolutions (CPUs where they are exact: VNNI, AMX)",
        family="lowrank",
        check=check,
        rank=20,
    )
)
LOWRANK_GPU = register(
    Engine(
        "lowrank-gpu",
        _lowrank_torch,
        "exact int8 factors of the table via im2col and torch._int_mm (any device; used for CUDA tensors)",
        gpu=True,
        devices=("cuda",),
        family="lowrank",
        rank=40,
    )
)
