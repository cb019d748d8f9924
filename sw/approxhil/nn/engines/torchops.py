"""Device-independent building blocks of the torch-op engines: padding, im2col views, exact int8 GEMM."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from approxhil.nn.engines.base import Geometry, per_thread_count

#: Largest reduction length whose int8 x int8 products sum inside int32 (128 * 128 * k < 2^31).
INT32_SAFE_K = (1 << 31) // (128 * 128) - 1


def pad_input(x: Tensor, geometry: Geometry) -> Tensor:
    """Zero-pad the integer activations ``[N, C, H, W]`` (padding is part of the input: ``T(0, w)`` counts)."""
    ph, pw = geometry.padding
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (pw, pw, ph, ph), value=0)


def patches(t: Tensor, kh: int, kw: int, geometry: Geometry) -> Tensor:
    """View ``[N, OH, OW, C, KH, KW, *rest]`` of a contiguous padded ``[N, C, Hp, Wp, *rest]`` tensor."""
    t = t.contiguous()
    n, c, hp, wp = t.shape[:4]
    rest = tuple(t.shape[4:])
    sn, sc, sh, sw = t.stride()[:4]
    oh = (hp - geometry.dilation[0] * (kh - 1) - 1) // geometry.stride[0] + 1
    ow = (wp - geometry.dilation[1] * (kw - 1) - 1) // geometry.stride[1] + 1
    size = (n, oh, ow, c, kh, kw, *rest)
    stride = (
        sn,
        sh * geometry.stride[0],
        sw * geometry.stride[1],
        sc,
        sh * geometry.dilation[0],
        sw * geometry.dilation[1],
        *t.stride()[4:],
    )
    return t.as_strided(size, stride)


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def int8_matmul(a: Tensor, b_t: Tensor) -> Tensor:
    """Exact ``a @ b_t.T`` of int8 matrices ``a [m, k]``, ``b_t [n, k]`` as int64 ``[m, n]``.

    Uses ``torch._int_mm`` (int32 accumulation; CUDA wants m > 16 and k, n multiples of 8, B column
    major) in slices of at most :data:`INT32_SAFE_K` along k so int32 never overflows; float64 (exact
    below 2^53) where ``_int_mm`` is unavailable or, on the CPU, not exact: without VNNI oneDNN's int8
    GEMM saturates int16 pair sums (:func:`int_mm_exact`).
    """
    m, k = a.shape
    n = b_t.shape[0]
    out = torch.zeros((m, n), dtype=torch.int64, device=a.device)
    if m == 0 or n == 0 or k == 0:
        return out
    step = INT32_SAFE_K - INT32_SAFE_K % 8
    for k0 in range(0, k, step):
        out += _int_mm_padded(a[:, k0 : k0 + step], b_t[:, k0 : k0 + step])
    return out


def _int_mm_padded(a: Tensor, b_t: Tensor) -> Tensor:
    m, k = a.shape
    n = b_t.shape[0]
    mp, kp, np_ = max(_round_up(m, 8), 32), _round_up(k, 8), _round_up(n, 8)
    if (mp, kp) != (m, k):
        a = F.pad(a, (0, kp - k, 0, mp - m))
    if (np_, kp) != (n, k):
        b_t = F.pad(b_t, (0, kp - k, 0, np_ - n))
    a = a.contiguous()
    b_t = b_t.contiguous()
    result = None
    if a.device.type != "cpu" or int_mm_exact():
        try:
            result = torch._int_mm(a, b_t.t())
        except (RuntimeError, NotImplementedError, AttributeError):
            result = None
    if result is None:
        result = a.double() @ b_t.double().t()  # integer sums below 2^53: exact in any order
    return result[:m, :n].to(torch.int64)


@per_thread_count
def int_mm_exact() -> bool:
    """Whether ``torch._int_mm`` on the CPU gives exact int32 sums here (probe: extreme and random operands), at
    the thread count results are computed with (:func:`~approxhil.nn.engines.base.per_thread_count`)."""
    gen = torch.Generator().manual_seed(99)
    probes = [
        (torch.full((32, 64), -128, dtype=torch.int8), torch.full((64, 8), -128, dtype=torch.int8)),
        (torch.full((32, 64), 127, dtype=torch.int8), torch.full((64, 8), -128, dtype=torch.int8)),
        (
            torch.randint(-128, 128, (64, 256), generator=gen, dtype=torch.int8),
            torch.randint(-128, 128, (256, 16), generator=gen, dtype=torch.int8),
        ),
    ]
    try:
        return all(torch.equal(torch._int_mm(a, b).to(torch.int64), a.to(torch.int64) @ b.to(torch.int64)) for a, b in probes)
    except (RuntimeError, NotImplementedError, AttributeError):
        return False
