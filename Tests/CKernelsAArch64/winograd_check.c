/* Compares every Winograd path this CPU can run (scalar, AVX2, AVX-512, NEON) with the scalar
   reference: the products bit for bit (all paths accumulate in the same order with fused
   multiply-adds), and whole convolutions (transforms + products + bias/ReLU epilogue) with a
   direct double-precision convolution. Built by scripts/test-aarch64 (cross-compiled, run under
   qemu) and runs natively too:
     cc -O2 -I Sources/CKernels/include Tests/CKernelsAArch64/winograd_check.c \
        Sources/CKernels/winograd.c Sources/CKernels/winograd_f6.c Sources/CKernels/winograd_products.c -lm */
#include "kernels_heavy.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 0x9E3779B97F4A7C15ULL;
static uint32_t next(void) {
    state ^= state << 13; state ^= state >> 7; state ^= state << 17;
    return (uint32_t)(state >> 11);
}
static int64_t pick(int64_t lo, int64_t hi) { return lo + (int64_t)(next() % (uint64_t)(hi - lo + 1)); }
static float uniform(void) { return (float)(next() % 2000001) / 1000000.0f - 1.0f; }

static int passed = 0, failed = 0;
static void check(int ok, const char *what, int path, int64_t a, int64_t b, int64_t c) {
    if (ok) { passed++; return; }
    failed++;
    if (failed <= 20) printf("FAIL %s path=%d (%lld %lld %lld)\n", what, path, (long long)a, (long long)b, (long long)c);
}

static void products_case(int path, int64_t K, int64_t C, int64_t cols, int64_t ld) {
    const int64_t P = (K + 7) / 8, points = 3, plane_v = C * ld + 16, plane_m = P * 8 * ld + 16;
    float *w = malloc(sizeof(float) * (size_t)(K * C * 9)), *up = malloc(sizeof(float) * (size_t)(36 * P * 8 * C));
    float *v = malloc(sizeof(float) * (size_t)(points * plane_v));
    float *want = malloc(sizeof(float) * (size_t)(points * plane_m)), *got = malloc(sizeof(float) * (size_t)(points * plane_m));
    for (int64_t i = 0; i < K * C * 9; i++) w[i] = uniform();
    for (int64_t i = 0; i < points * plane_v; i++) v[i] = uniform();
    /* Packed in two pieces at a panel boundary, as threads would. */
    const int64_t split = pick(0, P) * 8;
    lseg_winograd_filter_transform(w, K, C, 0, split, up);
    lseg_winograd_filter_transform(w, K, C, split, K, up);
    lseg_winograd_products(LSEG_WINOGRAD_SCALAR, up, K, C, v, ld, plane_v, want, plane_m, cols, points, 0, P);
    memset(got, 0x7f, sizeof(float) * (size_t)(points * plane_m));
    /* Two panel ranges, as threads splitting the output channels would. */
    const int64_t ps = pick(0, P);
    check(lseg_winograd_products(path, up, K, C, v, ld, plane_v, got, plane_m, cols, points, 0, ps) == 1 &&
          lseg_winograd_products(path, up, K, C, v, ld, plane_v, got, plane_m, cols, points, ps, P) == 1,
          "products ran", path, K, C, cols);
    int same = 1;
    for (int64_t xi = 0; xi < points; xi++)
        for (int64_t k = 0; k < P * 8; k++)
            same &= memcmp(want + xi * plane_m + k * ld, got + xi * plane_m + k * ld, sizeof(float) * (size_t)cols) == 0;
    check(same, "products bit-identical", path, K, C, cols);
    free(w); free(up); free(v); free(want); free(got);
}

/* One convolution through the path, F(4x4, 3x3) or F(6x6, 3x3) (f6), in blocks of `block` tiles,
   against a direct double sum. */
static void conv_case(int path, int f6, int64_t C, int64_t K, int64_t H, int64_t W, int64_t pad, int64_t block, int relu) {
    const int64_t tile = f6 ? 6 : 4, points = f6 ? 64 : 36;
    lseg_winograd_geometry g;
    g.C = C; g.H = H; g.W = W; g.K = K; g.pad_h = pad; g.pad_w = pad;
    g.OH = H + 2 * pad - 2; g.OW = W + 2 * pad - 2; g.tiles_h = (g.OH + tile - 1) / tile; g.tiles_w = (g.OW + tile - 1) / tile;
    const int64_t P = (K + 7) / 8, tiles = g.tiles_h * g.tiles_w, cols = (block + 15) / 16 * 16;
    const int64_t plane_v = C * cols + 16, plane_m = P * 8 * cols + 16, out = K * g.OH * g.OW;
    float *x = malloc(sizeof(float) * (size_t)(C * H * W)), *w = malloc(sizeof(float) * (size_t)(K * C * 9));
    float *bias = malloc(sizeof(float) * (size_t)K), *up = malloc(sizeof(float) * (size_t)(points * P * 8 * C));
    float *v = malloc(sizeof(float) * (size_t)(points * plane_v)), *m = malloc(sizeof(float) * (size_t)(points * plane_m));
    float *y = malloc(sizeof(float) * (size_t)out);
    for (int64_t i = 0; i < C * H * W; i++) x[i] = uniform();
    for (int64_t i = 0; i < K * C * 9; i++) w[i] = uniform();
    for (int64_t i = 0; i < K; i++) bias[i] = uniform();
    if (f6) lseg_winograd6_filter_transform(w, K, C, 0, K, up);
    else lseg_winograd_filter_transform(w, K, C, 0, K, up);
    int ok = 1;
    for (int64_t t0 = 0; t0 < tiles; t0 += block) {
        const int64_t t1 = t0 + block < tiles ? t0 + block : tiles;
        const int act = relu ? LSEG_ACT_RELU : LSEG_ACT_NONE;
        ok &= f6 ? lseg_winograd6_input_transform(path, x, &g, t0, t1, 0, v, cols, plane_v)
                 : lseg_winograd_input_transform(path, x, &g, t0, t1, 0, v, cols, plane_v);
        ok &= lseg_winograd_products(path, up, K, C, v, cols, plane_v, m, plane_m, cols, points, 0, P);
        ok &= f6 ? lseg_winograd6_output_transform(path, m, cols, plane_m, &g, t0, t1, 0, K, bias, NULL, act, 0.0f, y)
                 : lseg_winograd_output_transform(path, m, cols, plane_m, &g, t0, t1, 0, K, bias, NULL, act, 0.0f, y);
    }
    check(ok, f6 ? "F(6,3) conv ran" : "conv ran", path, C, K, H);
    /* Winograd's error scales with the products' magnitudes: compare with the output scale. */
    double worst = 0, scale = 0;
    for (int64_t k = 0; k < K; k++)
        for (int64_t oh = 0; oh < g.OH; oh++)
            for (int64_t ow = 0; ow < g.OW; ow++) {
                double s = bias[k];
                for (int64_t c = 0; c < C; c++)
                    for (int r = 0; r < 3; r++)
                        for (int q = 0; q < 3; q++) {
                            const int64_t iy = oh - pad + r, ix = ow - pad + q;
                            if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                s += (double)x[(c * H + iy) * W + ix] * w[((k * C + c) * 3 + r) * 3 + q];
                        }
                if (relu && s < 0) s = 0;
                const double e = fabs(s - y[(k * g.OH + oh) * g.OW + ow]);
                if (!(e <= worst)) worst = e; /* NaN counts as worst */
                if (fabs(s) > scale) scale = fabs(s);
            }
    check(worst <= 1e-5 * scale, f6 ? "F(6,3) conv close to direct" : "conv close to direct", path, C, K, H);
    free(x); free(w); free(bias); free(up); free(v); free(m); free(y);
}

int main(void) {
    const int paths[] = {LSEG_WINOGRAD_SCALAR, LSEG_WINOGRAD_AVX2, LSEG_WINOGRAD_AVX512, LSEG_WINOGRAD_NEON};
    for (int pi = 0; pi < 4; pi++) {
        const int path = paths[pi];
        if (!lseg_winograd_path_supported(path)) continue;
        printf("path %d\n", path);
        for (int i = 0; i < 40; i++) {
            const int64_t cols = 16 * pick(1, 6);
            products_case(path, pick(1, 40), pick(1, 300), cols, cols + 16 * pick(0, 2));
        }
        for (int f6 = 0; f6 < 2; f6++) {
            conv_case(path, f6, 3, 5, 7, 9, 1, 32, 0);
            conv_case(path, f6, 17, 9, 23, 70, 1, 32, 1);
            conv_case(path, f6, 8, 16, 13, 13, 0, 16, 0);
            conv_case(path, f6, 32, 24, 26, 26, 1, 48, 1);
            /* Tile rows of 17 (F(6,3)) and 25 (F(4,3)) tiles: two 16-tile vectors, the second partial. */
            conv_case(path, f6, 6, 10, 8, 100, 1, 64, 0);
        }
    }
    printf("winograd checks: %d passed, %d failed (best path %d)\n", passed, failed, lseg_winograd_best_path());
    return failed ? 1 : 0;
}
