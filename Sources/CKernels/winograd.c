#include "kernels_heavy.h"
#include "CKernels.h"
#include "winograd_internal.h"
#include <string.h>

/* Winograd F(4x4, 3x3) (Lavin & Gray, interpolation points 0, 1, -1, 2, -2, inf):
   Y = A^T [ (G g G^T) .* (B^T d B) ] A over 6x6 input tiles d giving 4x4 output tiles.
   The batched products between the transforms are in winograd_products.c. */

void lseg_winograd_filter_transform(const float *weight, int64_t K, int64_t C, int64_t k_begin, int64_t k_end,
                                    float *up) {
    const int64_t P = (K + LSEG_WINOGRAD_PANEL - 1) / LSEG_WINOGRAD_PANEL, plane = P * LSEG_WINOGRAD_PANEL * C;
    const int64_t k_stop = k_end >= K ? P * LSEG_WINOGRAD_PANEL : k_end;
    for (int64_t k = k_begin; k < k_stop; k++) {
        float *panel = up + (k / LSEG_WINOGRAD_PANEL) * C * LSEG_WINOGRAD_PANEL + k % LSEG_WINOGRAD_PANEL;
        if (k >= K) {
            for (int xi = 0; xi < 36; xi++)
                for (int64_t c = 0; c < C; c++) panel[xi * plane + c * LSEG_WINOGRAD_PANEL] = 0.0f;
            continue;
        }
        for (int64_t c = 0; c < C; c++) {
            const float *g = weight + (k * C + c) * 9;
            float t[6][3];
            /* t = G g (6x3). */
            for (int j = 0; j < 3; j++) {
                float g0 = g[j], g1 = g[3 + j], g2 = g[6 + j];
                t[0][j] = g0 * 0.25f;
                t[1][j] = -(g0 + g1 + g2) / 6.0f;
                t[2][j] = -(g0 - g1 + g2) / 6.0f;
                t[3][j] = g0 / 24.0f + g1 / 12.0f + g2 / 6.0f;
                t[4][j] = g0 / 24.0f - g1 / 12.0f + g2 / 6.0f;
                t[5][j] = g2;
            }
            /* u = t G^T (6x6). */
            for (int i = 0; i < 6; i++) {
                float g0 = t[i][0], g1 = t[i][1], g2 = t[i][2];
                float r[6] = {g0 * 0.25f, -(g0 + g1 + g2) / 6.0f, -(g0 - g1 + g2) / 6.0f,
                              g0 / 24.0f + g1 / 12.0f + g2 / 6.0f, g0 / 24.0f - g1 / 12.0f + g2 / 6.0f, g2};
                for (int j = 0; j < 6; j++) panel[(i * 6 + j) * plane + c * LSEG_WINOGRAD_PANEL] = r[j];
            }
        }
    }
}


#if defined(__x86_64__)
#include <immintrin.h>
#define LSEG_WINO_AVX512 __attribute__((target("avx512f,fma")))

/* The horizontal pass of the input transform, 16 tiles per vector: the components 4t + j of a row
   are gathered by two-source permutes (tiles 0-7 and 8-15 of one component pair each) and 128-bit
   lane shuffles; components 4 and 5 are components 0 and 1 of the next tile, one lane along. The
   row buffer holds at least 4 * roundup(cnt, 16) + 2 floats (lanes past cnt are never stored). */
LSEG_WINO_AVX512 static void input_rows_avx512(float row[6][4 * SEG + 8], int64_t cnt, float h[6][6][SEG]) {
    const __m512i pair01 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    const __m512i pair23 = _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
    const __m512 four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f), two = _mm512_set1_ps(2.0f);
    for (int r = 0; r < 6; r++) {
        for (int64_t i = 0; i < cnt; i += 16) {
            const float *b = row[r] + 4 * i;
            const __m512 z0 = _mm512_loadu_ps(b), z1 = _mm512_loadu_ps(b + 16);
            const __m512 z2 = _mm512_loadu_ps(b + 32), z3 = _mm512_loadu_ps(b + 48);
            const __m512 p01 = _mm512_permutex2var_ps(z0, pair01, z1), q01 = _mm512_permutex2var_ps(z0, pair23, z1);
            const __m512 p23 = _mm512_permutex2var_ps(z2, pair01, z3), q23 = _mm512_permutex2var_ps(z2, pair23, z3);
            const __m512 d0 = _mm512_shuffle_f32x4(p01, p23, 0x44), d1 = _mm512_shuffle_f32x4(p01, p23, 0xEE);
            const __m512 d2 = _mm512_shuffle_f32x4(q01, q23, 0x44), d3 = _mm512_shuffle_f32x4(q01, q23, 0xEE);
            const __m512 d4 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(_mm512_set1_ps(b[64])),
                                                                      _mm512_castps_si512(d0), 1));
            const __m512 d5 = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(_mm512_set1_ps(b[65])),
                                                                      _mm512_castps_si512(d1), 1));
            /* The same formulas as the portable pass, term by term. */
            _mm512_storeu_ps(h[0][r] + i, _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(four, d0), _mm512_mul_ps(five, d2)), d4));
            _mm512_storeu_ps(h[1][r] + i, _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(-4.0f), _mm512_add_ps(d1, d2)), d3), d4));
            _mm512_storeu_ps(h[2][r] + i, _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(four, _mm512_sub_ps(d1, d2)), d3), d4));
            _mm512_storeu_ps(h[3][r] + i, _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(two, _mm512_sub_ps(d3, d1)), d2), d4));
            _mm512_storeu_ps(h[4][r] + i, _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(two, _mm512_sub_ps(d1, d3)), d2), d4));
            _mm512_storeu_ps(h[5][r] + i, _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(four, d1), _mm512_mul_ps(five, d3)), d5));
        }
    }
}

/* A^T of F(4x4, 3x3) over six vectors, each sum in this order (every path gives the same bits):
   o0 = m0 + (m1 + m2) + (m3 + m4), o1 = (m1 - m2) + 2 (m3 - m4), o2 = (m1 + m2) + 4 (m3 + m4),
   o3 = (m1 - m2) + 8 (m3 - m4) + m5. */
LSEG_WINO_AVX512 static inline void output_points_avx512(__m512 m0, __m512 m1, __m512 m2, __m512 m3, __m512 m4,
                                                         __m512 m5, __m512 o[4]) {
    const __m512 p = _mm512_add_ps(m1, m2), q = _mm512_sub_ps(m1, m2), r = _mm512_add_ps(m3, m4);
    const __m512 e = _mm512_sub_ps(m3, m4);
    o[0] = _mm512_add_ps(_mm512_add_ps(m0, p), r);
    o[1] = _mm512_add_ps(q, _mm512_mul_ps(_mm512_set1_ps(2.0f), e));
    o[2] = _mm512_add_ps(p, _mm512_mul_ps(_mm512_set1_ps(4.0f), r));
    o[3] = _mm512_add_ps(_mm512_add_ps(q, _mm512_mul_ps(_mm512_set1_ps(8.0f), e)), m5);
}

/* Four component vectors of 16 tiles (plus bias) interleaved back into tile order: z[v] holds
   outputs 16 v .. 16 v + 15 of the 4 * 16 (the inverse of the input's permutes). */
LSEG_WINO_AVX512 static inline void interleave_tiles_avx512(const __m512 o[4], __m512 bias, __m512 z[4]) {
    const __m512i lo = _mm512_setr_epi32(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
    const __m512i hi = _mm512_setr_epi32(4, 12, 20, 28, 5, 13, 21, 29, 6, 14, 22, 30, 7, 15, 23, 31);
    const __m512 o0 = _mm512_add_ps(o[0], bias), o1 = _mm512_add_ps(o[1], bias);
    const __m512 o2 = _mm512_add_ps(o[2], bias), o3 = _mm512_add_ps(o[3], bias);
    /* Tiles 0-7 and 8-15 of components (0, 1) and (2, 3), then tile-major order. */
    const __m512 p01 = _mm512_shuffle_f32x4(o0, o1, 0x44), p23 = _mm512_shuffle_f32x4(o0, o1, 0xEE);
    const __m512 q01 = _mm512_shuffle_f32x4(o2, o3, 0x44), q23 = _mm512_shuffle_f32x4(o2, o3, 0xEE);
    z[0] = _mm512_permutex2var_ps(p01, lo, q01);
    z[1] = _mm512_permutex2var_ps(p01, hi, q01);
    z[2] = _mm512_permutex2var_ps(p23, lo, q23);
    z[3] = _mm512_permutex2var_ps(p23, hi, q23);
}

/* The horizontal pass of the output transform for 16 tiles per vector, components interleaved
   back into tile order (the inverse of the input's permutes). out holds 4 * roundup(cnt, 16). */
LSEG_WINO_AVX512 static void output_row_avx512(const float *e0, const float *e1, const float *e2, const float *e3,
                                               const float *e4, const float *e5, int64_t cnt, float bk, float *out) {
    const __m512 bias = _mm512_set1_ps(bk);
    for (int64_t i = 0; i < cnt; i += 16) {
        __m512 o[4], z[4];
        output_points_avx512(_mm512_loadu_ps(e0 + i), _mm512_loadu_ps(e1 + i), _mm512_loadu_ps(e2 + i),
                             _mm512_loadu_ps(e3 + i), _mm512_loadu_ps(e4 + i), _mm512_loadu_ps(e5 + i), o);
        interleave_tiles_avx512(o, bias, z);
        float *dst = out + 4 * i;
        for (int v = 0; v < 4; v++) _mm512_storeu_ps(dst + 16 * v, z[v]);
    }
}


/* The vertical pass of the input transform in whole vectors, the segment's last partial vector
   stored under a mask (segments are often 8 or 24 tiles: a scalar remainder cost as much as the
   vectors). o points at v for channel c, column col0. */
LSEG_WINO_AVX512 static void input_cols_avx512(float h[6][6][SEG], int64_t cnt, float *o, int64_t xi_stride) {
    const __m512 four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f), two = _mm512_set1_ps(2.0f);
    for (int j = 0; j < 6; j++) {
        for (int64_t i = 0; i < cnt; i += 16) {
            const __mmask16 k = lanes_below(cnt - i);
            const __m512 d0 = _mm512_loadu_ps(h[j][0] + i), d1 = _mm512_loadu_ps(h[j][1] + i), d2 = _mm512_loadu_ps(h[j][2] + i);
            const __m512 d3 = _mm512_loadu_ps(h[j][3] + i), d4 = _mm512_loadu_ps(h[j][4] + i), d5 = _mm512_loadu_ps(h[j][5] + i);
            float *oj = o + j * xi_stride + i;
            _mm512_mask_storeu_ps(oj, k, _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(four, d0), _mm512_mul_ps(five, d2)), d4));
            _mm512_mask_storeu_ps(oj + 6 * xi_stride, k, _mm512_add_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(-4.0f), _mm512_add_ps(d1, d2)), d3), d4));
            _mm512_mask_storeu_ps(oj + 12 * xi_stride, k, _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(four, _mm512_sub_ps(d1, d2)), d3), d4));
            _mm512_mask_storeu_ps(oj + 18 * xi_stride, k, _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(two, _mm512_sub_ps(d3, d1)), d2), d4));
            _mm512_mask_storeu_ps(oj + 24 * xi_stride, k, _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(two, _mm512_sub_ps(d1, d3)), d2), d4));
            _mm512_mask_storeu_ps(oj + 30 * xi_stride, k, _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(four, d1), _mm512_mul_ps(five, d3)), d5));
        }
    }
}

/* The whole output transform of one channel over one segment in vectors: vertical pass in
   registers, the horizontal pass and interleave (output_row_avx512's), then residual, activation
   and the store of the row's valid columns under masks. mk points at m for channel k, column col0;
   m's planes carry 16 spare floats, so the last vector may read past the segment. res and dst
   point at the segment's first output (row oh0, column ow0). */
LSEG_WINO_AVX512 static void output_channel_avx512(const float *mk, int64_t xi_stride, int64_t cnt, float bk, int rows,
                                                   int64_t cols, const float *res, float *dst, int64_t OW, int act,
                                                   float alpha) {
    const __m512 bias = _mm512_set1_ps(bk), slope = _mm512_set1_ps(alpha);
    for (int64_t i = 0; i < cnt; i += 16) {
        __m512 a[6][4]; /* a[s][r]: output row r of column s after the vertical pass */
        for (int s = 0; s < 6; s++) {
            const float *c = mk + s * xi_stride + i;
            output_points_avx512(_mm512_loadu_ps(c), _mm512_loadu_ps(c + 6 * xi_stride),
                                 _mm512_loadu_ps(c + 12 * xi_stride), _mm512_loadu_ps(c + 18 * xi_stride),
                                 _mm512_loadu_ps(c + 24 * xi_stride), _mm512_loadu_ps(c + 30 * xi_stride), a[s]);
        }
        for (int r4 = 0; r4 < rows; r4++) {
            __m512 o[4], z[4];
            output_points_avx512(a[0][r4], a[1][r4], a[2][r4], a[3][r4], a[4][r4], a[5][r4], o);
            interleave_tiles_avx512(o, bias, z);
            for (int v = 0; v < 4; v++) {
                const int64_t q0 = 4 * i + 16 * v;
                if (q0 >= cols) break;
                store_output_vector_avx512(z[v], lanes_below(cols - q0), res ? res + r4 * OW + q0 : NULL, act, slope,
                                           dst + r4 * OW + q0);
            }
        }
    }
}
#endif

static inline __attribute__((always_inline)) void input_transform(
    const float *x, const lseg_winograd_geometry *g, int64_t t_begin, int64_t t_end, int pre_relu, float *v,
    int64_t ld, int64_t xi_stride, int avx512) {
    const int64_t C = g->C, H = g->H, W = g->W, HW = H * W;
    float row[6][4 * SEG + 8];
    float h[6][6][SEG]; /* h[j][r][t]: row r of the tile after the horizontal pass, column j */
    for (int64_t t = t_begin; t < t_end;) {
        const segment sg = next_segment(g, t, t_end);
        const int64_t cnt = sg.count, col0 = t - t_begin, width = 4 * cnt + 2;
        const int64_t x0 = sg.tw0 * 4 - g->pad_w; /* input column of row[.][0] */
        /* Columns of the row buffer that lie inside the image. */
        int64_t q_lo = x0 < 0 ? -x0 : 0, q_hi = W - x0 < width ? W - x0 : width;
        if (q_lo > width) q_lo = width;
        if (q_hi < q_lo) q_hi = q_lo;
        for (int64_t c = 0; c < C; c++) {
            const float *plane = x + (sg.n * C + c) * HW;
            for (int r = 0; r < 6; r++) {
                const int64_t y = sg.th * 4 - g->pad_h + r;
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
            /* Horizontal: h[.][r][t] = B^T applied to row r, columns 4t .. 4t + 5. */
#if defined(__x86_64__)
            if (avx512) input_rows_avx512(row, cnt, h);
#endif
            for (int r = 0; r < 6 && !avx512; r++) {
                const float *b = row[r];
                float *h0 = h[0][r], *h1 = h[1][r], *h2 = h[2][r], *h3 = h[3][r], *h4 = h[4][r], *h5 = h[5][r];
                for (int64_t i = 0; i < cnt; i++) {
                    const float *p = b + 4 * i;
                    float d0 = p[0], d1 = p[1], d2 = p[2], d3 = p[3], d4 = p[4], d5 = p[5];
                    h0[i] = 4.0f * d0 - 5.0f * d2 + d4;
                    h1[i] = -4.0f * (d1 + d2) + d3 + d4;
                    h2[i] = 4.0f * (d1 - d2) - d3 + d4;
                    h3[i] = 2.0f * (d3 - d1) - d2 + d4;
                    h4[i] = 2.0f * (d1 - d3) - d2 + d4;
                    h5[i] = 4.0f * d1 - 5.0f * d3 + d5;
                }
            }
            /* Vertical: v[(i * 6 + j)][c][col0 + t] = B^T applied to column j over the rows. */
#if defined(__x86_64__)
            if (avx512) input_cols_avx512(h, cnt, v + c * ld + col0, xi_stride);
#endif
            for (int j = 0; j < 6 && !avx512; j++) {
                const float *e0 = h[j][0], *e1 = h[j][1], *e2 = h[j][2], *e3 = h[j][3], *e4 = h[j][4], *e5 = h[j][5];
                float *o = v + j * xi_stride + c * ld + col0;
                float *o0 = o, *o1 = o + 6 * xi_stride, *o2 = o + 12 * xi_stride;
                float *o3 = o + 18 * xi_stride, *o4 = o + 24 * xi_stride, *o5 = o + 30 * xi_stride;
                for (int64_t i = 0; i < cnt; i++) {
                    float d0 = e0[i], d1 = e1[i], d2 = e2[i], d3 = e3[i], d4 = e4[i], d5 = e5[i];
                    o0[i] = 4.0f * d0 - 5.0f * d2 + d4;
                    o1[i] = -4.0f * (d1 + d2) + d3 + d4;
                    o2[i] = 4.0f * (d1 - d2) - d3 + d4;
                    o3[i] = 2.0f * (d3 - d1) - d2 + d4;
                    o4[i] = 2.0f * (d1 - d3) - d2 + d4;
                    o5[i] = 4.0f * d1 - 5.0f * d3 + d5;
                }
            }
        }
        t += cnt;
    }
    zero_padding_columns(v, 36, C, ld, t_end - t_begin, xi_stride);
}

static inline __attribute__((always_inline)) void output_transform(
    const float *m, int64_t ld, int64_t xi_stride, const lseg_winograd_geometry *g, int64_t t_begin, int64_t t_end,
    int64_t k_begin, int64_t k_end, const float *bias, const float *residual, int act, float alpha, float *y,
    int avx512) {
    const int64_t K = g->K, OH = g->OH, OW = g->OW, OHW = OH * OW;
    float a[4][6][SEG];    /* after the vertical pass: a[i][s][t] */
    float out[4 * SEG];    /* one output row of the segment, interleaved by tile */
    for (int64_t t = t_begin; t < t_end;) {
        const segment sg = next_segment(g, t, t_end);
        const int64_t cnt = sg.count, col0 = t - t_begin;
        const int64_t oh0 = sg.th * 4, ow0 = sg.tw0 * 4;
        const int rows = (int)(OH - oh0 < 4 ? OH - oh0 : 4);
        const int64_t cols = OW - ow0 < 4 * cnt ? OW - ow0 : 4 * cnt;
        for (int64_t k = k_begin; k < k_end; k++) {
            const float *mk = m + k * ld + col0;
#if defined(__x86_64__)
            if (avx512) {
                const int64_t off = (sg.n * K + k) * OHW + oh0 * OW + ow0;
                output_channel_avx512(mk, xi_stride, cnt, bias ? bias[k] : 0.0f, rows, cols, residual ? residual + off : NULL,
                                      y + off, OW, act, alpha);
                continue;
            }
#endif
            for (int s = 0; s < 6; s++) {
                const float *c0 = mk + (0 * 6 + s) * xi_stride, *c1 = mk + (1 * 6 + s) * xi_stride;
                const float *c2 = mk + (2 * 6 + s) * xi_stride, *c3 = mk + (3 * 6 + s) * xi_stride;
                const float *c4 = mk + (4 * 6 + s) * xi_stride, *c5 = mk + (5 * 6 + s) * xi_stride;
                float *a0 = a[0][s], *a1 = a[1][s], *a2 = a[2][s], *a3 = a[3][s];
                for (int64_t i = 0; i < cnt; i++) {
                    float m0 = c0[i], m1 = c1[i], m2 = c2[i], m3 = c3[i], m4 = c4[i], m5 = c5[i];
                    float p = m1 + m2, q = m1 - m2, r = m3 + m4, e = m3 - m4;
                    a0[i] = m0 + p + r;
                    a1[i] = q + 2.0f * e;
                    a2[i] = p + 4.0f * r;
                    a3[i] = q + 8.0f * e + m5;
                }
            }
            const float bk = bias ? bias[k] : 0.0f;
            for (int r4 = 0; r4 < rows; r4++) {
                const float *e0 = a[r4][0], *e1 = a[r4][1], *e2 = a[r4][2], *e3 = a[r4][3], *e4 = a[r4][4], *e5 = a[r4][5];
#if defined(__x86_64__)
                if (avx512) output_row_avx512(e0, e1, e2, e3, e4, e5, cnt, bk, out);
#endif
                for (int64_t i = 0; i < cnt && !avx512; i++) {
                    float m0 = e0[i], m1 = e1[i], m2 = e2[i], m3 = e3[i], m4 = e4[i], m5 = e5[i];
                    float p = m1 + m2, q = m1 - m2, r = m3 + m4, e = m3 - m4;
                    out[4 * i] = m0 + p + r + bk;
                    out[4 * i + 1] = q + 2.0f * e + bk;
                    out[4 * i + 2] = p + 4.0f * r + bk;
                    out[4 * i + 3] = q + 8.0f * e + m5 + bk;
                }
                const int64_t off = (sg.n * K + k) * OHW + (oh0 + r4) * OW + ow0;
                store_output_row(out, cols, residual ? residual + off : NULL, act, alpha, y + off);
            }
        }
        t += cnt;
    }
}

#if defined(__x86_64__)
#define LSEG_WINO_AVX2 __attribute__((target("avx2,fma")))
LSEG_WINO_AVX2 static void input_transform_avx2(const float *x, const lseg_winograd_geometry *g, int64_t t_begin,
                                                int64_t t_end, int pre_relu, float *v, int64_t ld, int64_t plane) {
    input_transform(x, g, t_begin, t_end, pre_relu, v, ld, plane, 0);
}
LSEG_WINO_AVX2 static void output_transform_avx2(const float *m, int64_t ld, int64_t plane, const lseg_winograd_geometry *g,
                                                 int64_t t_begin, int64_t t_end, int64_t k_begin, int64_t k_end,
                                                 const float *bias, const float *residual, int act, float alpha,
                                                 float *y) {
    output_transform(m, ld, plane, g, t_begin, t_end, k_begin, k_end, bias, residual, act, alpha, y, 0);
}
LSEG_WINO_AVX512 static void input_transform_avx512(const float *x, const lseg_winograd_geometry *g, int64_t t_begin,
                                                    int64_t t_end, int pre_relu, float *v, int64_t ld, int64_t plane) {
    input_transform(x, g, t_begin, t_end, pre_relu, v, ld, plane, 1);
}
LSEG_WINO_AVX512 static void output_transform_avx512(const float *m, int64_t ld, int64_t plane,
                                                     const lseg_winograd_geometry *g, int64_t t_begin, int64_t t_end,
                                                     int64_t k_begin, int64_t k_end, const float *bias,
                                                     const float *residual, int act, float alpha, float *y) {
    output_transform(m, ld, plane, g, t_begin, t_end, k_begin, k_end, bias, residual, act, alpha, y, 1);
}
#endif

int lseg_winograd_transform_variant(int path) {
    switch (path) {
    case LSEG_WINOGRAD_SCALAR: return 0;
#if defined(__x86_64__)
    case LSEG_WINOGRAD_AVX2: return lseg_winograd_path_supported(path) ? 1 : -1;
    case LSEG_WINOGRAD_AVX512: return lseg_winograd_path_supported(path) ? 2 : -1;
#endif
#if defined(__aarch64__)
    case LSEG_WINOGRAD_NEON: return 0;
#endif
    default: return -1;
    }
}

int lseg_winograd_input_transform(int path, const float *x, const lseg_winograd_geometry *g, int64_t t_begin,
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

int lseg_winograd_output_transform(int path, const float *m, int64_t ld, int64_t plane, const lseg_winograd_geometry *g,
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
