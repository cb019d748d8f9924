/* SPDX-License-Identifier: Apache-2.0
 * CPU kernels of the approximate-layer engines (loaded with ctypes by approxhil.nn.engines.native).
 *
 * stack_lookup       : integer activations -> uint8 codes of the low-rank factors u_i(x), NHWC, (c, i) order.
 * stack_lookup_f32   : the same factors as float32 values.
 * gather_conv        : direct convolution where every product is a truth-table lookup (any table).
 * gather_conv_packed : the same with three output channels per 64-bit lookup (SWAR), for large output planes.
 * grad_table_conv    : the backward pass of a table-lookup convolution with float gradient tables (any table).
 *
 * Portable C99 with GNU vector types (gcc, clang): no intrinsics, no Python or torch headers, so it
 * compiles in well under a second on x86-64 and aarch64 alike. Each function works on a slice of its
 * work items (batch range or output-channel range) so callers run slices in parallel.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OFFSET 128

/* x: integer-valued float activations, any strides (sn, sc, sh, sw), shape [N][C][H][W], values in
 * [-128, 127]. lut: int8 [256][ncomp], lut[x + 128][i] = u_i(x). out: uint8 [N][H][W][C * ncomp],
 * channel order (channel, component), code = u_i(x) + 128; a group's channels stay contiguous.
 * Rows n0..n1-1. */
/* 16 bytes, any alignment (a GCC/Clang vector type; plain memcpy was compiled to an aligned store). */
typedef uint8_t vec16 __attribute__((vector_size(16), aligned(1)));

int stack_lookup(const float *x, int64_t sn, int64_t sc, int64_t sh, int64_t sw,
                  int64_t C, int64_t H, int64_t W,
                  const int8_t *lut, int64_t ncomp, uint8_t *out, int64_t n0, int64_t n1)
{
    const int64_t cs = C * ncomp;
    const int wide = ncomp <= 16;
    uint8_t *codes = (uint8_t *)malloc(256 * (wide ? 16 : ncomp));
    if (!codes) return -1;
    const int64_t stride = wide ? 16 : ncomp;
    for (int64_t v = 0; v < 256; ++v)
        for (int64_t i = 0; i < stride; ++i)
            codes[v * stride + i] = i < ncomp ? (uint8_t)(lut[v * ncomp + i] + OFFSET) : 0;
    for (int64_t n = n0; n < n1; ++n) {
        for (int64_t h = 0; h < H; ++h) {
            uint8_t *orow = out + ((n * H + h) * W) * cs;
            for (int64_t c = 0; c < C; ++c) {
                const float *xr = x + n * sn + c * sc + h * sh;
                uint8_t *o = orow + c * ncomp;
                if (wide && c * ncomp + 16 <= cs) {  /* 16-byte stores; the spill is overwritten by later channels */
                    for (int64_t w = 0; w < W; ++w, o += cs) {
                        *(vec16 *)o = *(const vec16 *)(codes + ((int)xr[w * sw] + OFFSET) * 16);
                    }
                } else {
                    for (int64_t w = 0; w < W; ++w, o += cs) {
                        const uint8_t *src = codes + ((int)xr[w * sw] + OFFSET) * stride;
                        for (int64_t i = 0; i < ncomp; ++i) o[i] = src[i];
                    }
                }
            }
        }
    }
    free(codes);
    return 0;
}

/* Float version for the float32 low-rank engine: out float [N][H][W][C * ncomp] = u_i(x) (lut float
 * [256][ncomp]), channel order (channel, component). Rows n0..n1-1. */
int stack_lookup_f32(const float *x, int64_t sn, int64_t sc, int64_t sh, int64_t sw,
                     int64_t C, int64_t H, int64_t W,
                     const float *lut, int64_t ncomp, float *out, int64_t n0, int64_t n1)
{
    const int64_t cs = C * ncomp;
    for (int64_t n = n0; n < n1; ++n) {
        for (int64_t h = 0; h < H; ++h) {
            float *orow = out + ((n * H + h) * W) * cs;
            for (int64_t c = 0; c < C; ++c) {
                const float *xr = x + n * sn + c * sc + h * sh;
                float *o = orow + c * ncomp;
                for (int64_t w = 0; w < W; ++w, o += cs) {
                    const float *src = lut + ((int)xr[w * sw] + OFFSET) * ncomp;
                    for (int64_t i = 0; i < ncomp; ++i) o[i] = src[i];
                }
            }
        }
    }
    return 0;
}

/* Table-lookup convolution.
 * x   : uint8 codes (value + 128) [N][C][Hp][Wp], already padded with the code of 0.
 * w   : uint8 codes [O][C/groups][KH][KW].
 * tt  : int32 [256][256], tt[w_code][x_code] = T(x, w) (one contiguous 1 KiB column per weight).
 * y   : int32 [N][O][OH][OW].
 * Work items are (n, group, block of up to OB output channels of that group), for item in [i0, i1),
 * ordered n-major: items = N * groups * ceil((O / groups) / OB). */
#define OB 4
int gather_conv(const uint8_t *x, const uint8_t *w, const int32_t *tt, int32_t *y,
                 int64_t C, int64_t Hp, int64_t Wp, int64_t O, int64_t KH, int64_t KW,
                 int64_t OH, int64_t OW, int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                 int64_t groups, int64_t i0, int64_t i1)
{
    const int64_t cg = C / groups, og = O / groups, plane = OH * OW;
    const int64_t blocks = (og + OB - 1) / OB, per_n = groups * blocks;
    int32_t *acc = (int32_t *)malloc(sizeof(int32_t) * OB * plane);
    if (!acc) return -1;
    for (int64_t item = i0; item < i1; ++item) {
        const int64_t n = item / per_n, g = (item % per_n) / blocks, blk = item % blocks;
        const int64_t o0 = g * og + blk * OB;
        const int64_t ob = og - blk * OB < OB ? og - blk * OB : OB;
        memset(acc, 0, sizeof(int32_t) * OB * plane);
        for (int64_t c = 0; c < cg; ++c) {
            const uint8_t *xc = x + ((n * C + g * cg + c) * Hp) * Wp;
            for (int64_t i = 0; i < KH; ++i) {
                for (int64_t j = 0; j < KW; ++j) {
                    const int32_t *col[OB];
                    for (int64_t b = 0; b < OB; ++b) {
                        const int64_t o = o0 + (b < ob ? b : 0);
                        col[b] = tt + (int64_t)w[((o * cg + c) * KH + i) * KW + j] * 256;
                    }
                    for (int64_t oh = 0; oh < OH; ++oh) {
                        const uint8_t *row = xc + (oh * sh + i * dh) * Wp + j * dw;
                        int32_t *a0 = acc + oh * OW;
                        if (ob == OB) {
                            int32_t *a1 = a0 + plane, *a2 = a1 + plane, *a3 = a2 + plane;
                            const int32_t *c0 = col[0], *c1 = col[1], *c2 = col[2], *c3 = col[3];
                            for (int64_t ow = 0; ow < OW; ++ow) {
                                const uint8_t v = row[ow * sw];
                                a0[ow] += c0[v];
                                a1[ow] += c1[v];
                                a2[ow] += c2[v];
                                a3[ow] += c3[v];
                            }
                        } else {
                            for (int64_t b = 0; b < ob; ++b) {
                                int32_t *ab = a0 + b * plane;
                                const int32_t *cb = col[b];
                                for (int64_t ow = 0; ow < OW; ++ow) ab[ow] += cb[row[ow * sw]];
                            }
                        }
                    }
                }
            }
        }
        for (int64_t b = 0; b < ob; ++b)
            memcpy(y + ((n * O) + o0 + b) * plane, acc + b * plane, sizeof(int32_t) * plane);
    }
    free(acc);
    return 0;
}

/* Packed table-lookup convolution (SWAR: SIMD within a register).
 *
 * For one weight tap and three output channels with weight codes w0, w1, w2, the packed column
 *     col[x] = B(x,w0) | B(x,w1) << 21 | B(x,w2) << 42,   B = T + bias = T - min T  (biased table)
 * holds the three biased products of activation code x in one uint64, so one 64-bit load and add
 * perform three table-lookup MACs. Biased products lie in [0, range] with range = max T - min T;
 * a lane never carries into the next while at most `flush` taps are added, where
 * flush * range < 2^21 (the caller computes it). Every `flush` taps the lanes move into int64
 * accumulators. At the end each output is its lane sum minus taps * bias.
 *
 * x, w, y and the geometry as for gather_conv; tb is the *biased* table (int32 [256][256], weight
 * major, entries in [0, 2^21)); N is the batch size. Work items are
 * (chunk of `nchunk` images, group, block of up to PB * 3 output channels), chunk-major:
 * items = ceil(N / nchunk) * groups * ceil((O / groups) / (PB * 3)).
 * Returns 0, or -1 when scratch memory cannot be allocated (then no output is written). */
#define LANES 3
#define LANE_BITS 21
#define LANE_MASK ((UINT64_C(1) << LANE_BITS) - 1)
#define PB 2  /* packed blocks per item: 6 output channels share each activation byte load */

static void build_columns(uint64_t *restrict col, const int32_t *restrict t0, const int32_t *restrict t1,
                          const int32_t *restrict t2)
{
    for (int64_t v = 0; v < 256; ++v)
        col[v] = (uint64_t)(uint32_t)t0[v] | (uint64_t)(uint32_t)t1[v] << LANE_BITS
                 | (uint64_t)(uint32_t)t2[v] << (2 * LANE_BITS);
}

/* Move the packed lanes of the first `used` pixels (block stride `pixels`) into the int64 accumulators. */
static void flush_lanes(uint64_t *pacc, int64_t *acc, int64_t pixels, int64_t used, int blocks)
{
    for (int b = 0; b < blocks; ++b) {
        uint64_t *p = pacc + b * pixels;
        int64_t *a0 = acc + (b * LANES) * pixels, *a1 = a0 + pixels, *a2 = a1 + pixels;
        for (int64_t q = 0; q < used; ++q) {
            const uint64_t v = p[q];
            a0[q] += (int64_t)(v & LANE_MASK);
            a1[q] += (int64_t)((v >> LANE_BITS) & LANE_MASK);
            a2[q] += (int64_t)(v >> (2 * LANE_BITS));
            p[q] = 0;
        }
    }
}

int gather_conv_packed(const uint8_t *x, const uint8_t *w, const int32_t *tt, int32_t *y,
                        int64_t N, int64_t C, int64_t Hp, int64_t Wp, int64_t O, int64_t KH, int64_t KW,
                        int64_t OH, int64_t OW, int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                        int64_t groups, int64_t bias, int64_t flush, int64_t nchunk, int64_t i0, int64_t i1)
{
    const int64_t cg = C / groups, og = O / groups, plane = OH * OW;
    const int64_t per_item = PB * LANES;
    const int64_t blocks = (og + per_item - 1) / per_item, per_chunk = groups * blocks;
    const int64_t pixels = nchunk * plane;
    uint64_t *pacc = (uint64_t *)calloc((size_t)(PB * pixels), sizeof(uint64_t));
    int64_t *acc = (int64_t *)malloc(sizeof(int64_t) * PB * LANES * pixels);
    uint64_t *cols = (uint64_t *)malloc(sizeof(uint64_t) * PB * KW * 256);
    if (!pacc || !acc || !cols) { free(pacc); free(acc); free(cols); return -1; }
    for (int64_t item = i0; item < i1; ++item) {
        const int64_t chunk = item / per_chunk, g = (item % per_chunk) / blocks, blk = item % blocks;
        const int64_t n0 = chunk * nchunk, nb = N - n0 < nchunk ? N - n0 : nchunk;
        const int64_t o0 = g * og + blk * per_item;
        const int64_t ob = og - blk * per_item < per_item ? og - blk * per_item : per_item;
        const int nblocks = (int)((ob + LANES - 1) / LANES);
        const int64_t used = nb * plane;
        memset(acc, 0, sizeof(int64_t) * PB * LANES * pixels);
        int64_t pending = 0;  /* taps added to the packed lanes since the last flush */
        for (int64_t c = 0; c < cg; ++c) {
            for (int64_t i = 0; i < KH; ++i) {
                for (int b = 0; b < nblocks; ++b) {
                    for (int64_t j = 0; j < KW; ++j) {
                        const int32_t *rows[LANES];
                        for (int l = 0; l < LANES; ++l) {
                            /* a lane past the block's last channel repeats it: summed, never read back */
                            const int64_t o = o0 + b * LANES + l < o0 + ob ? o0 + b * LANES + l : o0 + ob - 1;
                            rows[l] = tt + (int64_t)w[((o * cg + c) * KH + i) * KW + j] * 256;
                        }
                        build_columns(cols + (b * KW + j) * 256, rows[0], rows[1], rows[2]);
                    }
                }
                if (pending + KW > flush) {
                    flush_lanes(pacc, acc, pixels, used, nblocks);
                    pending = 0;
                }
                pending += KW;
                for (int64_t n = 0; n < nb; ++n) {
                    const uint8_t *xc = x + (((n0 + n) * C + g * cg + c) * Hp + i * dh) * Wp;
                    for (int64_t oh = 0; oh < OH; ++oh) {
                        const uint8_t *row = xc + oh * sh * Wp;
                        const int64_t q0 = n * plane + oh * OW;
                        uint64_t *p0 = pacc + q0, *p1 = pacc + pixels + q0;
                        if (KW == 3 && nblocks == 2 && sw == 1 && dw == 1) {  /* the common 3x3 case */
                            const uint64_t *c00 = cols, *c01 = cols + 256, *c02 = cols + 512;
                            const uint64_t *c10 = cols + 768, *c11 = cols + 1024, *c12 = cols + 1280;
                            uint8_t a = row[0], b = row[1];
                            for (int64_t ow = 0; ow < OW; ++ow) {
                                const uint8_t d = row[ow + 2];
                                p0[ow] += c00[a] + c01[b] + c02[d];
                                p1[ow] += c10[a] + c11[b] + c12[d];
                                a = b;
                                b = d;
                            }
                        } else if (KW == 3 && nblocks == 2) {
                            const uint64_t *c00 = cols, *c01 = cols + 256, *c02 = cols + 512;
                            const uint64_t *c10 = cols + 768, *c11 = cols + 1024, *c12 = cols + 1280;
                            for (int64_t ow = 0; ow < OW; ++ow) {
                                const uint8_t *r = row + ow * sw;
                                const uint8_t a = r[0], b = r[dw], d = r[2 * dw];
                                p0[ow] += c00[a] + c01[b] + c02[d];
                                p1[ow] += c10[a] + c11[b] + c12[d];
                            }
                        } else if (KW == 1 && nblocks == 2) {
                            const uint64_t *c00 = cols, *c10 = cols + 256;
                            for (int64_t ow = 0; ow < OW; ++ow) {
                                const uint8_t a = row[ow * sw];
                                p0[ow] += c00[a];
                                p1[ow] += c10[a];
                            }
                        } else {
                            for (int b = 0; b < nblocks; ++b) {
                                uint64_t *pb = pacc + b * pixels + q0;
                                for (int64_t j = 0; j < KW; ++j) {
                                    const uint64_t *cb = cols + (b * KW + j) * 256;
                                    const uint8_t *r = row + j * dw;
                                    for (int64_t ow = 0; ow < OW; ++ow) pb[ow] += cb[r[ow * sw]];
                                }
                            }
                        }
                    }
                }
            }
        }
        flush_lanes(pacc, acc, pixels, used, nblocks);
        const int64_t offset = cg * KH * KW * bias;
        for (int64_t k = 0; k < ob; ++k) {
            const int64_t *a = acc + k * pixels;
            for (int64_t n = 0; n < nb; ++n) {
                int32_t *dst = y + ((n0 + n) * O + o0 + k) * plane;
                for (int64_t q = 0; q < plane; ++q) dst[q] = (int32_t)(a[n * plane + q] - offset);
            }
        }
    }
    free(pacc);
    free(acc);
    free(cols);
    return 0;
}

/* Backward pass of a table-lookup convolution with gradient tables (float): for every product
 * T(x, w) of the forward, the gradient tables give dT/dx = ga[x][w] and dT/dw = gb[x][w], so
 *     gx[n, c, q]    = sum over (o, k) reading q of   g[n, o, p] * ga[x[n, c, q]][w[o, c, k]]
 *     gw[o, c, k]    = sum over (n, p)               g[n, o, p] * gb[x[n, c, p + k]][w[o, c, k]]
 * (p an output pixel, k a kernel tap, q = p * stride + k * dilation the input pixel it reads).
 *
 * Per input channel c the kernel first builds, for every activation code present in the channel,
 * the rows A[k][a][o] = ga[a][w[o, c, k]] and B[k][a][o] = gb[a][w[o, c, k]] over the output
 * channels o of c's group; then each (pixel, tap) costs one row load and one vector multiply-add
 * over o: a dot product with g's row for gx, an elementwise product accumulated per tap for gw.
 *
 * x  : uint8 codes (value + 128) [N][C][Hp][Wp], padded with the code of 0 (padding reads T(0, w)).
 * w  : uint8 codes [O][C/groups][KH][KW].
 * ga, gb : float [256 x codes][256 w codes].
 * g  : float [N][OH][OW][groups][opad]: the output gradient, each group's og channels zero-padded
 *      to opad (a multiple of 8).
 * gx : float [N][C][H][W] (the unpadded input: H = Hp - 2 ph, W = Wp - 2 pw), when need_x.
 * gw : float [O][C/groups][KH][KW], when need_w; sums over pixels per image in float, images in double.
 * Work items are input channels c in [i0, i1); results do not depend on how they are split.
 * Returns 0, or -1 when scratch memory cannot be allocated. */
typedef float vec8f __attribute__((vector_size(32), aligned(4)));

static inline float hsum8(vec8f v)
{
    return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
}

static void build_rows(float *rows, const float *table, const uint8_t *w, const uint8_t *present,
                       int64_t o0, int64_t og, int64_t opad, int64_t cg, int64_t cl, int64_t K)
{
    for (int64_t k = 0; k < K; ++k) {
        for (int64_t a = 0; a < 256; ++a) {
            if (!present[a]) continue;
            float *row = rows + (k * 256 + a) * opad;
            const float *t = table + a * 256;
            for (int64_t o = 0; o < og; ++o) row[o] = t[w[((o0 + o) * cg + cl) * K + k]];
            for (int64_t o = og; o < opad; ++o) row[o] = 0.0f;
        }
    }
}

/* One image of one channel: acc[k][o] += B[k][x][o] * g[p][o] over output pixels p and taps k.
 * nv (vectors of 8 per row) is a compile-time constant where the caller dispatches on it. */
static inline __attribute__((always_inline)) void
weight_pass(float *acc, const float *B, const uint8_t *xc, const float *gn, int64_t nv, int64_t OH, int64_t OW,
            int64_t KH, int64_t KW, int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t Wp, int64_t gpix, int64_t opad)
{
    for (int64_t oh = 0; oh < OH; ++oh) {
        for (int64_t ow = 0; ow < OW; ++ow) {
            const vec8f *gv = (const vec8f *)(gn + (oh * OW + ow) * gpix);
            for (int64_t i = 0; i < KH; ++i) {
                const uint8_t *row = xc + (oh * sh + i * dh) * Wp + ow * sw;
                for (int64_t j = 0; j < KW; ++j) {
                    const int64_t k = i * KW + j;
                    const vec8f *bv = (const vec8f *)(B + (k * 256 + row[j * dw]) * opad);
                    vec8f *av = (vec8f *)(acc + k * opad);
                    for (int64_t v = 0; v < nv; ++v) av[v] += bv[v] * gv[v];
                }
            }
        }
    }
}

/* One image of one channel: gx[q] = sum over taps reading q of A[k][x[q]] . g[p]. rowmap[ih * KH + i] and
 * colmap[iw * KW + j] hold the output row/column tap (i, j) of input (ih, iw) contributes to, or -1. */
static inline __attribute__((always_inline)) void
input_pass(float *gxc, const float *A, const uint8_t *xc, const float *gn, const int64_t *rowmap, const int64_t *colmap,
           int64_t nv, int64_t H, int64_t W, int64_t ph, int64_t pw, int64_t OW, int64_t KH, int64_t KW, int64_t Wp,
           int64_t gpix, int64_t opad)
{
    for (int64_t ih = 0; ih < H; ++ih) {
        for (int64_t iw = 0; iw < W; ++iw) {
            const float *arows = A + (int64_t)xc[(ih + ph) * Wp + iw + pw] * opad;
            vec8f s = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int64_t i = 0; i < KH; ++i) {
                const int64_t oh = rowmap[ih * KH + i];
                if (oh < 0) continue;
                for (int64_t j = 0; j < KW; ++j) {
                    const int64_t ow = colmap[iw * KW + j];
                    if (ow < 0) continue;
                    const vec8f *av = (const vec8f *)(arows + (i * KW + j) * 256 * opad);
                    const vec8f *gv = (const vec8f *)(gn + (oh * OW + ow) * gpix);
                    for (int64_t v = 0; v < nv; ++v) s += av[v] * gv[v];
                }
            }
            gxc[ih * W + iw] = hsum8(s);
        }
    }
}

/* Output index that input index t (padded coordinates) reaches through tap offset `off`, or -1. */
static int64_t tap_target(int64_t t, int64_t off, int64_t stride, int64_t out)
{
    const int64_t d = t - off;
    if (d < 0 || d % stride) return -1;
    return d / stride < out ? d / stride : -1;
}

#define DISPATCH_NV(nv, call)                                   \
    switch (nv) {                                               \
    case 1: { const int64_t NV = 1; call; } break;              \
    case 2: { const int64_t NV = 2; call; } break;              \
    case 4: { const int64_t NV = 4; call; } break;              \
    case 8: { const int64_t NV = 8; call; } break;              \
    default: { const int64_t NV = nv; call; } break;            \
    }

int grad_table_conv(const uint8_t *x, const uint8_t *w, const float *ga, const float *gb, const float *g,
                    float *gx, float *gw,
                    int64_t N, int64_t C, int64_t Hp, int64_t Wp, int64_t O, int64_t KH, int64_t KW,
                    int64_t OH, int64_t OW, int64_t sh, int64_t sw, int64_t dh, int64_t dw, int64_t ph, int64_t pw,
                    int64_t groups, int64_t opad, int64_t need_x, int64_t need_w, int64_t i0, int64_t i1)
{
    const int64_t cg = C / groups, og = O / groups, K = KH * KW, plane = Hp * Wp;
    const int64_t H = Hp - 2 * ph, W = Wp - 2 * pw, gpix = groups * opad, nv = opad / 8;
    float *A = need_x ? (float *)malloc(sizeof(float) * K * 256 * opad) : NULL;
    float *B = need_w ? (float *)malloc(sizeof(float) * K * 256 * opad) : NULL;
    float *acc = (float *)malloc(sizeof(float) * K * opad);
    double *total = (double *)malloc(sizeof(double) * K * opad);
    int64_t *rowmap = (int64_t *)malloc(sizeof(int64_t) * (H * KH + W * KW));
    if ((need_x && !A) || (need_w && !B) || !acc || !total || !rowmap) {
        free(A); free(B); free(acc); free(total); free(rowmap);
        return -1;
    }
    int64_t *colmap = rowmap + H * KH;
    for (int64_t ih = 0; ih < H; ++ih)
        for (int64_t i = 0; i < KH; ++i) rowmap[ih * KH + i] = tap_target(ih + ph, i * dh, sh, OH);
    for (int64_t iw = 0; iw < W; ++iw)
        for (int64_t j = 0; j < KW; ++j) colmap[iw * KW + j] = tap_target(iw + pw, j * dw, sw, OW);
    for (int64_t c = i0; c < i1; ++c) {
        const int64_t grp = c / cg, cl = c % cg, o0 = grp * og;
        uint8_t present[256];
        memset(present, 0, sizeof(present));
        for (int64_t n = 0; n < N; ++n) {
            const uint8_t *xc = x + (n * C + c) * plane;
            for (int64_t q = 0; q < plane; ++q) present[xc[q]] = 1;
        }
        if (need_x) build_rows(A, ga, w, present, o0, og, opad, cg, cl, K);
        if (need_w) {
            build_rows(B, gb, w, present, o0, og, opad, cg, cl, K);
            memset(total, 0, sizeof(double) * K * opad);
        }
        for (int64_t n = 0; n < N; ++n) {
            const uint8_t *xc = x + (n * C + c) * plane;
            const float *gn = g + n * OH * OW * gpix + grp * opad;
            if (need_w) {
                memset(acc, 0, sizeof(float) * K * opad);
                DISPATCH_NV(nv, weight_pass(acc, B, xc, gn, NV, OH, OW, KH, KW, sh, sw, dh, dw, Wp, gpix, opad))
                for (int64_t e = 0; e < K * opad; ++e) total[e] += acc[e];
            }
            if (need_x) {
                DISPATCH_NV(nv, input_pass(gx + (n * C + c) * H * W, A, xc, gn, rowmap, colmap, NV, H, W, ph, pw, OW,
                                           KH, KW, Wp, gpix, opad))
            }
        }
        if (need_w) {
            for (int64_t o = 0; o < og; ++o)
                for (int64_t k = 0; k < K; ++k) gw[((o0 + o) * cg + cl) * K + k] = (float)total[k * opad + o];
        }
    }
    free(A);
    free(B);
    free(acc);
    free(total);
    free(rowmap);
    return 0;
}
