#include "kernels_heavy.h"
#include "kernels_basic.h"
#include "basic_math.h"
#include <math.h>

static inline float apply_activation(float v, int act, float alpha) {
    switch (act) {
    case LSEG_ACT_RELU: return v > 0.0f ? v : 0.0f;
    case LSEG_ACT_GELU: return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f));
    case LSEG_ACT_QUICKGELU: return v / (1.0f + expf(-1.702f * v));
    case LSEG_ACT_LEAKYRELU: return v >= 0.0f ? v : alpha * v;
    default: return v;
    }
}

#if defined(__x86_64__) || defined(__i386__)
int lseg_cpu_has_avx512_vnni(void);
/* GELU after every ViT fc1 is the costliest epilogue: the same expression as lseg_unary_f32's
   (lseg_erf_approx, fused multiply-adds where that one has them), 16 lanes at a time. Each
   element's operations do not depend on the vector width or unrolling, so the bits match the AVX2
   loop. The expression is one ~70-instruction dependency chain: four vectors are interleaved so
   their chains overlap (one vector at a time ran at the chain's latency, ~2 ns per element). */
__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))
static void gelu_avx512(float *y, int64_t n) {
#if defined(__clang__)
#pragma clang loop vectorize_width(16) interleave_count(4)
#endif
    for (int64_t i = 0; i < n; i++) {
        const float v = y[i];
        y[i] = 0.5f * v * (1.0f + lseg_erf_approx(v * 0.70710678118654752f));
    }
}

/* GELU over a rows x cols block with row stride ld. Short rows (an int8 tile's 32 or 48 columns)
   are copied into one contiguous run first, so the interleaved loop runs over long spans instead
   of leaving every row to its scalar tail. */
#define GELU_GATHER_FLOATS 2048
__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))
static void gelu_block_avx512(float *y, int64_t rows, int64_t cols, int64_t ld) {
    if (cols >= GELU_GATHER_FLOATS / 8 || rows == 1 || ld == cols) {
        if (ld == cols) gelu_avx512(y, rows * cols);
        else for (int64_t r = 0; r < rows; r++) gelu_avx512(y + r * ld, cols);
        return;
    }
    float run[GELU_GATHER_FLOATS];
    const int64_t per = GELU_GATHER_FLOATS / cols;
    for (int64_t r0 = 0; r0 < rows; r0 += per) {
        const int64_t n = rows - r0 < per ? rows - r0 : per;
        for (int64_t r = 0; r < n; r++)
            for (int64_t c = 0; c < cols; c++) run[r * cols + c] = y[(r0 + r) * ld + c];
        gelu_avx512(run, n * cols);
        for (int64_t r = 0; r < n; r++)
            for (int64_t c = 0; c < cols; c++) y[(r0 + r) * ld + c] = run[r * cols + c];
    }
}
static int use_avx512(void) {
    static int cached = -1;
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v < 0) {
        v = lseg_cpu_has_avx512_vnni();
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v;
}
#endif

void lseg_bias_activation(float *y, int64_t rows, int64_t cols, int64_t ld,
                          const float *col_bias, const float *row_bias, int act, float alpha) {
#if defined(__x86_64__) || defined(__i386__)
    if (act == LSEG_ACT_GELU && use_avx512()) {
        if (col_bias || row_bias) lseg_bias_activation(y, rows, cols, ld, col_bias, row_bias, LSEG_ACT_NONE, 0.0f);
        gelu_block_avx512(y, rows, cols, ld);
        return;
    }
#endif
    for (int64_t r = 0; r < rows; r++) {
        float *row = y + r * ld;
        float rb = row_bias ? row_bias[r] : 0.0f;
        if (col_bias) {
            for (int64_t c = 0; c < cols; c++) row[c] += col_bias[c] + rb;
        } else if (rb != 0.0f) {
            for (int64_t c = 0; c < cols; c++) row[c] += rb;
        }
        /* Separate loops per activation so the simple ones vectorize. */
        switch (act) {
        case LSEG_ACT_NONE: break;
        case LSEG_ACT_RELU:
            for (int64_t c = 0; c < cols; c++) row[c] = row[c] > 0.0f ? row[c] : 0.0f;
            break;
        case LSEG_ACT_LEAKYRELU:
            for (int64_t c = 0; c < cols; c++) row[c] = row[c] >= 0.0f ? row[c] : alpha * row[c];
            break;
        case LSEG_ACT_GELU:
            lseg_unary_f32(LSEG_UN_GELU_ERF, row, row, (size_t)cols);   /* vectorized, ~1e-6 of libm */
            break;
        case LSEG_ACT_QUICKGELU:
            lseg_unary_f32(LSEG_UN_QUICK_GELU, row, row, (size_t)cols);
            break;
        default:
            for (int64_t c = 0; c < cols; c++) row[c] = apply_activation(row[c], act, alpha);
        }
    }
}
