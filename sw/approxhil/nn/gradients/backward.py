"""The backward pass of a table-lookup layer with gradient tables: three ways, one result.

For integer operands ``x`` (activations) and ``w`` (weights) of a convolution or linear layer and the
gradient ``g`` of its integer output, with gradient tables ``Ga``, ``Gb`` (:mod:`.estimators`):

    gx[n, c, q] = Σ_{o, k} g[n, o, p] · Ga[x[n, c, q], w[o, c, k]]      (q = p·stride + k·dilation − padding)
    gw[o, c, k] = Σ_{n, p} g[n, o, p] · Gb[x[n, c, q], w[o, c, k]]       (padding reads the value 0)

Backends (all float32 sums, so they agree to rounding):

* ``gather`` (CPU, any table): the C kernel ``grad_table_conv``; per input channel it gathers the table rows
  of the codes present, then one vector multiply-add per (pixel, tap) over the output channels.
* ``factors`` (any device): a float split ``G = Σ_i u_i(x) v_i(w)`` (SVD, exact to float64 rounding) turns the
  sums into ``gx = Σ_i u_i(X) ⊙ conv_transpose(g, v_i(W))`` and ``gw = Σ_i v_i(W) ⊙ conv_weight_grad(u_i(X), g)``:
  one convolution per component, stacked into one call. Cheap for rank-one tables (``lut-1d``, the exact
  table), and the GPU path for tables with a short split.
* ``gather-torch`` (any device, any table): im2col of the codes, gathers from the flattened tables in
  bounded chunks, ``fold`` back to the input; slow on the CPU, the GPU path for full-rank tables.

:func:`backend_for` picks one for a layer: the backend of the forward engine's family when the engine is
named (``lowrank*`` → ``factors``, ``gather`` → ``gather``, ``gather-gpu``/``gather-cuda`` → ``gather-torch``),
and for ``auto`` the fastest measured on ResNet8 (bench/bench_nn.py): ``factors`` for rank ≤
:data:`FACTOR_RANK_CPU` on the CPU, else the C kernel; on a GPU ``factors`` up to :data:`FACTOR_RANK_GPU`
components, else ``gather-torch``.
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from approxhil.nn.engines import native
from approxhil.nn.engines.base import CHUNK_BYTES, OFFSET, Geometry, as_conv
from approxhil.nn.engines.torchops import pad_input, patches
from approxhil.nn.errors import EngineError

BACKENDS = ("gather", "factors", "gather-torch")
#: On the CPU the factor path runs up to this many components (above, the C kernel is faster).
FACTOR_RANK_CPU = 2
#: On a GPU the factor path runs up to this many components (above, the torch gather path).
FACTOR_RANK_GPU = 24
#: Singular values below this fraction of the largest are zero (float64 rounding of an exact low rank).
_RANK_TOL = 1e-10


@dataclass(eq=False)
class GradientPlan:
    """The gradient tables of one (table, estimator) pair and what the backends derive from them."""

    ga: np.ndarray  # float64 [256, 256], [activation, weight]
    gb: np.ndarray
    exact: bool  # the exact product's derivatives: the straight-through backward is the same thing
    _tensors: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @cached_property
    def factors_a(self) -> tuple[np.ndarray, np.ndarray]:
        return split(self.ga)

    @cached_property
    def factors_b(self) -> tuple[np.ndarray, np.ndarray]:
        return split(self.gb)

    @cached_property
    def rank(self) -> int:
        """Components of the longer of the two float splits."""
        return max(self.factors_a[0].shape[1], self.factors_b[0].shape[1])

    @cached_property
    def constant_x_factor_a(self) -> float | None:
        """The value of ``Ga``'s one activation factor when it is constant (``Ga[x, w] = c·v(w)``: lut-1d), else ``None``."""
        return _constant(self.factors_a[0])

    @cached_property
    def constant_w_factor_b(self) -> float | None:
        """The value of ``Gb``'s one weight factor when it is constant (``Gb[x, w] = c·u(x)``), else ``None``."""
        return _constant(self.factors_b[1])

    @cached_property
    def zero_row_b(self) -> bool:
        """``Gb(0, w) == 0`` for every ``w``: zero padding then adds nothing to the weight gradient."""
        return not self.gb[OFFSET].any()

    def tensor(self, key: str, device: torch.device, make) -> Tensor:
        """A float32 tensor derived once per device (``make()`` builds it as a numpy array)."""
        slot = (key, str(device))
        with self._lock:
            hit = self._tensors.get(slot)
        if hit is None:
            hit = torch.from_numpy(np.ascontiguousarray(make(), dtype=np.float32)).to(device)
            with self._lock:
                self._tensors[slot] = hit
        return hit


def _constant(factor: np.ndarray) -> float | None:
    """The value of a single constant factor column (to float64 rounding), else ``None``."""
    if factor.shape[1] != 1 or np.ptp(factor) > 1e-12 * np.abs(factor).max(initial=0):
        return None
    return float(factor.mean())


def split(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Float factors ``(u [256, r], v [256, r])`` with ``table = u @ v.T`` to float64 rounding (SVD)."""
    left, sv, right = np.linalg.svd(table)
    if sv[0] == 0:
        return np.zeros((table.shape[0], 1)), np.zeros((table.shape[1], 1))
    rank = int(np.sum(sv > sv[0] * _RANK_TOL))
    root = np.sqrt(sv[:rank])
    return left[:, :rank] * root, right[:rank].T * root


# --------------------------------------------------------------------------- selection
def backend_for(engine: str, plan: GradientPlan, device: torch.device) -> str:
    """The backward backend of a layer whose forward engine setting is ``engine`` (see the module doc)."""
    if engine.startswith("lowrank"):
        return "factors"
    if engine == "gather":
        return "gather" if device.type == "cpu" and native.library() is not None else "gather-torch"
    if engine in ("gather-gpu", "gather-cuda"):
        return "gather-torch"
    if device.type == "cpu":
        if plan.rank <= FACTOR_RANK_CPU or native.library() is None:
            return "factors" if plan.rank <= FACTOR_RANK_GPU or native.library() is not None else "gather-torch"
        return "gather"
    return "factors" if plan.rank <= FACTOR_RANK_GPU else "gather-torch"


def table_backward(
    backend: str, g: Tensor, x: Tensor, w: Tensor, plan: GradientPlan, geometry: Geometry, need_x: bool = True, need_w: bool = True
) -> tuple[Tensor | None, Tensor | None]:
    """``(gx, gw)`` float32 for integer operands ``x``, ``w`` (values −128..127) and the output gradient ``g``.

    Shapes as the engines take them: convolution ``x [N, C, H, W]``, ``w [O, C/groups, KH, KW]``, ``g [N, O, OH, OW]``;
    linear (``geometry.linear``) ``x [M, F]``, ``w [O, F]``, ``g [M, O]``.
    """
    if backend not in BACKENDS:
        raise EngineError(f"unknown gradient backend {backend!r}", fix=f"use one of: {', '.join(BACKENDS)}")
    x4, w4 = as_conv(x, w, geometry)
    g4 = g.reshape(g.shape[0], g.shape[1], 1, 1) if geometry.linear else g
    g4 = g4.float()
    run = {"gather": _gather_c, "factors": _factors, "gather-torch": _gather_torch}[backend]
    gx, gw = run(g4, x4, w4, plan, geometry, need_x, need_w)
    if geometry.linear:
        gx = gx.reshape(x.shape) if gx is not None else None
        gw = gw.reshape(w.shape) if gw is not None else None
    return gx, gw


def _codes(t: Tensor) -> Tensor:
    return t.to(torch.int64) + OFFSET


# --------------------------------------------------------------------------- C kernel
def _kernel():
    """``grad_table_conv`` of the C kernels (``kernels.c``), or ``None`` where they cannot be built."""
    lib = native.library()
    if lib is None:
        return None
    fn = lib.grad_table_conv
    if fn.argtypes is None:
        fn.argtypes = [ctypes.c_void_p] * 7 + [ctypes.c_int64] * 21
        fn.restype = ctypes.c_int
    return fn


def _gather_c(g: Tensor, x: Tensor, w: Tensor, plan: GradientPlan, geometry: Geometry, need_x: bool, need_w: bool):
    kernel = _kernel()
    if kernel is None or x.device.type != "cpu":
        raise EngineError(
            "the C gradient kernel needs CPU tensors and the C kernels (no compiler here)",
            fix="use the 'factors' or 'gather-torch' gradient backend",
        )
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    groups = geometry.groups
    og = o // groups
    opad = -(-og // 8) * 8
    xc = (pad_input(x, geometry).to(torch.int16) + OFFSET).to(torch.uint8).contiguous()
    wc = (w.to(torch.int16) + OFFSET).to(torch.uint8).contiguous()
    oh, ow = g.shape[2], g.shape[3]
    gp = g.permute(0, 2, 3, 1).reshape(n, oh, ow, groups, og)
    gp = (F.pad(gp, (0, opad - og)) if opad != og else gp).contiguous()
    ga = plan.tensor("ga", torch.device("cpu"), lambda: plan.ga)
    gb = plan.tensor("gb", torch.device("cpu"), lambda: plan.gb)
    gx = torch.empty((n, c, h, wd), dtype=torch.float32) if need_x else None
    gw = torch.empty((o, cg, kh, kw), dtype=torch.float32) if need_w else None
    native.parallel(
        kernel,
        c,
        xc.data_ptr(),
        wc.data_ptr(),
        ga.data_ptr(),
        gb.data_ptr(),
        gp.data_ptr(),
        gx.data_ptr() if need_x else 0,
        gw.data_ptr() if need_w else 0,
        n,
        c,
        xc.shape[2],
        xc.shape[3],
        o,
        kh,
        kw,
        oh,
        ow,
        geometry.stride[0],
        geometry.stride[1],
        geometry.dilation[0],
        geometry.dilation[1],
        geometry.padding[0],
        geometry.padding[1],
        groups,
        opad,
        int(need_x),
        int(need_w),
    )
    return gx, gw


# --------------------------------------------------------------------------- float factors
def _stack(codes: Tensor, lut: Tensor) -> Tensor:
    """``lut[codes]`` of ``[A, B, KH, KW]`` codes as ``[A, B·r, KH, KW]``, order (b, i)."""
    a, b, kh, kw = codes.shape
    return lut[codes].permute(0, 1, 4, 2, 3).reshape(a, b * lut.shape[1], kh, kw)


def _factors(g: Tensor, x: Tensor, w: Tensor, plan: GradientPlan, geometry: Geometry, need_x: bool, need_w: bool):
    device = g.device
    stride, dilation, groups = list(geometry.stride), list(geometry.dilation), geometry.groups
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    wcodes = _codes(w)
    gx = gw = None
    if need_x:
        ua = plan.tensor("ua", device, lambda: plan.factors_a[0])
        va = plan.tensor("va", device, lambda: plan.factors_a[1])
        r = ua.shape[1]
        weights = _stack(wcodes, va)  # [O, Cg·r, KH, KW]
        constant = plan.constant_x_factor_a
        if constant is not None:  # Ga = c·v(w): one transposed convolution with the weights mapped through v
            gx = torch.nn.grad.conv2d_input(tuple(x.shape), weights * constant, g, stride, list(geometry.padding), dilation, groups)
            weights = None
        step = max(1, CHUNK_BYTES // max(1, 8 * c * r * h * wd))
        parts = []
        for b in range(0, n if weights is not None else 0, step):
            z = torch.nn.grad.conv2d_input(
                (min(step, n - b), c * r, h, wd), weights, g[b : b + step], stride, list(geometry.padding), dilation, groups
            )
            u = ua[_codes(x[b : b + step])]  # [n, C, H, W, r]
            parts.append((z.view(-1, c, r, h, wd) * u.permute(0, 1, 4, 2, 3)).sum(2))
        if parts:
            gx = torch.cat(parts) if len(parts) > 1 else parts[0]
    if need_w:
        ub = plan.tensor("ub", device, lambda: plan.factors_b[0])
        vb = plan.tensor("vb", device, lambda: plan.factors_b[1])
        r = ub.shape[1]
        padding = list(geometry.padding)
        xcodes = _codes(x)
        if not plan.zero_row_b:  # padding reads Gb(0, w) ≠ 0: pad the codes, not the factors
            xcodes, padding = _codes(pad_input(x, geometry)), [0, 0]
        hp, wp = xcodes.shape[2], xcodes.shape[3]
        step = max(1, CHUNK_BYTES // max(1, 4 * c * r * hp * wp))
        total = None
        for b in range(0, n, step):
            inputs = _stack(xcodes[b : b + step], ub)  # [n, C·r, Hp, Wp]
            part = torch.nn.grad.conv2d_weight(inputs, (o, cg * r, kh, kw), g[b : b + step], stride, padding, dilation, groups)
            total = part if total is None else total + part
        constant = plan.constant_w_factor_b
        if constant is not None:  # Gb = c·u(x): the weight gradient of the activations mapped through u
            gw = total.view(o, cg, kh, kw) * constant
        else:
            gw = (total.view(o, cg, r, kh, kw) * vb[wcodes].permute(0, 1, 4, 2, 3)).sum(2)
    return gx, gw


# --------------------------------------------------------------------------- torch gathers
def _gather_torch(g: Tensor, x: Tensor, w: Tensor, plan: GradientPlan, geometry: Geometry, need_x: bool, need_w: bool):
    device = g.device
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    groups, og = geometry.groups, o // geometry.groups
    k = cg * kh * kw
    xp = pad_input(x, geometry)
    hp, wp = xp.shape[2], xp.shape[3]
    cols = patches(_codes(xp), kh, kw, geometry)  # [N, OH, OW, C, KH, KW]
    oh, ow = cols.shape[1], cols.shape[2]
    index_x = (cols * 256).reshape(n * oh * ow, groups, k)  # x code · 256 + w code indexes the flat tables
    wcodes = _codes(w).reshape(groups, og, k)
    grows = g.permute(0, 2, 3, 1).reshape(n * oh * ow, groups, og)
    ga = plan.tensor("ga", device, lambda: plan.ga).reshape(-1)
    gb = plan.tensor("gb", device, lambda: plan.gb).reshape(-1)
    rows = n * oh * ow
    gcols = torch.zeros((rows, groups, k), dtype=torch.float32, device=device) if need_x else None
    gw = torch.zeros((groups, og, k), dtype=torch.float32, device=device) if need_w else None
    outs = max(1, min(og, CHUNK_BYTES // max(1, 12 * k * rows)))
    step = max(1, CHUNK_BYTES // max(1, 12 * k * outs))
    for r0 in range(0, rows, step):
        for grp in range(groups):
            xi = index_x[r0 : r0 + step, grp]  # [L, K]
            gl = grows[r0 : r0 + step, grp]  # [L, Og]
            for o0 in range(0, og, outs):
                idx = xi[None, :, :] + wcodes[grp, o0 : o0 + outs, None, :]  # [Oc, L, K]
                gg = gl[:, o0 : o0 + outs].t()[:, :, None]  # [Oc, L, 1]
                if need_x:
                    gcols[r0 : r0 + step, grp] += (ga[idx] * gg).sum(0)
                if need_w:
                    gw[grp, o0 : o0 + outs] += (gb[idx] * gg).sum(1)
    gx = None
    if need_x:
        cols_t = gcols.view(n, oh * ow, c * kh * kw).transpose(1, 2)  # [N, C·KH·KW, L] in (c, kh, kw) order
        folded = F.fold(cols_t, (hp, wp), (kh, kw), dilation=geometry.dilation, stride=geometry.stride)
        ph, pw = geometry.padding
        gx = folded[:, :, ph : ph + h, pw : pw + wd].contiguous()
    return gx, (gw.reshape(o, cg, kh, kw) if need_w else None)
