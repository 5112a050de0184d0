#include "kernels_heavy.h"
#include "winograd_internal.h"
#include <string.h>

/* Winograd F(6x6, 3x3) (Lavin & Gray, interpolation points 0, 1, -1, 2, -2, 1/2, -1/2, inf):
   Y = A^T [ (G g G^T) .* (B^T d B) ] A over 8x8 input tiles d giving 6x6 output tiles, 64 products
   per tile against F(4x4, 3x3)'s 36 for 16 outputs (1.78 against 2.25 per output). The products
   are lseg_winograd_products with 64 points; this file has the three transforms.

     B^T = [ 1   0   -21/4    0    21/4    0   -1  0 ]    G = [  1      0      0    ]
           [ 0   1    1    -17/4  -17/4    1    1  0 ]        [ -2/9   -2/9   -2/9  ]
           [ 0  -1    1     17/4  -17/4   -1    1  0 ]        [ -2/9    2/9   -2/9  ]
           [ 0  1/2  1/4   -5/2   -5/4     2    1  0 ]        [ 1/90   1/45   2/45  ]
           [ 0 -1/2  1/4    5/2   -5/4    -2    1  0 ]        [ 1/90  -1/45   2/45  ]
           [ 0   2    4    -5/2    -5     1/2   1  0 ]        [ 32/45  16/45  8/45 ]
           [ 0  -2    4     5/2    -5    -1/2   1  0 ]        [ 32/45 -16/45  8/45 ]
           [ 0  -1    0    21/4     0   -21/4   0  1 ]        [  0      0      1    ]

     A^T = [ 1  1  1  1   1   1     1    0 ]
           [ 0  1 -1  2  -2  1/2  -1/2   0 ]
           [ 0  1  1  4   4  1/4   1/4   0 ]
           [ 0  1 -1  8  -8  1/8  -1/8   0 ]
           [ 0  1  1 16  16  1/16  1/16  0 ]
           [ 0  1 -1 32 -32  1/32 -1/32  1 ]

   Rows 1-2, 3-4 and 5-6 of B^T and A^T are the even and odd parts of one point pair (+-p), so
   each pair costs two sums and a sum and difference. */

/* B^T applied to d0..d7 (a row or column of the tile), results into o0..o7. */
#define WINO6_INPUT_1D(d0, d1, d2, d3, d4, d5, d6, d7, o0, o1, o2, o3, o4, o5, o6, o7)                 \
    do {                                                                                             \
        o0 = ((d0) - (d6)) + 5.25f * ((d4) - (d2));                                                  \
        o7 = ((d7) - (d1)) + 5.25f * ((d3) - (d5));                                                  \
        float a1_ = ((d2) + (d6)) - 4.25f * (d4), b1_ = ((d1) + (d5)) - 4.25f * (d3);                \
        o1 = a1_ + b1_;                                                                              \
        o2 = a1_ - b1_;                                                                              \
        float a2_ = (0.25f * (d2) + (d6)) - 1.25f * (d4), b2_ = (0.5f * (d1) - 2.5f * (d3)) + 2.0f * (d5); \
        o3 = a2_ + b2_;                                                                              \
        o4 = a2_ - b2_;                                                                              \
        float a3_ = (4.0f * (d2) + (d6)) - 5.0f * (d4), b3_ = (2.0f * (d1) - 2.5f * (d3)) + 0.5f * (d5); \
        o5 = a3_ + b3_;                                                                              \
        o6 = a3_ - b3_;                                                                              \
    } while (0)

/* A^T applied to m0..m7, results into o0..o5. */
#define WINO6_OUTPUT_1D(m0, m1, m2, m3, m4, m5, m6, m7, o0, o1, o2, o3, o4, o5)                        \
    do {                                                                                             \
        float p1_ = (m1) + (m2), q1_ = (m1) - (m2), p2_ = (m3) + (m4), q2_ = (m3) - (m4);            \
        float p3_ = (m5) + (m6), q3_ = (m5) - (m6);                                                  \
        o0 = (((m0) + p1_) + p2_) + p3_;                                                             \
        o1 = (q1_ + 2.0f * q2_) + 0.5f * q3_;                                                        \
        o2 = (p1_ + 4.0f * p2_) + 0.25f * p3_;                                                       \
        o3 = (q1_ + 8.0f * q2_) + 0.125f * q3_;                                                      \
        o4 = (p1_ + 16.0f * p2_) + 0.0625f * p3_;                                                    \
        o5 = ((q1_ + 32.0f * q2_) + 0.03125f * q3_) + (m7);                                          \
    } while (0)

/* G applied to g0, g1, g2 (a column or row of the filter). */
static inline void filter_1d(float g0, float g1, float g2, float r[8]) {
    r[0] = g0;
    r[1] = ((g0 + g1) + g2) * (-2.0f / 9.0f);
    r[2] = ((g0 - g1) + g2) * (-2.0f / 9.0f);
    r[3] = (g0 * (1.0f / 90.0f) + g1 * (1.0f / 45.0f)) + g2 * (2.0f / 45.0f);
    r[4] = (g0 * (1.0f / 90.0f) - g1 * (1.0f / 45.0f)) + g2 * (2.0f / 45.0f);
    r[5] = (g0 * (32.0f / 45.0f) + g1 * (16.0f / 45.0f)) + g2 * (8.0f / 45.0f);
    r[6] = (g0 * (32.0f / 45.0f) - g1 * (16.0f / 45.0f)) + g2 * (8.0f / 45.0f);
    r[7] = g2;
}

void lseg_winograd6_filter_transform(const float *weight, int64_t K, int64_t C, int64_t k_begin, int64_t k_end,
                                     float *up) {
    const int64_t P = (K + LSEG_WINOGRAD_PANEL - 1) / LSEG_WINOGRAD_PANEL, plane = P * LSEG_WINOGRAD_PANEL * C;
    const int64_t k_stop = k_end >= K ? P * LSEG_WINOGRAD_PANEL : k_end;
    for (int64_t k = k_begin; k < k_stop; k++) {
        float *panel = up + (k / LSEG_WINOGRAD_PANEL) * C * LSEG_WINOGRAD_PANEL + k % LSEG_WINOGRAD_PANEL;
        if (k >= K) {
            for (int xi = 0; xi < 64; xi++)
                for (int64_t c = 0; c < C; c++) panel[xi * plane + c * LSEG_WINOGRAD_PANEL] = 0.0f;
            continue;
        }
        for (int64_t c = 0; c < C; c++) {
            const float *g = weight + (k * C + c) * 9;
            float t[3][8]; /* t[j] = G applied to column j of g */
            for (int j = 0; j < 3; j++) filter_1d(g[j], g[3 + j], g[6 + j], t[j]);
            for (int i = 0; i < 8; i++) {
                float r[8];
                filter_1d(t[0][i], t[1][i], t[2][i], r);
                for (int j = 0; j < 8; j++) panel[(i * 8 + j) * plane + c * LSEG_WINOGRAD_PANEL] = r[j];
            }
        }
    }
}


#ifndef PREFETCH_CHANNELS
#define PREFETCH_CHANNELS 2
#endif

/* Row buffer length: 6 * roundup(SEG, 16) + 2 floats read by the last vector, rounded up. */
#define ROW (6 * SEG + 16)

#if defined(__x86_64__)
#include <immintrin.h>
#define LSEG_WINO6_AVX512 __attribute__((target("avx512f,fma")))


/* B^T over eight vectors (the same formulas as WINO6_INPUT_1D, with fused multiply-adds). */
LSEG_WINO6_AVX512 static inline void input_points_avx512(const __m512 d[8], __m512 o[8]) {
    const __m512 c525 = _mm512_set1_ps(5.25f), c425 = _mm512_set1_ps(4.25f), c125 = _mm512_set1_ps(1.25f);
    const __m512 c025 = _mm512_set1_ps(0.25f), c05 = _mm512_set1_ps(0.5f), c25 = _mm512_set1_ps(2.5f);
    const __m512 c2 = _mm512_set1_ps(2.0f), c4 = _mm512_set1_ps(4.0f), c5 = _mm512_set1_ps(5.0f);
    o[0] = _mm512_fmadd_ps(c525, _mm512_sub_ps(d[4], d[2]), _mm512_sub_ps(d[0], d[6]));
    o[7] = _mm512_fmadd_ps(c525, _mm512_sub_ps(d[3], d[5]), _mm512_sub_ps(d[7], d[1]));
    __m512 a = _mm512_fnmadd_ps(c425, d[4], _mm512_add_ps(d[2], d[6]));
    __m512 b = _mm512_fnmadd_ps(c425, d[3], _mm512_add_ps(d[1], d[5]));
    o[1] = _mm512_add_ps(a, b);
    o[2] = _mm512_sub_ps(a, b);
    a = _mm512_fnmadd_ps(c125, d[4], _mm512_fmadd_ps(c025, d[2], d[6]));
    b = _mm512_fmadd_ps(c2, d[5], _mm512_fnmadd_ps(c25, d[3], _mm512_mul_ps(c05, d[1])));
    o[3] = _mm512_add_ps(a, b);
    o[4] = _mm512_sub_ps(a, b);
    a = _mm512_fnmadd_ps(c5, d[4], _mm512_fmadd_ps(c4, d[2], d[6]));
    b = _mm512_fmadd_ps(c05, d[5], _mm512_fnmadd_ps(c25, d[3], _mm512_mul_ps(c2, d[1])));
    o[5] = _mm512_add_ps(a, b);
    o[6] = _mm512_sub_ps(a, b);
}

/* A^T over eight vectors (WINO6_OUTPUT_1D's formulas, with fused multiply-adds). */
LSEG_WINO6_AVX512 static inline void output_points_avx512(const __m512 m[8], __m512 o[6]) {
    const __m512 p1 = _mm512_add_ps(m[1], m[2]), q1 = _mm512_sub_ps(m[1], m[2]);
    const __m512 p2 = _mm512_add_ps(m[3], m[4]), q2 = _mm512_sub_ps(m[3], m[4]);
    const __m512 p3 = _mm512_add_ps(m[5], m[6]), q3 = _mm512_sub_ps(m[5], m[6]);
    o[0] = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(m[0], p1), p2), p3);
    o[1] = _mm512_fmadd_ps(_mm512_set1_ps(0.5f), q3, _mm512_fmadd_ps(_mm512_set1_ps(2.0f), q2, q1));
    o[2] = _mm512_fmadd_ps(_mm512_set1_ps(0.25f), p3, _mm512_fmadd_ps(_mm512_set1_ps(4.0f), p2, p1));
    o[3] = _mm512_fmadd_ps(_mm512_set1_ps(0.125f), q3, _mm512_fmadd_ps(_mm512_set1_ps(8.0f), q2, q1));
    o[4] = _mm512_fmadd_ps(_mm512_set1_ps(0.0625f), p3, _mm512_fmadd_ps(_mm512_set1_ps(16.0f), p2, p1));
    o[5] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(0.03125f), q3, _mm512_fmadd_ps(_mm512_set1_ps(32.0f), q2, q1)),
                         m[7]);
}

/* Index vectors of the stride-6 (de)interleave, tiles 0-7 of a 16-tile group; tiles 8-15 are the
   same 48 floats further on. Input: lane l < 8 of pair (j, j + 1) is position 6 l + j, lane
   l >= 8 is 6 (l - 8) + j + 1; positions >= 32 come from the third vector (mask). */
LSEG_WINO6_AVX512 static inline __m512i input_pair_index(int j) {
    return _mm512_add_epi32(_mm512_setr_epi32(0, 6, 12, 18, 24, 30, 36, 42, 1, 7, 13, 19, 25, 31, 37, 43),
                            _mm512_set1_epi32(j));
}

/* The horizontal pass of the input transform for 16 tiles per vector: the six vectors holding
   positions 0..95 of the group give components 0-5 by two permutes per component pair and half
   (tiles 0-7 from vectors 0-2, tiles 8-15 from 3-5) and 128-bit lane shuffles; components 6 and 7
   are components 0 and 1 of the next tile, one lane along. */
LSEG_WINO6_AVX512 static void input_rows_avx512(float row[8][ROW], int64_t cnt, float h[8][8][SEG]) {
    __m512i idx[3];
    __mmask16 far[3];
    for (int p = 0; p < 3; p++) {
        idx[p] = input_pair_index(2 * p);
        far[p] = _mm512_cmpge_epi32_mask(idx[p], _mm512_set1_epi32(32));
    }
    for (int r = 0; r < 8; r++) {
        for (int64_t i = 0; i < cnt; i += 16) {
            const float *b = row[r] + 6 * i;
            __m512 z[6], d[8], o[8];
            for (int q = 0; q < 6; q++) z[q] = _mm512_loadu_ps(b + 16 * q);
            for (int p = 0; p < 3; p++) {
                __m512 lo = _mm512_permutex2var_ps(z[0], idx[p], z[1]);
                lo = _mm512_mask_permutexvar_ps(lo, far[p], idx[p], z[2]);
                __m512 hi = _mm512_permutex2var_ps(z[3], idx[p], z[4]);
                hi = _mm512_mask_permutexvar_ps(hi, far[p], idx[p], z[5]);
                d[2 * p] = _mm512_shuffle_f32x4(lo, hi, 0x44);
                d[2 * p + 1] = _mm512_shuffle_f32x4(lo, hi, 0xEE);
            }
            d[6] = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(_mm512_set1_ps(b[96])),
                                                           _mm512_castps_si512(d[0]), 1));
            d[7] = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(_mm512_set1_ps(b[97])),
                                                           _mm512_castps_si512(d[1]), 1));
            input_points_avx512(d, o);
            for (int j = 0; j < 8; j++) _mm512_storeu_ps(h[j][r] + i, o[j]);
        }
    }
}

/* The vertical pass in whole vectors, the segment's last partial vector stored under a mask. */
LSEG_WINO6_AVX512 static void input_cols_avx512(float h[8][8][SEG], int64_t cnt, float *o, int64_t xi_stride) {
    for (int j = 0; j < 8; j++) {
        for (int64_t i = 0; i < cnt; i += 16) {
            const __mmask16 k = lanes_below(cnt - i);
            __m512 d[8], e[8];
            for (int r = 0; r < 8; r++) d[r] = _mm512_loadu_ps(h[j][r] + i);
            input_points_avx512(d, e);
            float *oj = o + j * xi_stride + i;
            for (int q = 0; q < 8; q++) _mm512_mask_storeu_ps(oj + 8 * q * xi_stride, k, e[q]);
        }
    }
}

/* Six component vectors of 16 tiles (bias added) interleaved into tile order: z[v] holds outputs
   16 v .. 16 v + 15 of the 6 * 16. Components are paired into 8-tile halves by lane shuffles, then
   each output vector takes from the three pair vectors of its half by two permutes. */
LSEG_WINO6_AVX512 static inline void interleave_tiles_avx512(const __m512 o[6], __m512 bias, __m512 z[6]) {
    /* Output lane l of vector v < 3 is position p = 16 v + l: tile p / 6, component p % 6, found
       in pair p % 6 / 2 at lane (p % 2) * 8 + p / 6; pairs 0 and 1 by one two-source permute
       (bit 4 picks pair 1), pair 2 under a mask. */
    static const int32_t index[3][16] = {
        {0, 8, 16, 24, 0, 8, 1, 9, 17, 25, 1, 9, 2, 10, 18, 26},
        {2, 10, 3, 11, 19, 27, 3, 11, 4, 12, 20, 28, 4, 12, 5, 13},
        {21, 29, 5, 13, 6, 14, 22, 30, 6, 14, 7, 15, 23, 31, 7, 15},
    };
    static const __mmask16 third[3] = {0x0C30, 0x30C3, 0xC30C};
    __m512 pl[3], ph[3];
    for (int p = 0; p < 3; p++) {
        const __m512 a = _mm512_add_ps(o[2 * p], bias), b = _mm512_add_ps(o[2 * p + 1], bias);
        pl[p] = _mm512_shuffle_f32x4(a, b, 0x44);
        ph[p] = _mm512_shuffle_f32x4(a, b, 0xEE);
    }
    for (int v = 0; v < 3; v++) {
        const __m512i ix = _mm512_loadu_si512(index[v]);
        z[v] = _mm512_mask_permutexvar_ps(_mm512_permutex2var_ps(pl[0], ix, pl[1]), third[v], ix, pl[2]);
        z[v + 3] = _mm512_mask_permutexvar_ps(_mm512_permutex2var_ps(ph[0], ix, ph[1]), third[v], ix, ph[2]);
    }
}

/* The whole output transform of one channel over one segment in vectors: vertical pass, then per
   output row the horizontal pass, interleave, residual, activation and masked stores of the row's
   valid columns. mk points at m for channel k, column col0 (planes carry 16 spare floats). */
LSEG_WINO6_AVX512 static void output_channel_avx512(const float *mk, int64_t xi_stride, int64_t cnt, float bk, int rows,
                                                    int64_t cols, const float *res, float *dst, int64_t OW, int act,
                                                    float alpha) {
    const __m512 bias = _mm512_set1_ps(bk), slope = _mm512_set1_ps(alpha);
    for (int64_t i = 0; i < cnt; i += 16) {
        __m512 a[8][6]; /* a[s][r]: output row r of column s after the vertical pass */
        for (int s = 0; s < 8; s++) {
            __m512 m[8];
            for (int q = 0; q < 8; q++) m[q] = _mm512_loadu_ps(mk + (8 * q + s) * xi_stride + i);
            output_points_avx512(m, a[s]);
        }
        for (int r = 0; r < rows; r++) {
            __m512 e[8], o[6], z[6];
            for (int s = 0; s < 8; s++) e[s] = a[s][r];
            output_points_avx512(e, o);
            interleave_tiles_avx512(o, bias, z);
            for (int v = 0; v < 6; v++) {
                const int64_t q0 = 6 * i + 16 * v;
                if (q0 >= cols) break;
                store_output_vector_avx512(z[v], lanes_below(cols - q0), res ? res + r * OW + q0 : NULL, act, slope,
                                           dst + r * OW + q0);
            }
        }
    }
}
#endif

static inline __attribute__((always_inline)) void input_transform(
    const float *x, const lseg_winograd_geometry *g, int64_t t_begin, int64_t t_end, int pre_relu, float *v,
    int64_t ld, int64_t xi_stride, int avx512) {
    const int64_t C = g->C, H = g->H, W = g->W, HW = H * W;
    float row[8][ROW];
    float h[8][8][SEG]; /* h[j][r][t]: row r of the tile after the horizontal pass, column j */
    for (int64_t t = t_begin; t < t_end;) {
        const segment sg = next_segment(g, t, t_end);
        const int64_t cnt = sg.count, col0 = t - t_begin, width = 6 * cnt + 2;
        const int64_t x0 = sg.tw0 * 6 - g->pad_w; /* input column of row[.][0] */
        int64_t q_lo = x0 < 0 ? -x0 : 0, q_hi = W - x0 < width ? W - x0 : width;
        if (q_lo > width) q_lo = width;
        if (q_hi < q_lo) q_hi = q_lo;
        for (int64_t c = 0; c < C; c++) {
            const float *plane = x + (sg.n * C + c) * HW;
            /* The rows of a channel PREFETCH_CHANNELS ahead: channel planes are far apart, so the
               hardware prefetchers miss them and the row copies wait on L3 otherwise. */
            if (c + PREFETCH_CHANNELS < C && q_hi > q_lo) {
                for (int r = 0; r < 8; r++) {
                    const int64_t y = sg.th * 6 - g->pad_h + r;
                    if (y < 0 || y >= H) continue;
                    const float *src = plane + PREFETCH_CHANNELS * HW + y * W + x0;
                    for (int64_t q = q_lo; q < q_hi; q += 16) __builtin_prefetch(src + q);
                    __builtin_prefetch(src + q_hi - 1);
                }
            }
            for (int r = 0; r < 8; r++) {
                const int64_t y = sg.th * 6 - g->pad_h + r;
                float *b = row[r];
                if (y < 0 || y >= H || q_hi == q_lo) {
                    memset(b, 0, sizeof(float) * (size_t)width);
                    continue;
                }
                for (int64_t q = 0; q < q_lo; q++) b[q] = 0.0f;
                const float *src = plane + y * W + x0;
                if (pre_relu) {
                    for (int64_t q = q_lo; q < q_hi; q++) b[q] = src[q] > 0.0f ? src[q] : 0.0f;
                } else {
                    memcpy(b + q_lo, src + q_lo, sizeof(float) * (size_t)(q_hi - q_lo));
                }
                for (int64_t q = q_hi; q < width; q++) b[q] = 0.0f;
            }
#if defined(__x86_64__)
            if (avx512) input_rows_avx512(row, cnt, h);
#endif
            for (int r = 0; r < 8 && !avx512; r++) {
                const float *b = row[r];
                for (int64_t i = 0; i < cnt; i++) {
                    const float *p = b + 6 * i;
                    WINO6_INPUT_1D(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], h[0][r][i], h[1][r][i], h[2][r][i],
                                   h[3][r][i], h[4][r][i], h[5][r][i], h[6][r][i], h[7][r][i]);
                }
            }
            /* Vertical: v[(q * 8 + j)][c][col0 + t] = B^T applied to column j over the rows. */
#if defined(__x86_64__)
            if (avx512) input_cols_avx512(h, cnt, v + c * ld + col0, xi_stride);
#endif
            for (int j = 0; j < 8 && !avx512; j++) {
                float *o = v + j * xi_stride + c * ld + col0;
                const int64_t s = 8 * xi_stride;
                for (int64_t i = 0; i < cnt; i++) {
                    WINO6_INPUT_1D(h[j][0][i], h[j][1][i], h[j][2][i], h[j][3][i], h[j][4][i], h[j][5][i], h[j][6][i],
                                   h[j][7][i], o[i], o[s + i], o[2 * s + i], o[3 * s + i], o[4 * s + i], o[5 * s + i],
                                   o[6 * s + i], o[7 * s + i]);
                }
            }
        }
        t += cnt;
    }
    zero_padding_columns(v, 64, C, ld, t_end - t_begin, xi_stride);
}

static inline __attribute__((always_inline)) void output_transform(
    const float *m, int64_t ld, int64_t xi_stride, const lseg_winograd_geometry *g, int64_t t_begin, int64_t t_end,
    int64_t k_begin, int64_t k_end, const float *bias, const float *residual, int act, float alpha, float *y,
    int avx512) {
    const int64_t K = g->K, OH = g->OH, OW = g->OW, OHW = OH * OW;
    float a[6][8][SEG]; /* after the vertical pass: a[r][s][t] */
    float out[6 * SEG]; /* one output row of the segment, interleaved by tile */
    for (int64_t t = t_begin; t < t_end;) {
        const segment sg = next_segment(g, t, t_end);
        const int64_t cnt = sg.count, col0 = t - t_begin;
        const int64_t oh0 = sg.th * 6, ow0 = sg.tw0 * 6;
        const int rows = (int)(OH - oh0 < 6 ? OH - oh0 : 6);
        const int64_t cols = OW - ow0 < 6 * cnt ? OW - ow0 : 6 * cnt;
        for (int64_t k = k_begin; k < k_end; k++) {
            const float *mk = m + k * ld + col0;
            const float bk = bias ? bias[k] : 0.0f;
#if defined(__x86_64__)
            if (avx512) {
                const int64_t off = (sg.n * K + k) * OHW + oh0 * OW + ow0;
                output_channel_avx512(mk, xi_stride, cnt, bk, rows, cols, residual ? residual + off : NULL, y + off, OW,
                                      act, alpha);
                continue;
            }
#endif
            for (int s = 0; s < 8; s++) {
                const float *c = mk + s * xi_stride;
                const int64_t q = 8 * xi_stride;
                for (int64_t i = 0; i < cnt; i++) {
                    WINO6_OUTPUT_1D(c[i], c[q + i], c[2 * q + i], c[3 * q + i], c[4 * q + i], c[5 * q + i], c[6 * q + i],
                                    c[7 * q + i], a[0][s][i], a[1][s][i], a[2][s][i], a[3][s][i], a[4][s][i], a[5][s][i]);
                }
            }
            for (int r = 0; r < rows; r++) {
                const float(*e)[SEG] = a[r];
                for (int64_t i = 0; i < cnt; i++) {
                    float *o = out + 6 * i;
                    WINO6_OUTPUT_1D(e[0][i], e[1][i], e[2][i], e[3][i], e[4][i], e[5][i], e[6][i], e[7][i], o[0], o[1],
                                    o[2], o[3], o[4], o[5]);
                    for (int j = 0; j < 6; j++) o[j] += bk;
                }
                const int64_t off = (sg.n * K + k) * OHW + (oh0 + r) * OW + ow0;
                store_output_row(out, cols, residual ? residual + off : NULL, act, alpha, y + off);
            }
        }
        t += cnt;
    }
}

#if defined(__x86_64__)
#define LSEG_WINO6_AVX2 __attribute__((target("avx2,fma")))
LSEG_WINO6_AVX2 static void input_transform_avx2(const float *x, const lseg_winograd_geometry *g, int64_t t_begin,
                                                 int64_t t_end, int pre_relu, float *v, int64_t ld, int64_t plane) {
    input_transform(x, g, t_begin, t_end, pre_relu, v, ld, plane, 0);
}
LSEG_WINO6_AVX2 static void output_transform_avx2(const float *m, int64_t ld, int64_t plane,
                                                  const lseg_winograd_geometry *g, int64_t t_begin, int64_t t_end,
                                                  int64_t k_begin, int64_t k_end, const float *bias,
                                                  const float *residual, int act, float alpha, float *y) {
    output_transform(m, ld, plane, g, t_begin, t_end, k_begin, k_end, bias, residual, act, alpha, y, 0);
}
LSEG_WINO6_AVX512 static void input_transform_avx512(const float *x, const lseg_winograd_geometry *g, int64_t t_begin,
                                                     int64_t t_end, int pre_relu, float *v, int64_t ld, int64_t plane) {
    input_transform(x, g, t_begin, t_end, pre_relu, v, ld, plane, 1);
}
LSEG_WINO6_AVX512 static void output_transform_avx512(const float *m, int64_t ld, int64_t plane,
                                                      const lseg_winograd_geometry *g, int64_t t_begin, int64_t t_end,
                                                      int64_t k_begin, int64_t k_end, const float *bias,
                                                      const float *residual, int act, float alpha, float *y) {
    output_transform(m, ld, plane, g, t_begin, t_end, k_begin, k_end, bias, residual, act, alpha, y, 1);
}
#endif

int lseg_winograd6_input_transform(int path, const float *x, const lseg_winograd_geometry *g, int64_t t_begin,
                                   int64_t t_end, int pre_relu, float *v, int64_t ld, int64_t plane) {
    switch (lseg_winograd_transform_variant(path)) {
    case 0: input_transform(x, g, t_begin, t_end, pre_relu, v, ld, plane, 0); return 1;
#if defined(__x86_64__)
    case 1: input_transform_avx2(x, g, t_begin, t_end, pre_relu, v, ld, plane); return 1;
    case 2: input_transform_avx512(x, g, t_begin, t_end, pre_relu, v, ld, plane); return 1;
#endif
    default: return 0;
    }
}

int lseg_winograd6_output_transform(int path, const float *m, int64_t ld, int64_t plane, const lseg_winograd_geometry *g,
                                    int64_t t_begin, int64_t t_end, int64_t k_begin, int64_t k_end, const float *bias,
                                    const float *residual, int act, float alpha, float *y) {
    switch (lseg_winograd_transform_variant(path)) {
    case 0: output_transform(m, ld, plane, g, t_begin, t_end, k_begin, k_end, bias, residual, act, alpha, y, 0); return 1;
#if defined(__x86_64__)
    case 1: output_transform_avx2(m, ld, plane, g, t_begin, t_end, k_begin, k_end, bias, residual, act, alpha, y); return 1;
    case 2: output_transform_avx512(m, ld, plane, g, t_begin, t_end, k_begin, k_end, bias, residual, act, alpha, y); return 1;
#endif
    default: return 0;
    }
}
