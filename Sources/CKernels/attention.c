/* Small batched matmul for attention (scores = Q K^T, weighted sum = P V), one per batch entry.
   Every output sums its k terms in order with one fused multiply-add each, whatever m, n and k:
   attention weights that are exactly zero at the end of k (causally masked keys) leave the
   output's bits unchanged, so a text tower run on fewer positions gives bit-identical results. */
#include "CKernels.h"
#include "basic_math.h"

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

static void small_matmul_portable(const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                                  size_t m, size_t k, size_t n) {
    small_matmul_body(a, lda, b, ldb, c, ldc, m, k, n);
}
#if LSEG_X86
LSEG_AVX2 static void small_matmul_avx2(const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                                        size_t m, size_t k, size_t n) {
    small_matmul_body(a, lda, b, ldb, c, ldc, m, k, n);
}
#endif

void lseg_small_matmul_f32(const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                           size_t m, size_t k, size_t n) {
#if LSEG_X86
    if (lseg_basic_use_avx2()) { small_matmul_avx2(a, lda, b, ldb, c, ldc, m, k, n); return; }
#endif
    small_matmul_portable(a, lda, b, ldb, c, ldc, m, k, n);
}
