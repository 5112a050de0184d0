/* Shared by the Winograd F(4x4, 3x3) (winograd.c) and F(6x6, 3x3) (winograd_f6.c) transforms. */
#ifndef LSEG_WINOGRAD_INTERNAL_H
#define LSEG_WINOGRAD_INTERNAL_H
#include "kernels_heavy.h"
#include <string.h>

/* The transforms' code variant for a path: 0 the portable template (scalar and NEON: clang
   vectorises its contiguous passes), 1 that template compiled for AVX2, 2 with AVX-512's
   permute-based horizontal passes; -1 when this CPU or build lacks the path. */
int lseg_winograd_transform_variant(int path);

/* Both tilings walk a tile range as segments of one tile row (at most SEG tiles) and vectorise
   along the row: the horizontal passes read the row at the tile stride from a zero-padded copy,
   the vertical passes are contiguous in the tile index. */
#define SEG 64

typedef struct { int64_t n, th, tw0, count; } segment;

/* The next segment of [t, t_end): tiles of one row of one image, at most SEG of them. */
static inline segment next_segment(const lseg_winograd_geometry *g, int64_t t, int64_t t_end) {
    const int64_t per_image = g->tiles_h * g->tiles_w;
    segment sg;
    sg.n = t / per_image;
    int64_t r = t % per_image;
    sg.th = r / g->tiles_w;
    sg.tw0 = r % g->tiles_w;
    int64_t count = g->tiles_w - sg.tw0;
    if (count > t_end - t) count = t_end - t;
    if (count > SEG) count = SEG;
    sg.count = count;
    return sg;
}

/* Padding columns [used, ld) of every channel row of the `points` transformed planes are zeroed,
   so the products over them stay finite. */
static inline void zero_padding_columns(float *v, int points, int64_t C, int64_t ld, int64_t used, int64_t xi_stride) {
    if (ld <= used) return;
    for (int xi = 0; xi < points; xi++)
        for (int64_t c = 0; c < C; c++) memset(v + xi * xi_stride + c * ld + used, 0, sizeof(float) * (size_t)(ld - used));
}

/* One output row of a segment (cols values in out, bias added) to dst: plus the residual row
   (may be NULL), then ReLU or leaky ReLU (other activations are the caller's). */
static inline void store_output_row(float *out, int64_t cols, const float *residual, int act, float alpha, float *dst) {
    if (residual)
        for (int64_t q = 0; q < cols; q++) out[q] += residual[q];
    if (act == LSEG_ACT_RELU) {
        for (int64_t q = 0; q < cols; q++) dst[q] = out[q] > 0.0f ? out[q] : 0.0f;
    } else if (act == LSEG_ACT_LEAKYRELU) {
        for (int64_t q = 0; q < cols; q++) dst[q] = out[q] >= 0.0f ? out[q] : alpha * out[q];
    } else {
        memcpy(dst, out, sizeof(float) * (size_t)cols);
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

static inline __mmask16 lanes_below(int64_t n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u); }

/* One output vector of a tile row (bias added) to dst under mask k: plus the residual (may be
   NULL), then ReLU or leaky ReLU (slope = alpha), as store_output_row does for a whole row. */
__attribute__((target("avx512f,fma"))) static inline void store_output_vector_avx512(__m512 out, __mmask16 k,
                                                                                   const float *residual, int act,
                                                                                   __m512 slope, float *dst) {
    const __m512 zero = _mm512_setzero_ps();
    if (residual) out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(k, residual));
    if (act == LSEG_ACT_RELU) {
        out = _mm512_max_ps(out, zero);
    } else if (act == LSEG_ACT_LEAKYRELU) {
        out = _mm512_mask_mul_ps(out, _mm512_cmp_ps_mask(out, zero, _CMP_LT_OQ), out, slope);
    }
    _mm512_mask_storeu_ps(dst, k, out);
}
#endif

#endif
