/* SPDX-License-Identifier: Apache-2.0
 * CPU kernels of the approximate-layer engines (loaded with ctypes by approxhil.nn.engines.native).
 *
 * stack_lookup  : integer activations -> uint8 codes of the low-rank factors u_i(x), NHWC, (c, i) order.
 * gather_conv   : direct convolution where every product is a truth-table lookup (any table).
 *
 * C99 with GNU vector types (gcc, clang), no Python or torch headers, so it compiles in well under a second. Each function works
 * on a slice of the output (batch range or output-channel range) so callers run slices in parallel.
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

void stack_lookup(const float *x, int64_t sn, int64_t sc, int64_t sh, int64_t sw,
                  int64_t C, int64_t H, int64_t W,
                  const int8_t *lut, int64_t ncomp, uint8_t *out, int64_t n0, int64_t n1)
{
    const int64_t cs = C * ncomp;
    const int wide = ncomp <= 16;
    uint8_t *codes = (uint8_t *)malloc(256 * (wide ? 16 : ncomp));
    if (!codes) return;
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
}

/* Table-lookup convolution.
 * x   : uint8 codes (value + 128) [N][C][Hp][Wp], already padded with the code of 0.
 * w   : uint8 codes [O][C/groups][KH][KW].
 * tt  : int32 [256][256], tt[w_code][x_code] = T(x, w) (one contiguous 1 KiB column per weight).
 * y   : int32 [N][O][OH][OW].
 * Work items are (n, group, block of up to OB output channels of that group), for item in [i0, i1),
 * ordered n-major: items = N * groups * ceil((O / groups) / OB). */
#define OB 4
void gather_conv(const uint8_t *x, const uint8_t *w, const int32_t *tt, int32_t *y,
                 int64_t C, int64_t Hp, int64_t Wp, int64_t O, int64_t KH, int64_t KW,
                 int64_t OH, int64_t OW, int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                 int64_t groups, int64_t i0, int64_t i1)
{
    const int64_t cg = C / groups, og = O / groups, plane = OH * OW;
    const int64_t blocks = (og + OB - 1) / OB, per_n = groups * blocks;
    int32_t *acc = (int32_t *)malloc(sizeof(int32_t) * OB * plane);
    if (!acc) return;
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
}
