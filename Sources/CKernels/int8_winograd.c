/* Int8 Winograd F(2x2, 3x3): the numerics are documented in kernels_int8.h. The scalar
   reference below defines them; the AVX-512 VNNI kernel computes the same floats and int32 sums
   in the same order (tests compare them bit for bit).

   Per block (48 consecutive tiles, 16 a vector; see wg_geom): each vector's input tiles are
   transformed once into scratch while the per-point maxima over channels are taken, then
   quantized; the quantized block [16 points][C/4][48 tiles][4] is the vector side of 16 products
   per 8 output channels, 8 x 48 tiles each, whose dequantized sums are folded into the output
   transform as they come. */
#include "int8_vnni.h"
#include "kernels_heavy.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

typedef struct {
    int64_t C, C4, kp, K8, H, W, OH, OW, TH, TW, tiles, blocks;
    int64_t block;  /* tiles per block: 48, or one row of tiles when rows are narrower than 16 */
} wg_geometry;

static wg_geometry wg_geom(const lseg_i8_window *w, int64_t cout) {
    wg_geometry g;
    g.C = w->channels;
    g.C4 = (g.C + 3) / 4;
    g.kp = g.C4 * 4;
    g.K8 = (cout + 7) / 8;
    g.H = w->height; g.W = w->width; g.OH = w->out_height; g.OW = w->out_width;
    g.TH = (g.OH + 1) / 2; g.TW = (g.OW + 1) / 2;
    g.tiles = g.TH * g.TW;
    /* Tiles are numbered row by row; a block is 48 consecutive ones, so a 16-tile vector spans at
       most two rows when rows hold 16 or more (a 48-wide output's 24-tile rows fill the lanes).
       Narrower rows get a block each (their vector's lanes past the row are wasted). */
    g.block = g.TW >= 16 ? LSEG_I8_WINOGRAD_BLOCK : g.TW;
    g.blocks = (g.tiles + g.block - 1) / g.block;
    return g;
}

int lseg_i8_winograd_supported(const lseg_i8_window *w) {
    return w->kernel_h == 3 && w->kernel_w == 3 && w->stride_h == 1 && w->stride_w == 1 && w->dilation_h == 1
        && w->dilation_w == 1 && w->pad_h == 1 && w->pad_w == 1 && w->out_height == w->height
        && w->out_width == w->width && w->channels > 0 && w->height > 0 && w->width > 0;
}

int64_t lseg_i8_winograd_blocks(const lseg_i8_window *w) {
    const wg_geometry g = wg_geom(w, 1);
    return g.blocks;
}

/* Scratch: quantized block [16][C4][48][4] bytes, then per point 48 scales and 48 inverse
   scales, the output partial sums S [4][2][8][48] floats, and one vector's transformed values
   [C4 * 4][16][16] floats. */
static int64_t wg_q_bytes(const wg_geometry *g) { return 16 * g->C4 * LSEG_I8_WINOGRAD_BLOCK * 4; }
static int64_t wg_fixed_bytes(const wg_geometry *g) {
    return wg_q_bytes(g) + 2 * 16 * LSEG_I8_WINOGRAD_BLOCK * 4 + 4 * 2 * 8 * LSEG_I8_WINOGRAD_BLOCK * 4;
}
int64_t lseg_i8_winograd_scratch_bytes(const lseg_i8_window *w) {
    const wg_geometry g = wg_geom(w, 1);
    return wg_fixed_bytes(&g) + g.kp * 16 * 16 * 4;
}

/* Packed weights: int8 [K8][16][8][kp] (rows of the products, zero padded), then float us
   [K8][16][8] and int32 corrections 128 * sum_c u [K8][16][8]. */
int64_t lseg_i8_winograd_weights_bytes(int64_t cout, const lseg_i8_window *w) {
    const wg_geometry g = wg_geom(w, cout);
    return g.K8 * 16 * 8 * (g.kp + 8);
}

static void wg_transform_filter(const int8_t *f, int32_t u[16]) {
    static const int32_t G2[4][3] = {{2, 0, 0}, {1, 1, 1}, {1, -1, 1}, {0, 0, 2}};
    int32_t t[4][3];
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++) t[i][k] = G2[i][0] * f[k] + G2[i][1] * f[3 + k] + G2[i][2] * f[6 + k];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) u[4 * i + j] = t[i][0] * G2[j][0] + t[i][1] * G2[j][1] + t[i][2] * G2[j][2];
}

void lseg_i8_winograd_pack_weights(const int8_t *w, const float *scale, int64_t cout, const lseg_i8_window *win,
                                   void *packed) {
    const wg_geometry g = wg_geom(win, cout);
    int8_t *U = (int8_t *)packed;
    float *us = (float *)(U + g.K8 * 16 * 8 * g.kp);
    int32_t *corr = (int32_t *)(us + g.K8 * 16 * 8);
    memset(packed, 0, (size_t)lseg_i8_winograd_weights_bytes(cout, win));
    for (int64_t o = 0; o < cout; o++) {
        int32_t mx[16] = {0}, u[16];
        for (int64_t c = 0; c < g.C; c++) {
            wg_transform_filter(w + (o * g.C + c) * 9, u);
            for (int p = 0; p < 16; p++) mx[p] = abs(u[p]) > mx[p] ? abs(u[p]) : mx[p];
        }
        int32_t sum[16] = {0};
        for (int64_t c = 0; c < g.C; c++) {
            wg_transform_filter(w + (o * g.C + c) * 9, u);
            for (int p = 0; p < 16; p++) {
                const int32_t q = mx[p] <= 127 ? u[p] : (int32_t)nearbyint((double)u[p] * 127.0 / (double)mx[p]);
                U[(((o / 8) * 16 + p) * 8 + o % 8) * g.kp + c] = (int8_t)q;
                sum[p] += q;
            }
        }
        for (int p = 0; p < 16; p++) {
            const int64_t at = ((o / 8) * 16 + p) * 8 + o % 8;
            const double rescale = mx[p] <= 127 ? 1.0 : (double)mx[p] / 127.0;
            us[at] = (float)((double)scale[o] / 4.0 * rescale);
            corr[at] = (int32_t)((uint32_t)sum[p] * 128u);
        }
    }
}

/* ---- scalar reference ---- */

static inline float wg_clamp(float v, float lo, float hi) {
    /* As the vector max(v, lo) then min(., hi): NaN becomes lo. */
    v = v > lo ? v : lo;
    return v < hi ? v : hi;
}

/* The 16 transformed values of tile (th, tw) of one channel plane. */
static void wg_tile_scalar(const float *xc, const wg_geometry *g, float lo, float hi, int64_t th, int64_t tw, float v[16]) {
    float h[4][4];
    for (int i = 0; i < 4; i++) {
        const int64_t r = 2 * th - 1 + i;
        float d[4];
        for (int j = 0; j < 4; j++) {
            const int64_t col = 2 * tw - 1 + j;
            d[j] = r >= 0 && r < g->H && col >= 0 && col < g->W ? wg_clamp(xc[r * g->W + col], lo, hi) : 0.0f;
        }
        h[i][0] = d[0] - d[2]; h[i][1] = d[1] + d[2]; h[i][2] = d[2] - d[1]; h[i][3] = d[1] - d[3];
    }
    for (int k = 0; k < 4; k++) {
        v[k] = h[0][k] - h[2][k]; v[4 + k] = h[1][k] + h[2][k]; v[8 + k] = h[2][k] - h[1][k]; v[12 + k] = h[1][k] - h[3][k];
    }
}

static inline float wg_act(float v, const lseg_i8_epilogue *ep) {
    if (ep->act == LSEG_ACT_RELU) return v > 0.0f ? v : 0.0f;
    if (ep->act == LSEG_ACT_LEAKYRELU) return v < 0.0f ? v * ep->alpha : v;
    return v;
}

void lseg_i8_winograd_reference(const float *x, float lo, float hi, const void *packed, int64_t cout,
                                const lseg_i8_window *w, int64_t block_begin, int64_t block_end,
                                const lseg_i8_epilogue *ep) {
    const wg_geometry g = wg_geom(w, cout);
    const int8_t *U = (const int8_t *)packed;
    const float *us = (const float *)(U + g.K8 * 16 * 8 * g.kp);
    const int32_t *corr = (const int32_t *)(us + g.K8 * 16 * 8);
    uint8_t *q = (uint8_t *)malloc((size_t)(16 * g.C));
    float *v = (float *)malloc((size_t)(16 * g.C) * sizeof(float));
    if (!q || !v) { free(q); free(v); return; }
    for (int64_t b = block_begin; b < block_end; b++) {
        const int64_t t0 = b * g.block, t1 = t0 + g.block < g.tiles ? t0 + g.block : g.tiles;
        for (int64_t t = t0; t < t1; t++) {
            const int64_t th = t / g.TW, tw = t % g.TW;
            float mx[16] = {0}, s[16], inv[16];
            for (int64_t c = 0; c < g.C; c++) {
                wg_tile_scalar(x + c * g.H * g.W, &g, lo, hi, th, tw, v + 16 * c);
                for (int p = 0; p < 16; p++) {
                    const float a = fabsf(v[16 * c + p]);
                    mx[p] = mx[p] > a ? mx[p] : a;  /* as _mm512_max_ps(mx, a) with a not NaN */
                }
            }
            for (int p = 0; p < 16; p++) {
                s[p] = mx[p] / 127.0f;
                inv[p] = mx[p] > 0.0f ? 127.0f / mx[p] : 0.0f;
            }
            for (int64_t c = 0; c < g.C; c++)
                for (int p = 0; p < 16; p++) q[16 * c + p] = (uint8_t)((int32_t)nearbyintf(v[16 * c + p] * inv[p]) + 128);
            for (int64_t o = 0; o < cout; o++) {
                float S[4][2];
                for (int p = 0; p < 16; p++) {
                    const int64_t at = ((o / 8) * 16 + p) * 8 + o % 8;
                    const int8_t *u = U + at * g.kp;
                    int32_t acc = 0;
                    for (int64_t c = 0; c < g.C; c++) acc += (int32_t)q[16 * c + p] * u[c];
                    const float m = (float)(int32_t)((uint32_t)acc - (uint32_t)corr[at]) * us[at] * s[p];
                    const int i = p / 4, j = p % 4;
                    if (j == 0) S[i][0] = m;
                    else if (j == 1) { S[i][0] = S[i][0] + m; S[i][1] = m; }
                    else if (j == 2) { S[i][0] = S[i][0] + m; S[i][1] = S[i][1] - m; }
                    else S[i][1] = S[i][1] - m;
                }
                for (int a = 0; a < 2; a++) {
                    for (int k = 0; k < 2; k++) {
                        const int64_t oh = 2 * th + a, ow = 2 * tw + k;
                        if (oh >= g.OH || ow >= g.OW) continue;
                        float y = a == 0 ? S[0][k] + S[1][k] + S[2][k] : S[1][k] - S[2][k] - S[3][k];
                        y = y + (ep->bias ? ep->bias[o] : 0.0f);  /* always added, as the kernel does (-0 -> +0) */
                        const int64_t at = o * ep->ldy + oh * g.OW + ow;
                        if (ep->residual) y = y + ep->residual[at];
                        ep->y[at] = wg_act(y, ep);
                        /* The other activations through the shared function (elementwise, the same
                           floats however the kernel groups its calls). */
                        if (!lseg_i8_act_in_store(ep->act)) lseg_bias_activation(ep->y + at, 1, 1, 1, NULL, NULL, ep->act, ep->alpha);
                    }
                }
            }
        }
    }
    free(q);
    free(v);
}

/* ---- AVX-512 VNNI ---- */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include "int8_vnni_accumulate.h"

/* Lanes [lo, hi) of a 16-lane mask, clipped to [0, 16). */
static inline __mmask16 wg_lanes(int64_t lo, int64_t hi) {
    if (lo < 0) lo = 0;
    if (hi > 16) hi = 16;
    if (hi <= lo) return 0;
    return (__mmask16)(((1u << (hi - lo)) - 1) << lo);
}

typedef struct {
    __mmask16 m[4];   /* column masks of the four loads of a row (offsets 0, 16, 2, 18 from s) */
    int64_t s;        /* first input column of the vector's tiles: 2 tw - 1 */
} wg_cols;

static wg_cols wg_columns(const wg_geometry *g, int64_t tw) {
    wg_cols c;
    c.s = 2 * tw - 1;
    static const int off[4] = {0, 16, 2, 18};
    for (int k = 0; k < 4; k++) c.m[k] = wg_lanes(-(c.s + off[k]), g->W - (c.s + off[k]));
    return c;
}

/* The 16 transformed vectors (16 tiles from tw, one channel plane xc) of tile row th. */
VNNI static inline __attribute__((always_inline)) void wg_tile16(const float *xc, const wg_geometry *g, const wg_cols *cols,
                                                                 int64_t th, __m512 lo, __m512 hi, __m512 v[16]) {
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    __m512 h[4][4];
    for (int i = 0; i < 4; i++) {
        const int64_t r = 2 * th - 1 + i;
        __m512 d0, d1, d2, d3;
        if (r < 0 || r >= g->H) {
            d0 = d1 = d2 = d3 = _mm512_setzero_ps();
        } else {
            /* Masked-off lanes are neither read nor faulted: the pointer may start a column before the row. */
            const float *base = xc + r * g->W + cols->s;
            __m512 a = _mm512_maskz_loadu_ps(cols->m[0], base), b = _mm512_maskz_loadu_ps(cols->m[1], base + 16);
            __m512 a2 = _mm512_maskz_loadu_ps(cols->m[2], base + 2), b2 = _mm512_maskz_loadu_ps(cols->m[3], base + 18);
            /* Clamp only the loaded lanes: the padding stays 0 (lo <= 0 <= hi). */
            a = _mm512_mask_min_ps(a, cols->m[0], _mm512_max_ps(a, lo), hi);
            b = _mm512_mask_min_ps(b, cols->m[1], _mm512_max_ps(b, lo), hi);
            a2 = _mm512_mask_min_ps(a2, cols->m[2], _mm512_max_ps(a2, lo), hi);
            b2 = _mm512_mask_min_ps(b2, cols->m[3], _mm512_max_ps(b2, lo), hi);
            d0 = _mm512_permutex2var_ps(a, ev, b);
            d1 = _mm512_permutex2var_ps(a, od, b);
            d2 = _mm512_permutex2var_ps(a2, ev, b2);
            d3 = _mm512_permutex2var_ps(a2, od, b2);
        }
        h[i][0] = _mm512_sub_ps(d0, d2);
        h[i][1] = _mm512_add_ps(d1, d2);
        h[i][2] = _mm512_sub_ps(d2, d1);
        h[i][3] = _mm512_sub_ps(d1, d3);
    }
    for (int k = 0; k < 4; k++) {
        v[k] = _mm512_sub_ps(h[0][k], h[2][k]);
        v[4 + k] = _mm512_add_ps(h[1][k], h[2][k]);
        v[8 + k] = _mm512_sub_ps(h[2][k], h[1][k]);
        v[12 + k] = _mm512_sub_ps(h[1][k], h[3][k]);
    }
}

/* Where a vector's 16 consecutive tiles lie: `split` lanes in row th from tw, the rest (if any)
   from the start of row th + 1. */
typedef struct {
    int64_t th, tw, split, lanes;
    wg_cols first, second;
    __mmask16 next;  /* lanes of row th + 1 */
} wg_vector;

static wg_vector wg_locate(const wg_geometry *g, int64_t t, int64_t lanes) {
    wg_vector v;
    v.th = t / g->TW; v.tw = t % g->TW;
    v.lanes = lanes < 16 ? lanes : 16;
    v.split = g->TW - v.tw < v.lanes ? g->TW - v.tw : v.lanes;
    v.first = wg_columns(g, v.tw);
    /* Lane l of the second part is tile l - split of row th + 1. */
    v.second = wg_columns(g, -v.split);
    v.next = v.split < v.lanes ? wg_lanes(v.split, 16) : 0;
    return v;
}

/* The vector's 16 transformed values of one channel plane, both parts blended. */
VNNI static inline __attribute__((always_inline)) void wg_vector16(const float *xc, const wg_geometry *g, const wg_vector *vec,
                                                                   __m512 lo, __m512 hi, __m512 v[16]) {
    wg_tile16(xc, g, &vec->first, vec->th, lo, hi, v);
    if (vec->next) {
        __m512 w[16];
        wg_tile16(xc, g, &vec->second, vec->th + 1, lo, hi, w);
        for (int p = 0; p < 16; p++) v[p] = _mm512_mask_blend_ps(vec->next, v[p], w[p]);
    }
}

/* Quantizes the block's tiles [t0, t0 + n) into q [16][C4][48][4], scales s and inverses inv
   [16][48]: per vector of 16 tiles, the transformed values go to vb ([C][16][16] floats, kept
   for the second pass: recomputing them cost more than the L2 round trip) while their maxima
   are taken, then are quantized 4 channels at a time. round_half_even(v * inv) is taken from
   the low byte of v * inv + 1.5 * 2^23 (exact for |v * inv| <= 2^22; here <= 127), then + 128
   as a flip of the top bit. */
VNNI static void wg_quantize_block(const float *x, const wg_geometry *g, float lo_f, float hi_f, int64_t t0,
                                   int64_t n, uint8_t *q, float *s, float *inv, float *vb) {
    const __m512 lo = _mm512_set1_ps(lo_f), hi = _mm512_set1_ps(hi_f);
    const int64_t plane = g->H * g->W, pstride = g->C4 * LSEG_I8_WINOGRAD_BLOCK * 4;
    for (int64_t vi = 0; vi * 16 < n; vi++) {
        const wg_vector vec = wg_locate(g, t0 + 16 * vi, n - 16 * vi);
        __m512 mx[16];
        for (int p = 0; p < 16; p++) mx[p] = _mm512_setzero_ps();
        for (int64_t c = 0; c < g->C; c++) {
            __m512 v[16];
            wg_vector16(x + c * plane, g, &vec, lo, hi, v);
            for (int p = 0; p < 16; p++) { mx[p] = _mm512_max_ps(mx[p], _mm512_abs_ps(v[p])); _mm512_storeu_ps(vb + (c * 16 + p) * 16, v[p]); }
        }
        for (int p = 0; p < 16; p++) {
            _mm512_storeu_ps(s + p * LSEG_I8_WINOGRAD_BLOCK + 16 * vi, _mm512_div_ps(mx[p], _mm512_set1_ps(127.0f)));
            __m512 iv = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(mx[p], _mm512_setzero_ps(), _CMP_GT_OQ), _mm512_set1_ps(127.0f), mx[p]);
            _mm512_storeu_ps(inv + p * LSEG_I8_WINOGRAD_BLOCK + 16 * vi, iv);
        }
        const __m512 magic = _mm512_set1_ps(12582912.0f);
        const __m512i flip = _mm512_set1_epi32((int32_t)0x80808080u);
        for (int64_t cg = 0; cg < g->C4; cg++) {
            __m512i word[16];
            for (int t = 0; t < 4; t++) {
                const int64_t c = cg * 4 + t;
                const __mmask64 bm = (__mmask64)(0x1111111111111111ull << t);
                for (int p = 0; p < 16; p++) {
                    __m512i bits;
                    if (c < g->C) {
                        const __m512 f = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(vb + (c * 16 + p) * 16), _mm512_loadu_ps(inv + p * LSEG_I8_WINOGRAD_BLOCK + 16 * vi)), magic);
                        bits = _mm512_castps_si512(f);
                    } else bits = _mm512_setzero_si512();
                    if (t == 0) word[p] = bits;
                    else word[p] = _mm512_mask_mov_epi8(word[p], bm, _mm512_slli_epi32(bits, 8 * t));
                }
            }
            for (int p = 0; p < 16; p++)
                _mm512_storeu_si512(q + p * pstride + (cg * LSEG_I8_WINOGRAD_BLOCK + 16 * vi) * 4, _mm512_xor_si512(word[p], flip));
        }
    }
}

/* Products of 8 output channels (block ob) over the block's 16 points and the output transform. */
/* Dequantized product m of row r, vector v (point p's tile scales sv, the row's weight scale ws
   and correction cr). */
#define WG_M(r, v) _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][v], cr)), ws), sv[v])
#define WG_PRODUCTS(NAME, V)                                                                                 \
VNNI static void NAME(const wg_geometry *g, const int8_t *U, const float *us, const int32_t *corr, int64_t ob,  \
                      const uint8_t *q, const float *s, float *S) {                                            \
    const int64_t pstride = g->C4 * LSEG_I8_WINOGRAD_BLOCK * 4;                                              \
    for (int p = 0; p < 16; p++) {                                                                           \
        __m512i acc[8][3];                                                                                   \
        accumulate_8xv(U + (ob * 16 + p) * 8 * g->kp, q + p * pstride, g->kp, LSEG_I8_WINOGRAD_BLOCK, V, acc); \
        const int i = p / 4, j = p % 4;                                                                      \
        float *S0 = S + (i * 2 + 0) * 8 * LSEG_I8_WINOGRAD_BLOCK, *S1 = S + (i * 2 + 1) * 8 * LSEG_I8_WINOGRAD_BLOCK; \
        const int64_t at = (ob * 16 + p) * 8;                                                                \
        __m512 sv[3];                                                                                        \
        for (int v = 0; v < V; v++) sv[v] = _mm512_loadu_ps(s + p * LSEG_I8_WINOGRAD_BLOCK + 16 * v);         \
        /* One loop per point column: S[i][0] = m0 + m1 + m2, S[i][1] = m1 - m2 - m3, in that order. */    \
        switch (j) {                                                                                         \
        case 0:                                                                                              \
            for (int r = 0; r < 8; r++) {                                                                    \
                const __m512i cr = _mm512_set1_epi32(corr[at + r]);                                          \
                const __m512 ws = _mm512_set1_ps(us[at + r]);                                                \
                for (int v = 0; v < V; v++) _mm512_storeu_ps(S0 + r * LSEG_I8_WINOGRAD_BLOCK + 16 * v, WG_M(r, v)); \
            }                                                                                                \
            break;                                                                                           \
        case 1:                                                                                              \
        case 2:                                                                                              \
            for (int r = 0; r < 8; r++) {                                                                    \
                const __m512i cr = _mm512_set1_epi32(corr[at + r]);                                          \
                const __m512 ws = _mm512_set1_ps(us[at + r]);                                                \
                for (int v = 0; v < V; v++) {                                                                \
                    float *a0 = S0 + r * LSEG_I8_WINOGRAD_BLOCK + 16 * v, *a1 = S1 + r * LSEG_I8_WINOGRAD_BLOCK + 16 * v; \
                    const __m512 m = WG_M(r, v);                                                             \
                    _mm512_storeu_ps(a0, _mm512_add_ps(_mm512_loadu_ps(a0), m));                             \
                    _mm512_storeu_ps(a1, j == 1 ? m : _mm512_sub_ps(_mm512_loadu_ps(a1), m));                \
                }                                                                                            \
            }                                                                                                \
            break;                                                                                           \
        default:                                                                                             \
            for (int r = 0; r < 8; r++) {                                                                    \
                const __m512i cr = _mm512_set1_epi32(corr[at + r]);                                          \
                const __m512 ws = _mm512_set1_ps(us[at + r]);                                                \
                for (int v = 0; v < V; v++) {                                                                \
                    float *a1 = S1 + r * LSEG_I8_WINOGRAD_BLOCK + 16 * v;                                    \
                    _mm512_storeu_ps(a1, _mm512_sub_ps(_mm512_loadu_ps(a1), WG_M(r, v)));                    \
                }                                                                                            \
            }                                                                                                \
        }                                                                                                    \
    }                                                                                                        \
}
WG_PRODUCTS(wg_products_1, 1)
WG_PRODUCTS(wg_products_2, 2)
WG_PRODUCTS(wg_products_3, 3)
#undef WG_PRODUCTS
#undef WG_M

/* Bias, residual, activation and the store of columns [col + first, col + last) of one output
   row (first <= last <= 32, col may be negative: the lanes before column 0 are masked off) from
   the 32 interleaved values lo16, hi16. */
VNNI static inline void wg_store(float *y, const float *res, __m512 lo16, __m512 hi16, __m512 bias, int64_t col,
                                 int64_t first, int64_t last, int64_t OW, const lseg_i8_epilogue *ep) {
    if (last > OW - col) last = OW - col;
    if (last <= first) return;
    const __mmask16 m0 = wg_lanes(first, last), m1 = wg_lanes(first - 16, last - 16);
    __m512 f0 = _mm512_add_ps(lo16, bias), f1 = _mm512_add_ps(hi16, bias);
    if (res) {
        f0 = _mm512_add_ps(f0, _mm512_maskz_loadu_ps(m0, res + col));
        f1 = _mm512_add_ps(f1, _mm512_maskz_loadu_ps(m1, res + col + 16));
    }
    vnni_inline_act(ep->act, ep->alpha, &f0, &f1);
    _mm512_mask_storeu_ps(y + col, m0, f0);
    _mm512_mask_storeu_ps(y + col + 16, m1, f1);
    if (!lseg_i8_act_in_store(ep->act)) lseg_bias_activation(y + col + first, 1, last - first, 1, NULL, NULL, ep->act, ep->alpha);
}

VNNI void lseg_i8_winograd_conv(const float *x, float lo, float hi, const void *packed, int64_t cout,
                                const lseg_i8_window *w, int64_t block_begin, int64_t block_end, void *scratch,
                                const lseg_i8_epilogue *ep) {
    const wg_geometry g = wg_geom(w, cout);
    const int8_t *U = (const int8_t *)packed;
    const float *us = (const float *)(U + g.K8 * 16 * 8 * g.kp);
    const int32_t *corr = (const int32_t *)(us + g.K8 * 16 * 8);
    uint8_t *q = (uint8_t *)scratch;
    float *s = (float *)(q + wg_q_bytes(&g)), *inv = s + 16 * LSEG_I8_WINOGRAD_BLOCK;
    float *S = inv + 16 * LSEG_I8_WINOGRAD_BLOCK, *vb = (float *)((uint8_t *)scratch + wg_fixed_bytes(&g));
    const __m512i lo_idx = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi_idx = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    for (int64_t b = block_begin; b < block_end; b++) {
        const int64_t t0 = b * g.block, n = g.tiles - t0 < g.block ? g.tiles - t0 : g.block;
        const int V = (int)((n + 15) / 16);
        wg_quantize_block(x, &g, lo, hi, t0, n, q, s, inv, vb);
        wg_vector vecs[3];
        for (int v = 0; v < V; v++) vecs[v] = wg_locate(&g, t0 + 16 * v, n - 16 * v);
        for (int64_t ob = 0; ob < g.K8; ob++) {
            if (V == 3) wg_products_3(&g, U, us, corr, ob, q, s, S);
            else if (V == 2) wg_products_2(&g, U, us, corr, ob, q, s, S);
            else wg_products_1(&g, U, us, corr, ob, q, s, S);
            const int rows = cout - ob * 8 < 8 ? (int)(cout - ob * 8) : 8;
            for (int r = 0; r < rows; r++) {
                const int64_t o = ob * 8 + r;
                const __m512 bias = _mm512_set1_ps(ep->bias ? ep->bias[o] : 0.0f);
                for (int v = 0; v < V; v++) {
                    const wg_vector *vec = &vecs[v];
                    __m512 Sv[4][2];
                    for (int i = 0; i < 4; i++)
                        for (int k = 0; k < 2; k++)
                            Sv[i][k] = _mm512_loadu_ps(S + ((i * 2 + k) * 8 + r) * LSEG_I8_WINOGRAD_BLOCK + 16 * v);
                    for (int a = 0; a < 2; a++) {
                        __m512 y0, y1;
                        if (a == 0) {
                            y0 = _mm512_add_ps(_mm512_add_ps(Sv[0][0], Sv[1][0]), Sv[2][0]);
                            y1 = _mm512_add_ps(_mm512_add_ps(Sv[0][1], Sv[1][1]), Sv[2][1]);
                        } else {
                            y0 = _mm512_sub_ps(_mm512_sub_ps(Sv[1][0], Sv[2][0]), Sv[3][0]);
                            y1 = _mm512_sub_ps(_mm512_sub_ps(Sv[1][1], Sv[2][1]), Sv[3][1]);
                        }
                        const __m512 lo16 = _mm512_permutex2var_ps(y0, lo_idx, y1), hi16 = _mm512_permutex2var_ps(y0, hi_idx, y1);
                        /* Columns [0, 2 split) belong to row th from tile tw, the rest to row th + 1. */
                        int64_t oh = 2 * vec->th + a;
                        if (oh < g.OH) {
                            const int64_t at = o * ep->ldy + oh * g.OW;
                            wg_store(ep->y + at, ep->residual ? ep->residual + at : NULL, lo16, hi16, bias, 2 * vec->tw, 0,
                                     2 * vec->split, g.OW, ep);
                        }
                        oh += 2;
                        if (vec->next && oh < g.OH) {
                            const int64_t at = o * ep->ldy + oh * g.OW;
                            wg_store(ep->y + at, ep->residual ? ep->residual + at : NULL, lo16, hi16, bias, -2 * vec->split,
                                     2 * vec->split, 2 * vec->lanes, g.OW, ep);
                        }
                    }
                }
            }
        }
    }
}
#else
void lseg_i8_winograd_conv(const float *x, float lo, float hi, const void *packed, int64_t cout,
                           const lseg_i8_window *w, int64_t block_begin, int64_t block_end, void *scratch,
                           const lseg_i8_epilogue *ep) {
    (void)scratch;
    lseg_i8_winograd_reference(x, lo, hi, packed, cout, w, block_begin, block_end, ep);
}
#endif
