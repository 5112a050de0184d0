/* Compares every int8 GEMM path this CPU can run (scalar, AVX2, NEON, NEON dotprod) with the plain
   reference over random shapes, split ranges, the extreme values, im2col packing and the float
   epilogue. Built by scripts/test-aarch64 (cross-compiled, run under qemu) and runs natively too:
     cc -O2 -I Sources/CKernels/include Tests/CKernelsAArch64/int8_gemm_check.c \
        Sources/CKernels/int8_gemm.c Sources/CKernels/linear_algebra.c Sources/CKernels/cpu.c -lm */
#include "kernels_int8.h"
#include "kernels_heavy.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 0x2545F4914F6CDD1DULL;
static uint32_t next(void) {
    state ^= state << 13; state ^= state >> 7; state ^= state << 17;
    return (uint32_t)(state >> 11);
}
static int64_t pick(int64_t lo, int64_t hi) { return lo + (int64_t)(next() % (uint64_t)(hi - lo + 1)); }

static int passed = 0, failed = 0;
static void check(int ok, const char *what, int path, int64_t m, int64_t n, int64_t k) {
    if (ok) { passed++; return; }
    failed++;
    if (failed <= 20) printf("FAIL %s path=%s m=%lld n=%lld k=%lld\n", what, lseg_i8_path_name(path),
                             (long long)m, (long long)n, (long long)k);
}

/* a: [m, k] activations (shifted, any int8), b: [n, k] weights in [-127, 127]. fill: 0 random,
   1 products at the positive extreme, 2 at the negative extreme. */
static void gemm_case(int path, int64_t m, int64_t n, int64_t k, int fill) {
    int8_t *a = malloc((size_t)(m * k) + 1), *b = malloc((size_t)(n * k) + 1);
    for (int64_t i = 0; i < m * k; i++) a[i] = fill ? -128 : (int8_t)pick(-128, 127);
    for (int64_t i = 0; i < n * k; i++) b[i] = fill == 1 ? -127 : fill == 2 ? 127 : (int8_t)pick(-127, 127);
    void *rows = calloc(1, (size_t)lseg_i8_rows_bytes(path, m, k));
    void *cols = calloc(1, (size_t)lseg_i8_cols_bytes(path, n, k));
    const int64_t mr = lseg_i8_mr(path), mpad = (m + mr - 1) / mr * mr, panels = (n + lseg_i8_nr(path) - 1) / lseg_i8_nr(path);
    /* Pack in two pieces, as threads would. */
    int64_t rs = pick(0, mpad), ps = pick(0, panels);
    lseg_i8_pack_rows(path, a, k, m, k, 0, rs, rows);
    lseg_i8_pack_rows(path, a, k, m, k, rs, mpad, rows);
    lseg_i8_pack_cols(path, b, k, 1, n, k, 0, ps, cols);
    lseg_i8_pack_cols(path, b, k, 1, n, k, ps, panels, cols);
    int32_t *want = malloc(sizeof(int32_t) * (size_t)(m * n)), *got = malloc(sizeof(int32_t) * (size_t)(m * n));
    lseg_i8_gemm_reference(a, k, b, k, m, n, k, want, n);
    memset(got, 0x55, sizeof(int32_t) * (size_t)(m * n));
    /* Four blocks with arbitrary (not MR-aligned) row splits. */
    int64_t isplit = pick(0, m), psplit = pick(0, panels);
    lseg_i8_gemm(path, rows, cols, m, n, k, 0, isplit, 0, psplit, NULL, got, n);
    lseg_i8_gemm(path, rows, cols, m, n, k, isplit, m, 0, psplit, NULL, got, n);
    lseg_i8_gemm(path, rows, cols, m, n, k, 0, isplit, psplit, panels, NULL, got, n);
    lseg_i8_gemm(path, rows, cols, m, n, k, isplit, m, psplit, panels, NULL, got, n);
    check(memcmp(want, got, sizeof(int32_t) * (size_t)(m * n)) == 0, fill ? "gemm extreme" : "gemm", path, m, n, k);

    /* Float epilogue: channels along columns (QLinear) with bias and GELU. */
    int32_t *sums = malloc(sizeof(int32_t) * (size_t)n);
    float *scale = malloc(sizeof(float) * (size_t)n), *bias = malloc(sizeof(float) * (size_t)n);
    float *y = malloc(sizeof(float) * (size_t)(m * n));
    lseg_i8_row_sums(b, k, n, k, sums);
    const int32_t zp = (int32_t)pick(0, 255);
    for (int64_t j = 0; j < n; j++) { scale[j] = 1e-4f * (float)pick(1, 100); bias[j] = (float)pick(-50, 50) * 0.1f; }
    lseg_i8_epilogue ep = { y, n, 1, 128 - zp, sums, scale, bias, LSEG_ACT_GELU, 0 };
    lseg_i8_gemm(path, rows, cols, m, n, k, 0, m, 0, panels, &ep, NULL, 0);
    int ok = 1;
    for (int64_t i = 0; i < m && ok; i++) {
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t t = 0; t < k; t++) s += (double)(a[i * k + t] + 128 - zp) * b[j * k + t];
            double v = s * scale[j] + bias[j];
            v = 0.5 * v * (1 + erf(v / sqrt(2.0)));
            if (fabs(v - y[i * n + j]) > 1e-4 * fabs(v) + 1e-4) { ok = 0; break; }
        }
    }
    check(ok, "epilogue", path, m, n, k);
    free(a); free(b); free(rows); free(cols); free(want); free(got); free(sums); free(scale); free(bias); free(y);
}

/* im2col packing straight from the image equals pack_cols of an explicit im2col matrix. */
static void im2col_case(int path) {
    lseg_i8_window w;
    w.channels = pick(1, 5); w.height = pick(1, 9); w.width = pick(1, 9);
    w.kernel_h = pick(1, 3); w.kernel_w = pick(1, 3); w.stride_h = pick(1, 2); w.stride_w = pick(1, 2);
    w.pad_h = pick(0, 2); w.pad_w = pick(0, 2); w.dilation_h = pick(1, 2); w.dilation_w = pick(1, 2);
    int64_t span_h = (w.kernel_h - 1) * w.dilation_h + 1, span_w = (w.kernel_w - 1) * w.dilation_w + 1;
    if (w.height + 2 * w.pad_h < span_h || w.width + 2 * w.pad_w < span_w) return;
    w.out_height = (w.height + 2 * w.pad_h - span_h) / w.stride_h + 1;
    w.out_width = (w.width + 2 * w.pad_w - span_w) / w.stride_w + 1;
    const int64_t p = w.out_height * w.out_width, k = w.channels * w.kernel_h * w.kernel_w;
    int8_t *x = malloc((size_t)(w.channels * w.height * w.width));
    for (int64_t i = 0; i < w.channels * w.height * w.width; i++) x[i] = (int8_t)pick(-128, 127);
    const int8_t pad = (int8_t)pick(-128, 127);
    const int64_t p0 = pick(0, p - 1), p1 = pick(p0 + 1, p), n = p1 - p0;
    int8_t *col = malloc((size_t)(n * k));  /* [position][k] */
    for (int64_t j = 0; j < n; j++) {
        int64_t oh = (p0 + j) / w.out_width, ow = (p0 + j) % w.out_width, row = 0;
        for (int64_t c = 0; c < w.channels; c++)
            for (int64_t i = 0; i < w.kernel_h; i++)
                for (int64_t jj = 0; jj < w.kernel_w; jj++, row++) {
                    int64_t ih = oh * w.stride_h - w.pad_h + i * w.dilation_h, iw = ow * w.stride_w - w.pad_w + jj * w.dilation_w;
                    col[j * k + row] = (ih >= 0 && ih < w.height && iw >= 0 && iw < w.width) ? x[(c * w.height + ih) * w.width + iw] : pad;
                }
    }
    const int64_t bytes = lseg_i8_cols_bytes(path, n, k), panels = (n + lseg_i8_nr(path) - 1) / lseg_i8_nr(path);
    char *want = calloc(1, (size_t)bytes), *got = malloc((size_t)bytes);
    memset(got, 0x33, (size_t)bytes);
    lseg_i8_pack_cols(path, col, k, 1, n, k, 0, panels, want);
    lseg_i8_im2col_pack(path, x, &w, pad, p0, p1, 0, panels, got);
    check(memcmp(want, got, (size_t)bytes) == 0, "im2col pack", path, n, panels, k);
    free(x); free(col); free(want); free(got);
}

/* quantize_rows writes the same values as the plain quantizer, widened for 2-byte paths. */
static void quantize_case(int path) {
    const int64_t m = pick(1, 7), k = pick(1, 23);
    float *x = malloc(sizeof(float) * (size_t)(m * k));
    for (int64_t i = 0; i < m * k; i++) x[i] = (float)pick(-3000, 3000) * 0.01f;
    x[0] = 0.5f;  /* ties go to even */
    const float scale = 0.5f * (float)pick(1, 8);
    const int32_t zp = (int32_t)pick(0, 255);
    int8_t *q = malloc((size_t)(m * k));
    lseg_i8_quantize(x, m * k, scale, zp, q);
    void *rows = calloc(1, (size_t)lseg_i8_rows_bytes(path, m, k));
    lseg_i8_quantize_rows(path, x, k, m, k, scale, zp, 0, m, rows);
    const int64_t kp = lseg_i8_kp(k);
    int ok = 1;
    for (int64_t i = 0; i < m * k && ok; i++) {
        float r = nearbyintf(x[i] / scale) + (float)zp;
        int32_t want = (r < 0 ? 0 : r > 255 ? 255 : (int32_t)r) - 128;
        int32_t packed = lseg_i8_esize(path) == 2 ? ((int16_t *)rows)[(i / k) * kp + i % k] : ((int8_t *)rows)[(i / k) * kp + i % k];
        if (q[i] != want || packed != want) ok = 0;
    }
    check(ok, "quantize", path, m, 0, k);
    free(x); free(q); free(rows);
}

int main(void) {
    static const int64_t sizes[] = {1, 2, 3, 5, 7, 8, 9, 13, 16, 17, 31, 33, 64, 65};
    const int nsizes = (int)(sizeof sizes / sizeof sizes[0]);
    int ran[5] = {0};
    for (int path = LSEG_I8_SCALAR; path <= LSEG_I8_AVX512_VNNI; path++) {
        if (!lseg_i8_path_available(path)) { printf("path %s: not available on this CPU, skipped\n", lseg_i8_path_name(path)); continue; }
        ran[path] = 1;
        for (int t = 0; t < 60; t++) gemm_case(path, sizes[pick(0, nsizes - 1)], sizes[pick(0, nsizes - 1)], pick(1, 70), 0);
        static const int64_t ks[] = {1, 3, 4, 5, 8, 15, 16, 17, 100, 257};
        for (int t = 0; t < 10; t++) gemm_case(path, pick(1, 9), pick(1, 17), ks[t], 0);
        gemm_case(path, 1, 1, 1, 0);
        gemm_case(path, 1, 300, 9, 0);
        gemm_case(path, 70, 1, 33, 0);
        gemm_case(path, 7, 9, 4099, 1);
        gemm_case(path, 7, 9, 4099, 2);
        for (int t = 0; t < 30; t++) im2col_case(path);
        for (int t = 0; t < 5; t++) quantize_case(path);
    }
    printf("paths run:%s%s%s%s%s (best: %s)\n", ran[0] ? " scalar" : "", ran[1] ? " avx2" : "", ran[2] ? " neon" : "",
           ran[3] ? " neon-dotprod" : "", ran[4] ? " avx512-vnni" : "", lseg_i8_path_name(lseg_i8_best_path()));
#if defined(__aarch64__)
    printf("aarch64 int8: %d passed, %d failed\n", passed, failed);
#else
    printf("int8: %d passed, %d failed\n", passed, failed);
#endif
    return failed ? 1 : 0;
}
