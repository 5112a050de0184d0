/* Softmax and LayerNorm rows, vectorized by the compiler (portable and AVX2+FMA builds). */
#include "CKernels.h"
#include "basic_math.h"

LSEG_INLINE void softmax_body(const float *x, float *y, size_t rows, size_t n) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        float m = lseg_row_max(xr, n);
        if (m == -__builtin_inff() || m != m) {
            /* All -inf (a fully masked row) or NaN: ONNX Runtime yields NaN. */
            for (size_t i = 0; i < n; i++) yr[i] = __builtin_nanf("");
            continue;
        }
        for (size_t i = 0; i < n; i++) yr[i] = lseg_exp_approx(xr[i] - m);
        float sum = lseg_row_sum(yr, n);
        float inv = 1.0f / sum;
        for (size_t i = 0; i < n; i++) yr[i] *= inv;
    }
}

/* Two passes (mean, then squared deviations) so large offsets do not cancel. */
LSEG_INLINE void layernorm_body(const float *x, const float *scale, const float *bias, float *y,
                                size_t rows, size_t n, float eps) {
    for (size_t r = 0; r < rows; r++) {
        const float *xr = x + r * n;
        float *yr = y + r * n;
        float mean = lseg_row_sum(xr, n) / (float)n;
        float sq = lseg_row_sq_dev(xr, n, mean);
        float inv = 1.0f / __builtin_sqrtf(sq / (float)n + eps);
        if (bias) {
            for (size_t i = 0; i < n; i++) yr[i] = (xr[i] - mean) * inv * scale[i] + bias[i];
        } else {
            for (size_t i = 0; i < n; i++) yr[i] = (xr[i] - mean) * inv * scale[i];
        }
    }
}

static void softmax_portable(const float *x, float *y, size_t rows, size_t n) { softmax_body(x, y, rows, n); }
static void layernorm_portable(const float *x, const float *s, const float *b, float *y, size_t rows, size_t n, float eps) {
    layernorm_body(x, s, b, y, rows, n, eps);
}
#if LSEG_X86
LSEG_AVX2 static void softmax_avx2(const float *x, float *y, size_t rows, size_t n) { softmax_body(x, y, rows, n); }
LSEG_AVX2 static void layernorm_avx2(const float *x, const float *s, const float *b, float *y, size_t rows, size_t n, float eps) {
    layernorm_body(x, s, b, y, rows, n, eps);
}
#endif

void lseg_softmax_rows_f32(const float *x, float *y, size_t rows, size_t n) {
#if LSEG_X86
    if (lseg_basic_use_avx2()) { softmax_avx2(x, y, rows, n); return; }
#endif
    softmax_portable(x, y, rows, n);
}

void lseg_layernorm_rows_f32(const float *x, const float *scale, const float *bias, float *y,
                             size_t rows, size_t n, float eps) {
#if LSEG_X86
    if (lseg_basic_use_avx2()) { layernorm_avx2(x, scale, bias, y, rows, n, eps); return; }
#endif
    layernorm_portable(x, scale, bias, y, rows, n, eps);
}
