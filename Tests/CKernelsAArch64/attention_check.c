/* The small attention matmul (register tiles and edge loop) against one in-order fused
   multiply-add per k, bit for bit, and the non-overlapping conv-transpose scatter against its
   index formula, on every code variant this CPU runs. Built by scripts/test-aarch64 (qemu) and
   runs natively too:
     cc -O2 -I Sources/CKernels/include -I Sources/CKernels Tests/CKernelsAArch64/attention_check.c \
        Sources/CKernels/attention.c Sources/CKernels/conv_transpose.c Sources/CKernels/elementwise.c \
        Sources/CKernels/cpu.c -lm */
#include "CKernels.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t state = 0x9E3779B97F4A7C15ULL;
static uint32_t next(void) {
    state ^= state << 13; state ^= state >> 7; state ^= state << 17;
    return (uint32_t)(state >> 11);
}
static float uniform(void) { return (float)(next() % 2000001) / 1000000.0f - 1.0f; }

static int passed = 0, failed = 0;

static void matmul_case(size_t m, size_t k, size_t n) {
    float *a = malloc(4 * m * k + 4), *b = malloc(4 * k * n + 4), *c = malloc(4 * m * n + 4), *e = malloc(4 * m * n + 4);
    for (size_t i = 0; i < m * k; i++) a[i] = uniform();
    for (size_t i = 0; i < k * n; i++) b[i] = uniform();
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            float s = 0.0f;
            for (size_t p = 0; p < k; p++) s = fmaf(a[i * k + p], b[p * n + j], s);
            e[i * n + j] = s;
        }
    for (int variant = 0; variant <= 2; variant++) {
        memset(c, 0xFF, 4 * m * n);
        lseg_small_matmul_f32_variant(variant, a, k, b, n, c, n, m, k, n);
        if (memcmp(c, e, 4 * m * n) == 0) passed++;
        else if (++failed <= 20) printf("FAIL small matmul variant %d %zux%zux%zu\n", variant, m, k, n);
    }
    free(a); free(b); free(c); free(e);
}

/* col [C * KH * KW][len] for grid positions [p0, p1) of an in_h x in_w grid. */
static void scatter_case(int64_t channels, int64_t in_h, int64_t in_w, int64_t kh, int64_t kw, int64_t p0, int64_t p1) {
    const int64_t taps = kh * kw, len = p1 - p0, out_w = in_w * kw, plane = in_h * kh * out_w;
    float *col = malloc(4 * (size_t)(channels * taps * len) + 4), *bias = malloc(4 * (size_t)channels);
    float *y = malloc(4 * (size_t)(channels * plane)), *e = malloc(4 * (size_t)(channels * plane));
    for (int64_t i = 0; i < channels * taps * len; i++) col[i] = uniform();
    for (int64_t c = 0; c < channels; c++) bias[c] = uniform();
    for (int64_t i = 0; i < channels * plane; i++) y[i] = e[i] = -7.0f; /* untouched outside [p0, p1) */
    for (int64_t c = 0; c < channels; c++)
        for (int64_t p = p0; p < p1; p++)
            for (int64_t a = 0; a < kh; a++)
                for (int64_t t = 0; t < kw; t++)
                    e[c * plane + ((p / in_w) * kh + a) * out_w + (p % in_w) * kw + t] = col[(c * taps + a * kw + t) * len + p - p0] + bias[c];
    /* Two channel ranges, as threads would split them. */
    const int64_t split = channels / 2;
    lseg_conv_transpose_scatter_2d(col, in_h, in_w, kh, kw, bias, 0, split, p0, p1, y);
    lseg_conv_transpose_scatter_2d(col, in_h, in_w, kh, kw, bias, split, channels, p0, p1, y);
    if (memcmp(y, e, 4 * (size_t)(channels * plane)) == 0) passed++;
    else if (++failed <= 20) printf("FAIL scatter c%lld %lldx%lld k%lldx%lld [%lld, %lld)\n", (long long)channels,
                                    (long long)in_h, (long long)in_w, (long long)kh, (long long)kw, (long long)p0, (long long)p1);
    free(col); free(bias); free(y); free(e);
}

int main(void) {
    const size_t shapes[][3] = {{145, 64, 145}, {145, 145, 64}, {77, 64, 77}, {1, 1, 1}, {8, 5, 32}, {9, 3, 33},
                                {6, 16, 16}, {4, 8, 8}, {17, 70, 31}, {5, 1, 40}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) matmul_case(shapes[i][0], shapes[i][1], shapes[i][2]);
    for (int i = 0; i < 30; i++) {
        const size_t m = 1 + next() % 40, k = 1 + next() % 90, n = 1 + next() % 70;
        matmul_case(m, k, n);
    }
    scatter_case(5, 3, 4, 4, 4, 0, 12);
    scatter_case(3, 5, 3, 2, 3, 0, 15);
    scatter_case(4, 4, 5, 2, 2, 3, 11);   /* starts and ends mid-row */
    scatter_case(2, 1, 7, 1, 1, 2, 3);
    printf("attention checks: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
