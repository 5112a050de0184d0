/* The fused LSeg head at the source resolution (see kernels_head.h): Gram rows of the source
   pixels, then per output pixel a blend of dot products and a quadratic form for the norm.
   Plain loops the compiler vectorizes, built portable and with AVX2+FMA. */
#include "CKernels.h"
#include "basic_math.h"

enum { GRAM_BLOCK = 32 };

/* Rows per band: the band's block sums (5 planes of band x w floats) stay in L1. Walking channel
   by channel inside a band reads each channel's band rows as one contiguous run; walking row by
   row across channels would jump a whole plane per channel (planes of 4 KiB multiples alias in L1). */
static int64_t gram_band(int64_t w) {
    const int64_t band = 16384 / (20 * (w > 0 ? w : 1));
    return band < 1 ? 1 : band;
}

int64_t lseg_head_gram_rows_scratch(int64_t w) { return 5 * w * gram_band(w); }

/* Eight lanes through the compiler's vector extension: SSE pairs in the portable build, one
   ymm register in the AVX2 build (the auto-vectorizer left the three-sum loop scalar). */
typedef float gram_v8 __attribute__((vector_size(32)));
LSEG_INLINE gram_v8 gram_load(const float *p) { gram_v8 v; memcpy(&v, p, sizeof v); return v; }
LSEG_INLINE void gram_store(float *p, gram_v8 v) { memcpy(p, &v, sizeof v); }

/* The row sums below take CU channels per pass over a row (a[u] is channel u's source row, the row
   below it is a[u] + w): each sum is loaded and stored once per CU channels instead of once per
   channel, and still takes the channels one after another in order, so every sum sees the same
   operations in the same order as one channel at a time. */

/* Sums of one source row with itself and its right neighbour. */
LSEG_INLINE void gram_self(float *s0, float *sr, const float *const *a, const int CU, int64_t w) {
    int64_t j = 0;
    for (; j + 8 < w; j += 8) {
        gram_v8 v0 = gram_load(s0 + j), vr = gram_load(sr + j);
        for (int u = 0; u < CU; u++) {
            const gram_v8 av = gram_load(a[u] + j), an = gram_load(a[u] + j + 1);
            v0 = v0 + av * av;
            vr = vr + av * an;
        }
        gram_store(s0 + j, v0);
        gram_store(sr + j, vr);
    }
    for (; j + 1 < w; j++) {
        for (int u = 0; u < CU; u++) {
            s0[j] += a[u][j] * a[u][j];
            sr[j] += a[u][j] * a[u][j + 1];
        }
    }
    for (int u = 0; u < CU; u++) s0[w - 1] += a[u][w - 1] * a[u][w - 1];
}

/* Sums of a source row with the row below: straight down and both diagonals. */
LSEG_INLINE void gram_below(float *sd, float *sx, float *sy, const float *const *a, const int CU, int64_t w) {
    int64_t j = 0;
    for (; j + 8 < w; j += 8) {
        gram_v8 vd = gram_load(sd + j), vx = gram_load(sx + j), vy = gram_load(sy + j);
        for (int u = 0; u < CU; u++) {
            const float *b = a[u] + w;
            const gram_v8 av = gram_load(a[u] + j), an = gram_load(a[u] + j + 1);
            const gram_v8 bv = gram_load(b + j), bn = gram_load(b + j + 1);
            vd = vd + av * bv;
            vx = vx + av * bn;
            vy = vy + an * bv;
        }
        gram_store(sd + j, vd);
        gram_store(sx + j, vx);
        gram_store(sy + j, vy);
    }
    for (; j + 1 < w; j++) {
        for (int u = 0; u < CU; u++) {
            const float *b = a[u] + w;
            sd[j] += a[u][j] * b[j];
            sx[j] += a[u][j] * b[j + 1];
            sy[j] += a[u][j + 1] * b[j];
        }
    }
    for (int u = 0; u < CU; u++) sd[w - 1] += a[u][w - 1] * a[u][2 * w - 1];
}

/* out += f[u] * a[u] over a source row: one label's dot products, channel by channel. */
LSEG_INLINE void gram_axpy(float *out, const float *const *a, const float *f, const int CU, int64_t w) {
    gram_v8 fv[4];
    for (int u = 0; u < CU; u++) fv[u] = (gram_v8){f[u], f[u], f[u], f[u], f[u], f[u], f[u], f[u]};
    int64_t j = 0;
    for (; j + 8 <= w; j += 8) {
        gram_v8 v = gram_load(out + j);
        for (int u = 0; u < CU; u++) v = v + fv[u] * gram_load(a[u] + j);
        gram_store(out + j, v);
    }
    for (; j < w; j++)
        for (int u = 0; u < CU; u++) out[j] += f[u] * a[u][j];
}

/* Channels [c, c + CU) of the band's rows [ib, ie) into the block sums and the label planes. */
LSEG_INLINE void gram_channels(const float *restrict x, int64_t c, const int CU, int64_t channels, int64_t h,
                               int64_t w, int64_t ib, int64_t ie, float *restrict b0, float *restrict br,
                               float *restrict bd, float *restrict bx, float *restrict by,
                               const float *restrict features, int64_t labels, float *restrict proj) {
    const int64_t plane = h * w;
    for (int64_t i = ib; i < ie; i++) {
        const float *a[4];
        for (int u = 0; u < CU; u++) a[u] = x + (c + u) * plane + i * w;
        const int64_t o = (i - ib) * w;
        gram_self(b0 + o, br + o, a, CU, w);
        if (i + 1 < h) gram_below(bd + o, bx + o, by + o, a, CU, w);
        for (int64_t n = 0; n < labels; n++) gram_axpy(proj + n * plane + i * w, a, features + n * channels + c, CU, w);
    }
}

LSEG_INLINE void gram_rows_body(const float *restrict x, int64_t channels, int64_t h, int64_t w, int64_t i_begin,
                                int64_t i_end, float *restrict g0, float *restrict gr, float *restrict gd,
                                float *restrict gx, float *restrict gy, float *restrict n0, const float *restrict features,
                                int64_t labels, float *restrict proj, float *restrict scratch) {
    const int64_t plane = h * w, band = gram_band(w);
    for (int64_t ib = i_begin; ib < i_end; ib += band) {
        const int64_t ie = ib + band < i_end ? ib + band : i_end, cells = (ie - ib) * w;
        float *restrict b0 = scratch, *restrict br = b0 + cells, *restrict bd = br + cells;
        float *restrict bx = bd + cells, *restrict by = bx + cells;
        float *restrict t0 = g0 + ib * w, *restrict tr = gr + ib * w, *restrict td = gd + ib * w;
        float *restrict tx = gx + ib * w, *restrict ty = gy + ib * w;
        for (int64_t j = 0; j < cells; j++) { t0[j] = 0; tr[j] = 0; td[j] = 0; tx[j] = 0; ty[j] = 0; }
        for (int64_t n = 0; n < labels; n++) memset(proj + n * plane + ib * w, 0, (size_t)cells * sizeof(float));
        for (int64_t c0 = 0; c0 < channels; c0 += GRAM_BLOCK) {
            const int64_t c1 = c0 + GRAM_BLOCK < channels ? c0 + GRAM_BLOCK : channels;
            for (int64_t j = 0; j < cells; j++) { b0[j] = 0; br[j] = 0; bd[j] = 0; bx[j] = 0; by[j] = 0; }
            int64_t c = c0;
            for (; c + 4 <= c1; c += 4)
                gram_channels(x, c, 4, channels, h, w, ib, ie, b0, br, bd, bx, by, features, labels, proj);
            for (; c < c1; c++)
                gram_channels(x, c, 1, channels, h, w, ib, ie, b0, br, bd, bx, by, features, labels, proj);
            for (int64_t j = 0; j < cells; j++) { t0[j] += b0[j]; tr[j] += br[j]; td[j] += bd[j]; tx[j] += bx[j]; ty[j] += by[j]; }
        }
        for (int64_t j = 0; j < cells; j++) n0[ib * w + j] = __builtin_sqrtf(t0[j]);
    }
}

/* One pixel exactly, as the scalar reference: blend each channel in double, norm, dot, scale. */
static float exact_pixel(const float *x, const float *features, int64_t channels, int64_t plane, int64_t n,
                         int64_t ia, int64_t ib, int64_t jp, int64_t jq, double wy, double wx, double scale, int guard,
                         double eps) {
    double sum = 0, dot = 0;
    for (int64_t c = 0; c < channels; c++) {
        const float *p = x + c * plane;
        const double top = (1 - wx) * p[ia + jp] + wx * p[ia + jq];
        const double bottom = (1 - wx) * p[ib + jp] + wx * p[ib + jq];
        const double u = (1 - wy) * top + wy * bottom;
        sum += u * u;
        dot += u * features[n * channels + c];
    }
    double norm;
    if (guard == 1) { norm = __builtin_sqrt(sum); norm = norm > eps ? norm : eps; }
    else if (guard == 2) norm = __builtin_sqrt(sum + eps);
    else norm = __builtin_sqrt(sum);
    return (float)(scale * dot / norm);
}

LSEG_INLINE int64_t gram_pixels_body(const float *x, const float *features, int64_t channels, int64_t labels,
                                     int64_t h, int64_t w, int64_t H, int64_t W, const int64_t *row0,
                                     const int64_t *row1, const float *row_w, const int64_t *col0, const int64_t *col1,
                                     const float *col_w, const float *g0, const float *gr, const float *gd,
                                     const float *gx, const float *gy, const float *n0, const float *proj, float scale,
                                     int guard, float eps, int64_t r_begin, int64_t r_end, float *y,
                                     float *restrict scratch) {
    (void)h;
    int64_t exact = 0;
    const int64_t plane = h * w, out_plane = H * W;
    float *restrict rn = scratch, *restrict rx = rn + w, *restrict rm = rx + w, *restrict rp = rm + w;
    for (int64_t r = r_begin; r < r_end; r++) {
        const int64_t a = row0[r], b = row1[r];
        const float v1 = row_w[r], v0 = 1.0f - v1;
        const float *restrict ga0 = g0 + a * w, *restrict gb0 = g0 + b * w;
        const float *restrict gar = gr + a * w, *restrict gbr = gr + b * w;
        const float *restrict na = n0 + a * w, *restrict nb = n0 + b * w;
        const float cross = 2.0f * v0 * v1;
        if (b == a) {
            for (int64_t j = 0; j < w; j++) { rn[j] = ga0[j]; rx[j] = gar[j]; rm[j] = na[j]; }
        } else {
            const float *restrict gad = gd + a * w, *restrict gax = gx + a * w, *restrict gay = gy + a * w;
            for (int64_t j = 0; j < w; j++) {
                rn[j] = v0 * v0 * ga0[j] + v1 * v1 * gb0[j] + cross * gad[j];
                rx[j] = v0 * v0 * gar[j] + v1 * v1 * gbr[j] + v0 * v1 * (gax[j] + gay[j]);
                rm[j] = v0 * na[j] + v1 * nb[j];
            }
        }
        for (int64_t n = 0; n < labels; n++) {
            const float *restrict pa = proj + n * plane + a * w, *restrict pb = proj + n * plane + b * w;
            float *restrict out = rp + n * w;
            for (int64_t j = 0; j < w; j++) out[j] = v0 * pa[j] + v1 * pb[j];
        }
        for (int64_t c = 0; c < W; c++) {
            const int64_t p = col0[c], q = col1[c];
            const float u1 = col_w[c], u0 = 1.0f - u1;
            float sq, mag, l0, l1;
            if (q == p) {
                sq = rn[p]; mag = rm[p]; l0 = 1.0f; l1 = 0.0f;
            } else {
                sq = u0 * u0 * rn[p] + u1 * u1 * rn[q] + 2.0f * u0 * u1 * rx[p];
                mag = u0 * rm[p] + u1 * rm[q]; l0 = u0; l1 = u1;
            }
            float *yo = y + r * W + c;
            if (!(sq * 64.0f >= mag * mag)) {
                /* The Gram form cancelled (or saw a NaN): this pixel from the vectors themselves. */
                exact++;
                for (int64_t n = 0; n < labels; n++) {
                    yo[n * out_plane] = exact_pixel(x, features, channels, plane, n, a * w, b * w, p, q, v1, u1,
                                                    scale, guard, eps);
                }
                continue;
            }
            float f;
            if (guard == 1) { float nn = __builtin_sqrtf(sq); f = scale / (nn > eps ? nn : eps); }
            else if (guard == 2) f = scale / __builtin_sqrtf(sq + eps);
            else f = scale / __builtin_sqrtf(sq);
            for (int64_t n = 0; n < labels; n++) {
                const float *row = rp + n * w;
                yo[n * out_plane] = (l0 * row[p] + (q == p ? 0.0f : l1 * row[q])) * f;
            }
        }
    }
    return exact;
}

static void gram_rows_portable(const float *x, int64_t C, int64_t h, int64_t w, int64_t i0, int64_t i1, float *g0,
                               float *gr, float *gd, float *gx, float *gy, float *n0, const float *f, int64_t N,
                               float *proj, float *s) {
    gram_rows_body(x, C, h, w, i0, i1, g0, gr, gd, gx, gy, n0, f, N, proj, s);
}
static int64_t gram_pixels_portable(const float *x, const float *f, int64_t C, int64_t N, int64_t h, int64_t w,
                                    int64_t H, int64_t W, const int64_t *r0, const int64_t *r1, const float *rw,
                                    const int64_t *c0, const int64_t *c1, const float *cw, const float *g0,
                                    const float *gr, const float *gd, const float *gx, const float *gy, const float *n0,
                                    const float *proj, float scale, int guard, float eps, int64_t rb, int64_t re,
                                    float *y, float *s) {
    return gram_pixels_body(x, f, C, N, h, w, H, W, r0, r1, rw, c0, c1, cw, g0, gr, gd, gx, gy, n0, proj, scale,
                            guard, eps, rb, re, y, s);
}
#if LSEG_X86
LSEG_AVX2 static void gram_rows_avx2(const float *x, int64_t C, int64_t h, int64_t w, int64_t i0, int64_t i1,
                                     float *g0, float *gr, float *gd, float *gx, float *gy, float *n0, const float *f,
                                     int64_t N, float *proj, float *s) {
    gram_rows_body(x, C, h, w, i0, i1, g0, gr, gd, gx, gy, n0, f, N, proj, s);
}
LSEG_AVX2 static int64_t gram_pixels_avx2(const float *x, const float *f, int64_t C, int64_t N, int64_t h, int64_t w,
                                          int64_t H, int64_t W, const int64_t *r0, const int64_t *r1, const float *rw,
                                          const int64_t *c0, const int64_t *c1, const float *cw, const float *g0,
                                          const float *gr, const float *gd, const float *gx, const float *gy,
                                          const float *n0, const float *proj, float scale, int guard, float eps,
                                          int64_t rb, int64_t re, float *y, float *s) {
    return gram_pixels_body(x, f, C, N, h, w, H, W, r0, r1, rw, c0, c1, cw, g0, gr, gd, gx, gy, n0, proj, scale,
                            guard, eps, rb, re, y, s);
}
#endif

void lseg_head_gram_rows(const float *x, int64_t channels, int64_t h, int64_t w, int64_t i_begin, int64_t i_end,
                         float *g0, float *gr, float *gd, float *gx, float *gy, float *n0, const float *features,
                         int64_t labels, float *proj, float *scratch) {
    if (w <= 0 || i_begin >= i_end) return;
#if LSEG_X86
    if (lseg_basic_use_avx2()) {
        gram_rows_avx2(x, channels, h, w, i_begin, i_end, g0, gr, gd, gx, gy, n0, features, labels, proj, scratch);
        return;
    }
#endif
    gram_rows_portable(x, channels, h, w, i_begin, i_end, g0, gr, gd, gx, gy, n0, features, labels, proj, scratch);
}

int64_t lseg_head_gram_pixels(const float *x, const float *features, int64_t channels, int64_t labels, int64_t h,
                              int64_t w, int64_t H, int64_t W, const int64_t *row0, const int64_t *row1,
                              const float *row_w, const int64_t *col0, const int64_t *col1, const float *col_w,
                              const float *g0, const float *gr, const float *gd, const float *gx, const float *gy,
                              const float *n0, const float *proj, float scale, int guard, float eps,
                              int64_t r_begin, int64_t r_end, float *y, float *scratch) {
#if LSEG_X86
    if (lseg_basic_use_avx2())
        return gram_pixels_avx2(x, features, channels, labels, h, w, H, W, row0, row1, row_w, col0, col1, col_w, g0,
                                gr, gd, gx, gy, n0, proj, scale, guard, eps, r_begin, r_end, y, scratch);
#endif
    return gram_pixels_portable(x, features, channels, labels, h, w, H, W, row0, row1, row_w, col0, col1, col_w, g0,
                                gr, gd, gx, gy, n0, proj, scale, guard, eps, r_begin, r_end, y, scratch);
}
