#include "kernels_heavy.h"
#include "CKernels.h"
#include <string.h>

/* Winograd F(4x4, 3x3) (Lavin & Gray, interpolation points 0, 1, -1, 2, -2, inf):
   Y = A^T [ (G g G^T) .* (B^T d B) ] A over 6x6 input tiles d giving 4x4 output tiles.
   The batched products between the transforms are sgemm calls made by the caller. */

void lseg_winograd_filter_transform(const float *weight, int64_t K, int64_t C, int64_t k_begin, int64_t k_end,
                                    float *u) {
    const int64_t plane = K * C;
    for (int64_t k = k_begin; k < k_end; k++) {
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
                for (int j = 0; j < 6; j++) u[(i * 6 + j) * plane + k * C + c] = r[j];
            }
        }
    }
}

/* Both transforms walk the tile range as segments of one tile row (at most SEG tiles) and
   vectorise along the row: the horizontal pass reads the row at stride 4 (an interleaved access
   the compiler turns into shuffles), the vertical pass is contiguous in the tile index. Image
   borders and padding are handled once per row by copying it into a zero-padded buffer. */
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

static inline __attribute__((always_inline)) void input_transform(
    const float *x, const lseg_winograd_geometry *g, int64_t t_begin, int64_t t_end, int pre_relu, float *v,
    int64_t ld, int64_t xi_stride) {
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
            for (int r = 0; r < 6; r++) {
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
            for (int j = 0; j < 6; j++) {
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
    /* Padding columns [t_end - t_begin, ld) are zero so the products over them stay finite. */
    const int64_t used = t_end - t_begin;
    if (ld > used) {
        for (int xi = 0; xi < 36; xi++)
            for (int64_t c = 0; c < C; c++) memset(v + xi * xi_stride + c * ld + used, 0, sizeof(float) * (size_t)(ld - used));
    }
}

static inline __attribute__((always_inline)) void output_transform(
    const float *m, int64_t ld, int64_t xi_stride, const lseg_winograd_geometry *g, int64_t t_begin, int64_t t_end,
    int64_t k_begin, int64_t k_end, const float *bias, const float *residual, int act, float alpha, float *y) {
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
                for (int64_t i = 0; i < cnt; i++) {
                    float m0 = e0[i], m1 = e1[i], m2 = e2[i], m3 = e3[i], m4 = e4[i], m5 = e5[i];
                    float p = m1 + m2, q = m1 - m2, r = m3 + m4, e = m3 - m4;
                    out[4 * i] = m0 + p + r + bk;
                    out[4 * i + 1] = q + 2.0f * e + bk;
                    out[4 * i + 2] = p + 4.0f * r + bk;
                    out[4 * i + 3] = q + 8.0f * e + m5 + bk;
                }
                const int64_t off = (sg.n * K + k) * OHW + (oh0 + r4) * OW + ow0;
                float *dst = y + off;
                if (residual) {
                    const float *res = residual + off;
                    for (int64_t q = 0; q < cols; q++) out[q] += res[q];
                }
                if (act == LSEG_ACT_RELU) {
                    for (int64_t q = 0; q < cols; q++) dst[q] = out[q] > 0.0f ? out[q] : 0.0f;
                } else if (act == LSEG_ACT_LEAKYRELU) {
                    for (int64_t q = 0; q < cols; q++) dst[q] = out[q] >= 0.0f ? out[q] : alpha * out[q];
                } else {
                    memcpy(dst, out, sizeof(float) * (size_t)cols);
                }
            }
        }
        t += cnt;
    }
}

#if defined(__x86_64__)
#define LSEG_WINO_AVX2 __attribute__((target("avx2,fma")))
LSEG_WINO_AVX2 static void input_transform_avx2(const float *x, const lseg_winograd_geometry *g, int64_t t_begin,
                                                int64_t t_end, int pre_relu, float *v, int64_t ld, int64_t plane) {
    input_transform(x, g, t_begin, t_end, pre_relu, v, ld, plane);
}
LSEG_WINO_AVX2 static void output_transform_avx2(const float *m, int64_t ld, int64_t plane, const lseg_winograd_geometry *g,
                                                 int64_t t_begin, int64_t t_end, int64_t k_begin, int64_t k_end,
                                                 const float *bias, const float *residual, int act, float alpha,
                                                 float *y) {
    output_transform(m, ld, plane, g, t_begin, t_end, k_begin, k_end, bias, residual, act, alpha, y);
}
#endif

static int use_avx2(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (cached < 0) cached = lseg_cpu_has_avx2();
    return cached;
#else
    return 0;
#endif
}

void lseg_winograd_input_transform(const float *x, const lseg_winograd_geometry *g, int64_t t_begin, int64_t t_end,
                                   int pre_relu, float *v, int64_t ld, int64_t plane) {
#if defined(__x86_64__)
    if (use_avx2()) { input_transform_avx2(x, g, t_begin, t_end, pre_relu, v, ld, plane); return; }
#endif
    input_transform(x, g, t_begin, t_end, pre_relu, v, ld, plane);
}

void lseg_winograd_output_transform(const float *m, int64_t ld, int64_t plane, const lseg_winograd_geometry *g,
                                    int64_t t_begin, int64_t t_end, int64_t k_begin, int64_t k_end, const float *bias,
                                    const float *residual, int act, float alpha, float *y) {
#if defined(__x86_64__)
    if (use_avx2()) {
        output_transform_avx2(m, ld, plane, g, t_begin, t_end, k_begin, k_end, bias, residual, act, alpha, y);
        return;
    }
#endif
    output_transform(m, ld, plane, g, t_begin, t_end, k_begin, k_end, bias, residual, act, alpha, y);
}
