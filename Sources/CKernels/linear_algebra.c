#include "kernels_heavy.h"
#include "kernels_basic.h"
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

void lseg_bias_activation(float *y, int64_t rows, int64_t cols, int64_t ld,
                          const float *col_bias, const float *row_bias, int act, float alpha) {
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
