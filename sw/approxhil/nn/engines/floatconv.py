"""``lowrank-f32``: the table's exact int8 factors as float32 convolutions — exact by a bound, on any CPU.

With ``T(x, w) = Σ_i 2^{s_i} u_i(x) v_i(w)`` (:mod:`decompose`), a layer is ``Σ_i 2^{s_i} conv(u_i(X), v_i(W))``.
Here the stacked factors go through oneDNN's *float32* direct convolution, which every CPU runs fast
(AVX2, AVX-512, NEON) — unlike its int8 convolution, which saturates int16 pair sums without VNNI.

Exactness. Each product ``u_i(x)·v_i(w)`` is an integer of magnitude ≤ 2^14, exact in float32, and a
float32 sum of integers is exact — whatever order the convolution adds them in — while the sum of the
magnitudes of its terms stays below 2^24: every partial sum, and so every rounding step, is then an
integer below 2^24. The decomposition gives ``A = max_{x,w} Σ_i |u_i(x)|·|v_i(w)|`` (per tap), and the
input channels are split into chunks with ``channels · taps · A < 2^24``; chunks add in float64 (exact
below 2^53). The convolution is ``aten.mkldnn_convolution``: oneDNN's direct algorithm, never a
Winograd/FFT transform (NNPACK), whose intermediate values are not integers. Implicit reduced-precision
math (``torch.backends.mkldnn`` fp32 precision ``bf16``/``tf32``) makes the engine unavailable, and a
probe on extreme operands confirms exactness on this machine before first use.

The exact table (one component, ``u(x) = x``) is a plain float32 convolution of the operands.
"""

from __future__ import annotations

import warnings
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
from approxhil.nn.engines.torchops import pad_input
from approxhil.nn.errors import EngineError

FLOAT32_EXACT = 1 << 24
#: Largest |u·v| of one int8 product: a single component's tap bound.
_PRODUCT_MAX = 128 * 128


def _fp32_math() -> str:
    """oneDNN's float32 math mode for convolutions (``none``/``ieee`` = full float32)."""
    conv = getattr(torch.backends.mkldnn, "conv", None)
    return str(getattr(conv, "fp32_precision", "none") or "none")


def _mkldnn_conv(xs: Tensor, ws: Tensor, geometry: Geometry, groups: int) -> Tensor:
    return torch.ops.aten.mkldnn_convolution(xs, ws, None, list(geometry.padding), list(geometry.stride), list(geometry.dilation), groups)


@per_thread_count
def float_conv_exact() -> bool:
    """Whether oneDNN's float32 direct convolution reproduces exact integer sums up to the 2^24 bound here, at
    the thread count results are computed with (:func:`~approxhil.nn.engines.base.per_thread_count`)."""
    if not torch.backends.mkldnn.is_available() or _fp32_math() not in ("none", "ieee"):
        return False
    gen = torch.Generator().manual_seed(4321)
    # 3x3, 113 channels of ±128·128 products: Σ|terms| = 16,662,528 < 2^24, odd sums near the bound
    big = torch.full((16, 113, 5, 5), -128.0)
    big[:, :, 2, 2] = 127.0
    wbig = torch.full((4, 113, 3, 3), -128.0)
    wbig[1, :, 1, 1] = -127.0
    probes = [
        (big.contiguous(memory_format=torch.channels_last), wbig, Geometry(padding=(1, 1))),
        (
            torch.randint(-128, 128, (16, 24, 9, 7), generator=gen).float(),
            torch.randint(-128, 128, (8, 12, 3, 3), generator=gen).float(),
            Geometry(padding=(1, 1), groups=2),
        ),
        (
            torch.randint(-128, 128, (3, 40, 6, 6), generator=gen).float(),
            torch.randint(-128, 128, (5, 40, 1, 1), generator=gen).float(),
            Geometry(stride=(2, 2)),
        ),
    ]
    try:
        for xs, ws, geometry in probes:
            got = _mkldnn_conv(xs, ws, geometry, geometry.groups)
            want = F.conv2d(xs.double(), ws.double(), None, geometry.stride, geometry.padding, geometry.dilation, geometry.groups)
            if not torch.equal(got.double(), want):
                warnings.warn(
                    "approxhil: oneDNN's float32 convolution is not exact on this machine; engine lowrank-f32 is unavailable",
                    RuntimeWarning,
                    stacklevel=2,
                )
                return False
    except (RuntimeError, TypeError, AttributeError, NotImplementedError):
        return False
    return True


def check(plan: TablePlan, device: torch.device, w_shape: tuple[int, ...]) -> str | None:
    """Why ``lowrank-f32`` cannot compute a layer exactly here (``None``: it can)."""
    if device.type != "cpu":
        return "it computes CPU tensors"
    if not torch.backends.mkldnn.is_available():
        return "this torch build has no oneDNN (torch.backends.mkldnn) for a direct float32 convolution"
    if _fp32_math() not in ("none", "ieee"):
        return f"oneDNN's float32 math is set to {_fp32_math()!r} (torch.backends.mkldnn.conv.fp32_precision); exact sums need 'ieee'"
    if not float_conv_exact():
        return "oneDNN's float32 convolution failed the exactness probe on this machine"
    taps = int(np.prod(w_shape[2:])) if len(w_shape) == 4 else 1
    if taps * _PRODUCT_MAX >= FLOAT32_EXACT:
        return f"a kernel of {taps} taps per channel can exceed 2^24 within one channel"
    return None


# --------------------------------------------------------------------------- stacking
def _lut(plan: TablePlan, side: str, index: np.ndarray) -> Tensor:
    """float32 ``[256, n]``: ``u_i`` (side ``u``) or ``v_i`` (side ``v``) for the components ``index``."""
    factors = plan.decomposition.u if side == "u" else plan.decomposition.v
    key = f"f32{side}:" + ",".join(map(str, index))
    cpu = torch.device("cpu")
    return plan.tensor(key, cpu, lambda: torch.from_numpy(np.ascontiguousarray(factors[index].T.astype(np.float32))))


def _stack_input(x: Tensor, lut: Tensor) -> Tensor:
    """``u_i(x)`` of ``x [N, C, H, W]`` as float32 ``[N, C·n, H, W]`` (channels last, order (c, i))."""
    n, c, h, w = x.shape
    ncomp = lut.shape[1]
    lib = native.library()
    if lib is not None:
        x = x if x.dtype == torch.float32 else x.float()
        out = torch.empty((n, h, w, c * ncomp), dtype=torch.float32)
        native.parallel(lib.stack_lookup_f32, n, x.data_ptr(), *x.stride(), c, h, w, lut.data_ptr(), ncomp, out.data_ptr())
        return out.permute(0, 3, 1, 2)
    stacked = lut[x.to(torch.int64) + OFFSET]  # [N, C, H, W, n]
    return stacked.permute(0, 2, 3, 1, 4).reshape(n, h, w, c * ncomp).permute(0, 3, 1, 2)


def _stack_weight(w: Tensor, lut: Tensor) -> Tensor:
    """``v_i(w)`` of ``w [O, Cg, KH, KW]`` as float32 ``[O, Cg·n, KH, KW]`` (order (c, i), matching the input)."""
    o, _cg, kh, kw = w.shape
    stacked = lut[w.to(torch.int64) + OFFSET]  # [O, Cg, KH, KW, n]
    return stacked.permute(0, 1, 4, 2, 3).reshape(o, -1, kh, kw).contiguous()


# --------------------------------------------------------------------------- engine
def _lowrank_f32(x: Tensor, w: Tensor, plan: TablePlan, geometry: Geometry) -> Tensor:
    reason = check(plan, x.device, tuple(as_conv(x, w, geometry)[1].shape))
    if reason is not None:
        raise EngineError(f"engine 'lowrank-f32' cannot compute this layer exactly here: {reason}", fix="use engine='auto' (or 'gather')")
    x, w = as_conv(x, w, geometry)
    x, geometry = pointwise_subsample(x, w, geometry)
    if not plan.zero_row:  # padding must contribute T(0, w): pad the operands, not the factors
        x, geometry = pad_input(x, geometry), replace(geometry, padding=(0, 0))
    x = x if x.dtype == torch.float32 else x.float()
    w = w if w.dtype == torch.float32 else w.float()
    dec = plan.decomposition
    n, _c, h, wd = x.shape
    o, _cg, kh, kw = w.shape
    oh, ow = geometry.output_size(h, wd, kh, kw)
    shape = (n, o, oh, ow)
    parts: list[tuple[int, Tensor]] = []
    for shift, index in dec.groups():
        # components per call: each call's per-tap bound times its taps stays below 2^24
        per_call = max(1, (FLOAT32_EXACT - 1) // (kh * kw * _PRODUCT_MAX))
        for part in [index[i : i + per_call] for i in range(0, len(index), per_call)]:
            chunk = (FLOAT32_EXACT - 1) // (max(1, dec.abs_tap_bound(part)) * kh * kw)
            parts.append((shift, _conv_part(x, w, plan, part, geometry, max(1, chunk), shape)))
    if len(parts) == 1 and parts[0][0] == 0:
        return from_conv(parts[0][1], geometry)
    total = torch.zeros(shape, dtype=torch.float64)
    for shift, y in parts:  # float64 holds these integer sums exactly (< 2^53)
        total += y.double() * float(1 << shift)
    return from_conv(total, geometry)


def _conv_part(x: Tensor, w: Tensor, plan: TablePlan, part: np.ndarray, geometry: Geometry, chunk: int, shape: tuple[int, ...]) -> Tensor:
    """``Σ_{i ∈ part} conv(u_i(X), v_i(W))``: one convolution per channel chunk (each exact in float32)."""
    groups = geometry.groups
    cg = w.shape[1]
    identity = plan.decomposition.is_identity(part)
    if chunk >= cg:
        return _conv_batches(x, w, plan, part, identity, geometry, groups, shape)
    n, o, oh, ow = shape
    og = o // groups
    out = torch.zeros(shape, dtype=torch.float64)
    single = replace(geometry, groups=1)
    for g in range(groups):
        for c0 in range(0, cg, chunk):
            c1 = min(cg, c0 + chunk)
            xs = x[:, g * cg + c0 : g * cg + c1]
            ws = w[g * og : (g + 1) * og, c0:c1]
            out[:, g * og : (g + 1) * og] += _conv_batches(xs, ws, plan, part, identity, single, 1, (n, og, oh, ow)).double()
    return out


def _conv_batches(
    x: Tensor, w: Tensor, plan: TablePlan, part: np.ndarray, identity: bool, geometry: Geometry, groups: int, shape: tuple[int, ...]
) -> Tensor:
    """One float32 convolution of the stacked factors, split over the batch so the stacked input stays small."""
    if identity:
        return _mkldnn_conv(x, w, geometry, groups)
    lut_u = _lut(plan, "u", part)
    ws = _stack_weight(w, _lut(plan, "v", part))
    n, c, h, wd = x.shape
    step = max(1, CHUNK_BYTES // max(1, 4 * c * h * wd * len(part)))
    if step >= n:
        return _mkldnn_conv(_stack_input(x, lut_u), ws, geometry, groups)
    out = torch.empty(shape, dtype=torch.float32).contiguous(memory_format=torch.channels_last)
    for b in range(0, n, step):
        out[b : b + step] = _mkldnn_conv(_stack_input(x[b : b + step], lut_u), ws, geometry, groups)
    return out


LOWRANK_F32 = register(
    Engine(
        "lowrank-f32",
        _lowrank_f32,
        "exact int8 factors of the table as float32 oneDNN convolutions in channel chunks below 2^24 (any CPU)",
        family="lowrank",
        check=check,
        rank=30,
    )
)
