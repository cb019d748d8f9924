/* Self-test of the C kernels (kernels.c) against a naive loop, without Python: built with plain
 * `-O3` natively and cross-compiled for aarch64 by tests/nn/test_nn_engines.py, so the portable build
 * of the very same source is checked on both architectures. Prints "ok" and exits 0 on success. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int gather_conv(const uint8_t *, const uint8_t *, const int32_t *, int32_t *, int64_t, int64_t, int64_t,
                int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                int64_t, int64_t);
int gather_conv_packed(const uint8_t *, const uint8_t *, const int32_t *, int32_t *, int64_t, int64_t,
                       int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                       int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);
int stack_lookup(const float *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                 const int8_t *, int64_t, uint8_t *, int64_t, int64_t);

static uint64_t state = 88172645463325252ull;
static uint64_t next(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state; }
static int64_t uniform(int64_t lo, int64_t hi) { return lo + (int64_t)(next() % (uint64_t)(hi - lo + 1)); }

/* tt[w][x] weight-major table; x padded codes [N][C][Hp][Wp]; w codes [O][C/g][KH][KW] */
static void naive(const uint8_t *x, const uint8_t *w, const int32_t *tt, int64_t *y, int64_t N, int64_t C,
                  int64_t Hp, int64_t Wp, int64_t O, int64_t KH, int64_t KW, int64_t OH, int64_t OW, int64_t sh,
                  int64_t sw, int64_t dh, int64_t dw, int64_t g)
{
    const int64_t cg = C / g, og = O / g;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < O; ++o)
            for (int64_t i = 0; i < OH; ++i)
                for (int64_t j = 0; j < OW; ++j) {
                    int64_t acc = 0;
                    for (int64_t c = 0; c < cg; ++c)
                        for (int64_t a = 0; a < KH; ++a)
                            for (int64_t b = 0; b < KW; ++b) {
                                const uint8_t xv = x[((n * C + (o / og) * cg + c) * Hp + i * sh + a * dh) * Wp + j * sw + b * dw];
                                const uint8_t wv = w[((o * cg + c) * KH + a) * KW + b];
                                acc += tt[wv * 256 + xv];
                            }
                    y[((n * O + o) * OH + i) * OW + j] = acc;
                }
}

static int run_case(int64_t N, int64_t C, int64_t Hp, int64_t Wp, int64_t O, int64_t KH, int64_t KW, int64_t sh,
                    int64_t sw, int64_t dh, int64_t dw, int64_t g, int64_t span, int64_t nchunk)
{
    const int64_t OH = (Hp - dh * (KH - 1) - 1) / sh + 1, OW = (Wp - dw * (KW - 1) - 1) / sw + 1;
    const int64_t nx = N * C * Hp * Wp, nw = O * (C / g) * KH * KW, ny = N * O * OH * OW;
    uint8_t *x = malloc(nx), *w = malloc(nw);
    int32_t *tt = malloc(sizeof(int32_t) * 65536), *tb = malloc(sizeof(int32_t) * 65536);
    int32_t *y = malloc(sizeof(int32_t) * ny), *yp = malloc(sizeof(int32_t) * ny);
    int64_t *want = malloc(sizeof(int64_t) * ny);
    int32_t lo = INT32_MAX, hi = INT32_MIN;
    for (int64_t i = 0; i < nx; ++i) x[i] = (uint8_t)(i % 7 == 0 ? (i % 2 ? 0 : 255) : uniform(0, 255));
    for (int64_t i = 0; i < nw; ++i) w[i] = (uint8_t)uniform(0, 255);
    for (int64_t i = 0; i < 65536; ++i) {
        tt[i] = (int32_t)uniform(-span, span);
        lo = tt[i] < lo ? tt[i] : lo;
        hi = tt[i] > hi ? tt[i] : hi;
    }
    for (int64_t i = 0; i < 65536; ++i) tb[i] = tt[i] - lo;
    naive(x, w, tt, want, N, C, Hp, Wp, O, KH, KW, OH, OW, sh, sw, dh, dw, g);
    const int64_t flush = ((1 << 21) - 1) / (hi - lo > 0 ? hi - lo : 1);
    const int64_t items_d = N * g * ((O / g + 3) / 4);
    const int64_t items_p = ((N + nchunk - 1) / nchunk) * g * ((O / g + 5) / 6);
    int bad = gather_conv(x, w, tt, y, C, Hp, Wp, O, KH, KW, OH, OW, sh, sw, dh, dw, g, 0, items_d);
    /* the packed kernel in two slices, as two threads would run it */
    bad |= gather_conv_packed(x, w, tb, yp, N, C, Hp, Wp, O, KH, KW, OH, OW, sh, sw, dh, dw, g, -lo, flush, nchunk, 0,
                              items_p / 2);
    bad |= gather_conv_packed(x, w, tb, yp, N, C, Hp, Wp, O, KH, KW, OH, OW, sh, sw, dh, dw, g, -lo, flush, nchunk,
                              items_p / 2, items_p);
    for (int64_t i = 0; i < ny && !bad; ++i)
        if (y[i] != want[i] || yp[i] != want[i]) {
            printf("mismatch at %lld: direct %d packed %d want %lld\n", (long long)i, y[i], yp[i], (long long)want[i]);
            bad = 1;
        }
    free(x); free(w); free(tt); free(tb); free(y); free(yp); free(want);
    return bad;
}

static int stack_case(void)
{
    const int64_t N = 2, C = 5, H = 3, W = 4, n = 17;
    float x[2 * 5 * 3 * 4];
    int8_t lut[256 * 17];
    uint8_t out[2 * 3 * 4 * 5 * 17];
    for (int64_t i = 0; i < N * C * H * W; ++i) x[i] = (float)uniform(-128, 127);
    for (int64_t i = 0; i < 256 * n; ++i) lut[i] = (int8_t)uniform(-128, 127);
    if (stack_lookup(x, C * H * W, H * W, W, 1, C, H, W, lut, n, out, 0, N)) return 1;
    for (int64_t b = 0; b < N; ++b)
        for (int64_t c = 0; c < C; ++c)
            for (int64_t h = 0; h < H; ++h)
                for (int64_t v = 0; v < W; ++v)
                    for (int64_t i = 0; i < n; ++i) {
                        const int code = (int)x[((b * C + c) * H + h) * W + v] + 128;
                        if (out[((b * H + h) * W + v) * C * n + c * n + i] != (uint8_t)(lut[code * n + i] + 128)) return 1;
                    }
    return 0;
}

int main(void)
{
    int bad = 0;
    bad |= run_case(2, 4, 9, 8, 6, 3, 3, 1, 1, 1, 1, 2, 18000, 1);     /* 3x3, stride 1: the sliding-window path */
    bad |= run_case(3, 6, 9, 11, 13, 3, 3, 2, 2, 1, 1, 1, 3000, 2);    /* stride 2, a partial 6-channel block */
    bad |= run_case(2, 40, 6, 6, 7, 3, 3, 1, 1, 1, 1, 1, 65535, 2);    /* 360 taps: lanes flushed every 15 taps */
    bad |= run_case(1, 6, 7, 9, 6, 2, 3, 1, 2, 2, 1, 6, 20000, 1);     /* depthwise, dilation, asymmetric kernel */
    bad |= run_case(5, 8, 5, 5, 9, 1, 1, 1, 1, 1, 1, 1, 16384, 3);     /* 1x1, chunks of 3 images */
    bad |= run_case(2, 3, 8, 9, 4, 1, 5, 2, 1, 1, 2, 1, 100, 2);       /* 1x5 with dilation: the generic path */
    bad |= stack_case();
    puts(bad ? "FAILED" : "ok");
    return bad;
}
