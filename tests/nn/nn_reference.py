"""Brute-force integer reference: every product looked up in the table, summed in Python integers."""

from __future__ import annotations

import numpy as np


def conv_reference(
    x: np.ndarray,
    w: np.ndarray,
    table: np.ndarray,
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
) -> np.ndarray:
    """``y[n, o, i, j] = Σ table[x + 128, w + 128]`` over the receptive field, with explicit loops.

    ``x`` int ``[N, C, H, W]`` and ``w`` int ``[O, C/groups, KH, KW]`` hold values -128..127;
    ``table`` is indexed ``[activation + 128, weight + 128]``. Padding feeds the value 0 to the table.
    """
    x = np.pad(np.asarray(x, dtype=np.int64), ((0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2))
    w = np.asarray(w, dtype=np.int64)
    n_, _, h_, w_ = x.shape
    o_, cg, kh, kw = w.shape
    og = o_ // groups
    oh = (h_ - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (w_ - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n_, o_, oh, ow), dtype=np.int64)
    for n in range(n_):
        for o in range(o_):
            g = o // og
            for i in range(oh):
                for j in range(ow):
                    acc = 0
                    for c in range(cg):
                        for a in range(kh):
                            for b in range(kw):
                                xv = x[n, g * cg + c, i * stride[0] + a * dilation[0], j * stride[1] + b * dilation[1]]
                                acc += int(table[xv + 128, w[o, c, a, b] + 128])
                    y[n, o, i, j] = acc
    return y


def linear_reference(x: np.ndarray, w: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``y[m, o] = Σ_f table[x[m, f] + 128, w[o, f] + 128]`` with explicit loops."""
    x = np.asarray(x, dtype=np.int64)
    w = np.asarray(w, dtype=np.int64)
    y = np.zeros((x.shape[0], w.shape[0]), dtype=np.int64)
    for m in range(x.shape[0]):
        for o in range(w.shape[0]):
            y[m, o] = sum(int(table[x[m, f] + 128, w[o, f] + 128]) for f in range(x.shape[1]))
    return y


def conv_grad_reference(
    g: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    ga: np.ndarray,
    gb: np.ndarray,
    stride: tuple[int, int] = (1, 1),
    padding: tuple[int, int] = (0, 0),
    dilation: tuple[int, int] = (1, 1),
    groups: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Backward pass with gradient tables, explicit loops in float64 (see ``approxhil.nn.gradients.backward``).

    ``gx[n, c, i, j] = Σ g[n, o, p] · ga[x + 128, w + 128]`` over the outputs ``p`` whose receptive field reads
    input ``(i, j)`` through tap ``(a, b)``; ``gw[o, c, a, b] = Σ g[n, o, p] · gb[x + 128, w + 128]`` over every
    output, padding reading the value 0.
    """
    ph, pw = padding
    xp = np.pad(np.asarray(x, dtype=np.int64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    w = np.asarray(w, dtype=np.int64)
    g = np.asarray(g, dtype=np.float64)
    n_ = xp.shape[0]
    o_, cg, kh, kw = w.shape
    og = o_ // groups
    gx = np.zeros(xp.shape, dtype=np.float64)
    gw = np.zeros(w.shape, dtype=np.float64)
    for n in range(n_):
        for o in range(o_):
            grp = o // og
            for i in range(g.shape[2]):
                for j in range(g.shape[3]):
                    gv = g[n, o, i, j]
                    for c in range(cg):
                        for a in range(kh):
                            for b in range(kw):
                                r, s = i * stride[0] + a * dilation[0], j * stride[1] + b * dilation[1]
                                xv = xp[n, grp * cg + c, r, s] + 128
                                wv = w[o, c, a, b] + 128
                                gx[n, grp * cg + c, r, s] += gv * ga[xv, wv]
                                gw[o, c, a, b] += gv * gb[xv, wv]
    return gx[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]], gw


def linear_grad_reference(g: np.ndarray, x: np.ndarray, w: np.ndarray, ga: np.ndarray, gb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``gx[m, f] = Σ_o g[m, o] · ga[x, w]`` and ``gw[o, f] = Σ_m g[m, o] · gb[x, w]`` with explicit loops."""
    x = np.asarray(x, dtype=np.int64) + 128
    w = np.asarray(w, dtype=np.int64) + 128
    g = np.asarray(g, dtype=np.float64)
    gx = np.zeros(x.shape)
    gw = np.zeros(w.shape)
    for m in range(x.shape[0]):
        for o in range(w.shape[0]):
            for f in range(x.shape[1]):
                gx[m, f] += g[m, o] * ga[x[m, f], w[o, f]]
                gw[o, f] += g[m, o] * gb[x[m, f], w[o, f]]
    return gx, gw
