/* Small batched matmul for attention (scores = Q K^T, weighted sum = P V), one per batch entry.
   Every output sums its k terms in order with one fused multiply-add each, whatever m, n and k:
   attention weights that are exactly zero at the end of k (causally masked keys) leave the
   output's bits unchanged, so a text tower run on fewer positions gives bit-identical results. */
#include "CKernels.h"
#include "basic_math.h"
#if LSEG_X86
#include <immintrin.h>
#endif

/* Four rows at a time share each row of B; the column loop vectorizes, and its scalar tail uses
   the same fused multiply-add, so column position does not change rounding. */
LSEG_INLINE void small_matmul_body(const float *restrict a, size_t lda, const float *restrict b, size_t ldb,
                                   float *restrict c, size_t ldc, size_t m, size_t k, size_t n) {
    size_t i = 0;
    for (; i + 4 <= m; i += 4) {
        float *c0 = c + i * ldc, *c1 = c0 + ldc, *c2 = c1 + ldc, *c3 = c2 + ldc;
        const float *a0 = a + i * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
        for (size_t j = 0; j < n; j++) { c0[j] = 0.0f; c1[j] = 0.0f; c2[j] = 0.0f; c3[j] = 0.0f; }
        for (size_t p = 0; p < k; p++) {
            const float *br = b + p * ldb;
            float s0 = a0[p], s1 = a1[p], s2 = a2[p], s3 = a3[p];
            for (size_t j = 0; j < n; j++) {
                float bj = br[j];
                c0[j] = __builtin_fmaf(s0, bj, c0[j]);
                c1[j] = __builtin_fmaf(s1, bj, c1[j]);
                c2[j] = __builtin_fmaf(s2, bj, c2[j]);
                c3[j] = __builtin_fmaf(s3, bj, c3[j]);
            }
        }
    }
    for (; i < m; i++) {
        float *cr = c + i * ldc;
        const float *ar = a + i * lda;
        for (size_t j = 0; j < n; j++) cr[j] = 0.0f;
        for (size_t p = 0; p < k; p++) {
            const float *br = b + p * ldb;
            float s = ar[p];
            for (size_t j = 0; j < n; j++) cr[j] = __builtin_fmaf(s, br[j], cr[j]);
        }
    }
}

/* An R x C block of C accumulated in registers over the whole depth: per output the same
   zero start and the same fused multiply-adds in the same order as small_matmul_body, so the
   blocked and the plain loops give identical bits and may be mixed at the edges. */
#define SMALL_MATMUL_TILE(NAME, R, C)                                                                   \
    LSEG_INLINE void NAME(const float *restrict a, size_t lda, const float *restrict b, size_t ldb,      \
                          float *restrict c, size_t ldc, size_t k) {                                     \
        float acc[R][C];                                                                                \
        for (int r = 0; r < R; r++) for (int t = 0; t < C; t++) acc[r][t] = 0.0f;                        \
        for (size_t p = 0; p < k; p++) {                                                                \
            const float *br = b + p * ldb;                                                              \
            for (int r = 0; r < R; r++) {                                                               \
                const float s = a[r * lda + p];                                                         \
                for (int t = 0; t < C; t++) acc[r][t] = __builtin_fmaf(s, br[t], acc[r][t]);             \
            }                                                                                           \
        }                                                                                               \
        for (int r = 0; r < R; r++) for (int t = 0; t < C; t++) c[r * ldc + t] = acc[r][t];              \
    }

/* Full R x C blocks through the tile, the right and bottom edges through the plain body. */
#define SMALL_MATMUL_BLOCKED(TILE, R, C)                                                                \
    size_t i = 0;                                                                                       \
    for (; i + R <= m; i += R) {                                                                        \
        size_t j = 0;                                                                                   \
        for (; j + C <= n; j += C) TILE(a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, k);         \
        if (j < n) small_matmul_body(a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, R, k, n - j);  \
    }                                                                                                   \
    if (i < m) small_matmul_body(a + i * lda, lda, b, ldb, c + i * ldc, ldc, m - i, k, n);

SMALL_MATMUL_TILE(small_tile_4x8, 4, 8)
static void small_matmul_portable(const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                                  size_t m, size_t k, size_t n) {
    SMALL_MATMUL_BLOCKED(small_tile_4x8, 4, 8)
}
#if LSEG_X86
/* 6 x 16: twelve ymm accumulators. */
SMALL_MATMUL_TILE(small_tile_6x16, 6, 16)
LSEG_AVX2 static void small_matmul_avx2(const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                                        size_t m, size_t k, size_t n) {
    SMALL_MATMUL_BLOCKED(small_tile_6x16, 6, 16)
}
/* AVX-512: 8 rows x 32 columns in sixteen zmm accumulators, columns past n masked (masked-off
   lanes are neither read nor stored), rows past m read the last row again and are not stored. */
#define LSEG_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))
LSEG_AVX512 static void small_tile_avx512(const float *a, size_t lda, const float *b, size_t ldb, float *c,
                                          size_t ldc, size_t k, size_t rows, size_t cols) {
    const __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
    const __mmask16 m1 = cols <= 16 ? 0 : cols >= 32 ? 0xFFFF : (__mmask16)((1u << (cols - 16)) - 1);
    const float *ar[8];
    for (size_t r = 0; r < 8; r++) ar[r] = a + (r < rows ? r : rows - 1) * lda;
    __m512 acc[8][2];
    for (int r = 0; r < 8; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
    for (size_t p = 0; p < k; p++) {
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, b + p * ldb), b1 = _mm512_maskz_loadu_ps(m1, b + p * ldb + 16);
        for (int r = 0; r < 8; r++) {
            const __m512 s = _mm512_set1_ps(ar[r][p]);
            acc[r][0] = _mm512_fmadd_ps(s, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(s, b1, acc[r][1]);
        }
    }
    for (size_t r = 0; r < rows; r++) {
        _mm512_mask_storeu_ps(c + r * ldc, m0, acc[r][0]);
        _mm512_mask_storeu_ps(c + r * ldc + 16, m1, acc[r][1]);
    }
}

LSEG_AVX512 static void small_matmul_avx512(const float *a, size_t lda, const float *b, size_t ldb, float *c,
                                            size_t ldc, size_t m, size_t k, size_t n) {
    for (size_t i = 0; i < m; i += 8) {
        const size_t rows = m - i < 8 ? m - i : 8;
        for (size_t j = 0; j < n; j += 32)
            small_tile_avx512(a + i * lda, lda, b + j, ldb, c + i * ldc + j, ldc, k, rows, n - j < 32 ? n - j : 32);
    }
}
#endif

void lseg_small_matmul_f32_variant(int variant, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                                   size_t ldc, size_t m, size_t k, size_t n) {
#if LSEG_X86
    /* The VNNI probe also checks that the OS saves the AVX-512 state. */
    if (variant >= 2 && lseg_cpu_has_avx512_vnni()) { small_matmul_avx512(a, lda, b, ldb, c, ldc, m, k, n); return; }
    if (variant >= 1 && lseg_basic_use_avx2()) { small_matmul_avx2(a, lda, b, ldb, c, ldc, m, k, n); return; }
#endif
    (void)variant;
    small_matmul_portable(a, lda, b, ldb, c, ldc, m, k, n);
}

void lseg_small_matmul_f32(const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                           size_t m, size_t k, size_t n) {
    lseg_small_matmul_f32_variant(2, a, lda, b, ldb, c, ldc, m, k, n);
}
