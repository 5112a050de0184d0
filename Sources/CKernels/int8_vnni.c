/* AVX-512 VNNI int8 kernels: the packed 8 x 32 GEMM tile and the direct (implicit-GEMM)
   stride-1 convolution. vpdpbusd multiplies unsigned by signed bytes and adds groups of four
   products into int32 without saturation, 64 multiply-adds per instruction. */
#include "int8_vnni.h"
#include "kernels_heavy.h"
#include <math.h>
#include <string.h>

int64_t lseg_i8_vnni_tail_tokens(int64_t m) {
    const int64_t t = m % 16;
    return t <= LSEG_I8_VNNI_TAIL_MAX ? t : 0;
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

/* The epilogue must round exactly like the scalar one (multiply, then add). */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "int8_vnni_accumulate.h"

/* Stores one row of up to 32 int32 sums: raw, or (v + zp_shift * rowsum) * scale + bias. */
VNNI static inline void store_row(__m512i v0, __m512i v1, int64_t i, int64_t j0, int64_t nc,
                                  const lseg_i8_epilogue *ep, int32_t *c, int64_t ldc) {
    const __mmask16 m0 = nc >= 16 ? 0xFFFF : (__mmask16)((1u << nc) - 1);
    const __mmask16 m1 = nc <= 16 ? 0 : nc >= 32 ? 0xFFFF : (__mmask16)((1u << (nc - 16)) - 1);
    if (!ep) {
        _mm512_mask_storeu_epi32(c + i * ldc + j0, m0, v0);
        _mm512_mask_storeu_epi32(c + i * ldc + j0 + 16, m1, v1);
        return;
    }
    const __m512i zs = _mm512_set1_epi32(ep->zp_shift);
    __m512 s0, s1, b0, b1;
    if (ep->channel_axis == 0) {
        /* One channel per row. The int32 sums are exact: Int8Ops bounds the depth so that
           sum (q - zp) * w fits int32. */
        const __m512i off = _mm512_set1_epi32(ep->zp_shift * ep->rowsum[i]);
        v0 = _mm512_add_epi32(v0, off);
        v1 = _mm512_add_epi32(v1, off);
        s0 = s1 = _mm512_set1_ps(ep->scale[i]);
        b0 = b1 = _mm512_set1_ps(ep->bias ? ep->bias[i] : 0.0f);
    } else {
        const __m512i r0 = _mm512_maskz_loadu_epi32(m0, ep->rowsum + j0);
        const __m512i r1 = _mm512_maskz_loadu_epi32(m1, ep->rowsum + j0 + 16);
        v0 = _mm512_add_epi32(v0, _mm512_mullo_epi32(zs, r0));
        v1 = _mm512_add_epi32(v1, _mm512_mullo_epi32(zs, r1));
        s0 = _mm512_maskz_loadu_ps(m0, ep->scale + j0);
        s1 = _mm512_maskz_loadu_ps(m1, ep->scale + j0 + 16);
        if (ep->bias) {
            b0 = _mm512_maskz_loadu_ps(m0, ep->bias + j0);
            b1 = _mm512_maskz_loadu_ps(m1, ep->bias + j0 + 16);
        } else {
            b0 = b1 = _mm512_setzero_ps();
        }
    }
    float *y = ep->y + i * ep->ldy + j0;
    __m512 f0 = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(v0), s0), b0);
    __m512 f1 = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(v1), s1), b1);
    if (ep->residual) {
        const float *r = ep->residual + i * ep->ldy + j0;
        f0 = _mm512_add_ps(f0, _mm512_maskz_loadu_ps(m0, r));
        f1 = _mm512_add_ps(f1, _mm512_maskz_loadu_ps(m1, r + 16));
    }
    /* ReLU and LeakyReLU here (store_applies_act); the other activations run over the tile after. */
    vnni_inline_act(ep->act, ep->alpha, &f0, &f1);
    _mm512_mask_storeu_ps(y, m0, f0);
    _mm512_mask_storeu_ps(y + 16, m1, f1);
}

/* Whether store_row applies the epilogue's activation itself (else the caller runs
   lseg_bias_activation over the stored tile). */
static inline int store_applies_act(const lseg_i8_epilogue *ep) { return lseg_i8_act_in_store(ep->act); }


VNNI static inline void accumulate_8x32(const int8_t *a, const uint8_t *b, int64_t kp, __m512i acc[8][2]) {
    __m512i wide[8][3];
    accumulate_8xv(a, b, kp, 32, 2, wide);
    for (int r = 0; r < 8; r++) { acc[r][0] = wide[r][0]; acc[r][1] = wide[r][1]; }
}

VNNI void lseg_i8_vnni_tile(const int8_t *a, const int32_t *sums, const uint8_t *b, int64_t kp, int64_t i0,
                            int64_t lo, int64_t hi, int64_t j0, int64_t nc, const lseg_i8_epilogue *ep,
                            int32_t *c, int64_t ldc) {
    __m512i acc[8][2];
    accumulate_8x32(a, b, kp, acc);
    /* The columns were stored as v + 128: remove 128 * rowsum (wrapping int32, exact mod 2^32). */
    __m512i out[8][2];
    for (int r = 0; r < 8; r++) {
        const __m512i corr = _mm512_set1_epi32((int32_t)((uint32_t)sums[r] * 128u));
        out[r][0] = _mm512_sub_epi32(acc[r][0], corr);
        out[r][1] = _mm512_sub_epi32(acc[r][1], corr);
    }
    for (int64_t i = lo; i < hi; i++) store_row(out[i - i0][0], out[i - i0][1], i, j0, nc, ep, c, ldc);
    if (ep && !store_applies_act(ep))
        lseg_bias_activation(ep->y + lo * ep->ldy + j0, hi - lo, nc, ep->ldy, NULL, NULL, ep->act, ep->alpha);
}

/* Transposes 8 channel rows x 16 token lanes into token rows of 8 channels, two tokens a vector:
   out[2j] holds tokens j (low 256 bits) and 4 + j, out[2j + 1] tokens 8 + j and 12 + j. */
VNNI static inline void transpose_8x16(const __m512i r[8], __m512i out[8]) {
    __m512i t[8], u[8];
    for (int p = 0; p < 4; p++) {
        t[2 * p] = _mm512_unpacklo_epi32(r[2 * p], r[2 * p + 1]);
        t[2 * p + 1] = _mm512_unpackhi_epi32(r[2 * p], r[2 * p + 1]);
    }
    /* u[j] (j < 4): token 4L + j of lane L, channels 0-3; u[4 + j]: channels 4-7. */
    for (int h = 0; h < 2; h++) {
        u[4 * h + 0] = _mm512_unpacklo_epi64(t[4 * h + 0], t[4 * h + 2]);
        u[4 * h + 1] = _mm512_unpackhi_epi64(t[4 * h + 0], t[4 * h + 2]);
        u[4 * h + 2] = _mm512_unpacklo_epi64(t[4 * h + 1], t[4 * h + 3]);
        u[4 * h + 3] = _mm512_unpackhi_epi64(t[4 * h + 1], t[4 * h + 3]);
    }
    /* out[2j]: tokens j (lanes 0-1) and 4 + j (lanes 2-3); out[2j + 1]: tokens 8 + j and 12 + j. */
    for (int j = 0; j < 4; j++) {
        const __m512i lo = _mm512_shuffle_i32x4(u[j], u[4 + j], _MM_SHUFFLE(1, 0, 1, 0));
        const __m512i hi = _mm512_shuffle_i32x4(u[j], u[4 + j], _MM_SHUFFLE(3, 2, 3, 2));
        out[2 * j] = _mm512_shuffle_i32x4(lo, lo, _MM_SHUFFLE(3, 1, 2, 0));
        out[2 * j + 1] = _mm512_shuffle_i32x4(hi, hi, _MM_SHUFFLE(3, 1, 2, 0));
    }
}

/* Stores the transposed vector q of token group h: tokens t0 and t0 + 4, 8 channels from i each
   (q even: t0 = 16 h + q / 2; q odd: t0 = 16 h + 8 + q / 2), those below nc. */
VNNI static inline void store_token_pair(const lseg_i8_epilogue *ep, int64_t j0, int64_t i, int64_t nc, int h, int q,
                                         __m512 v) {
    const int64_t jj = q / 2, t0 = 16 * h + (q % 2 ? 8 : 0) + jj, t1 = t0 + 4;
    float *y = ep->y + (j0 + t0) * ep->ldy + i;
    if (t0 < nc) _mm256_storeu_ps(y, _mm512_castps512_ps256(v));
    if (t1 < nc) _mm256_storeu_pd((double *)(y + 4 * ep->ldy), _mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}

VNNI void lseg_i8_vnni_linear(const int8_t *w, const int32_t *wsum, const uint8_t *cols, int64_t m, int64_t n,
                              int64_t k, int64_t i_begin, int64_t i_end, int64_t panel_begin, int64_t panel_end,
                              const lseg_i8_epilogue *ep) {
    const int64_t kp = k, width = LSEG_I8_VNNI_TOKENS;
    const int gelu = ep->act == LSEG_ACT_GELU;
    if (i_end > n) i_end = n;
    for (int64_t pn = panel_begin; pn < panel_end; pn++) {
        const uint8_t *b = cols + pn * kp * width;
        const int64_t j0 = pn * width, nc = m - j0 < width ? m - j0 : width;
        /* 16-token vectors this panel needs: a partial last panel computes only those. */
        const int vectors = (int)((nc + 15) / 16);
        for (int64_t i = i_begin; i < i_end; i += 8) {
            const int8_t *a = w + i * kp;
            __m512i acc[8][3];
            if (vectors == 3) accumulate_8xv(a, b, kp, width, 3, acc);
            else if (vectors == 2) accumulate_8xv(a, b, kp, width, 2, acc);
            else accumulate_8xv(a, b, kp, width, 1, acc);
            /* Row r is output channel i + r for up to 48 tokens. Transposed in registers, each token's 8
               channels are contiguous in y; then the same value as the packed path's epilogue,
               (raw + zp_shift * rowsum) * scale + bias, two tokens per vector. */
            __m256i off8, sc8, bi8;
            {
                int32_t off[8];
                for (int r = 0; r < 8; r++)
                    off[r] = (int32_t)((uint32_t)ep->zp_shift * (uint32_t)ep->rowsum[i + r] - (uint32_t)wsum[i + r] * 128u);
                off8 = _mm256_loadu_si256((const __m256i *)off);
                sc8 = _mm256_castps_si256(_mm256_loadu_ps(ep->scale + i));
                bi8 = ep->bias ? _mm256_castps_si256(_mm256_loadu_ps(ep->bias + i)) : _mm256_setzero_si256();
            }
            const __m512i off = _mm512_broadcast_i64x4(off8);
            const __m512 sc = _mm512_castsi512_ps(_mm512_broadcast_i64x4(sc8));
            const __m512 bi = _mm512_castsi512_ps(_mm512_broadcast_i64x4(bi8));
            /* GELU (ViT's fc1) runs on the tile's values gathered in one contiguous block, by the same
               function as every other path: applied to y afterwards, it would first copy the
               32-channel-wide rows of this item out of y and back. */
            float staged[3][8][16];
            for (int h = 0; h < vectors; h++) {
                __m512i rows[8], tok[8];
                for (int r = 0; r < 8; r++) rows[r] = acc[r][h];
                transpose_8x16(rows, tok);
                for (int q = 0; q < 8; q++) {
                    const __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(tok[q], off)), sc), bi);
                    if (gelu) _mm512_storeu_ps(staged[h][q], v);
                    else store_token_pair(ep, j0, i, nc, h, q, v);
                }
            }
            if (gelu) {
                lseg_bias_activation(&staged[0][0][0], 1, vectors * 8 * 16, vectors * 8 * 16, NULL, NULL, LSEG_ACT_GELU, 0.0f);
                for (int h = 0; h < vectors; h++)
                    for (int q = 0; q < 8; q++) store_token_pair(ep, j0, i, nc, h, q, _mm512_loadu_ps(staged[h][q]));
            }
        }
        if (ep->act != LSEG_ACT_NONE && !gelu)
            lseg_bias_activation(ep->y + j0 * ep->ldy + i_begin, nc, i_end - i_begin, ep->ldy, NULL, NULL, ep->act, ep->alpha);
    }
}

/* The last few tokens of QLinear (ViT counts are 16k + 1) as dot products: per output channel,
   vpdpbusd over 64 bytes of the token's unsigned row against the weights' own row, 16 lanes
   reduced at the end. A partial 16-token panel vector costs as much as 16 tokens; this costs
   K / 64 instructions per token and channel. T tokens (1...4) share each weight load, and two
   channels share each token load. */
VNNI static inline __attribute__((always_inline)) void tail_dots(const int8_t *w, const uint8_t *q, int64_t k,
                                                                int64_t i, const int T, int32_t out[2][4]) {
    __m512i acc[2][4];
    for (int c = 0; c < 2; c++) for (int t = 0; t < 4; t++) acc[c][t] = _mm512_setzero_si512();
    const int8_t *w0 = w + i * k, *w1 = w0 + k;
    int64_t kk = 0;
    for (; kk + 64 <= k; kk += 64) {
        const __m512i a0 = _mm512_loadu_si512(w0 + kk), a1 = _mm512_loadu_si512(w1 + kk);
        for (int t = 0; t < T; t++) {
            const __m512i b = _mm512_loadu_si512(q + t * k + kk);
            acc[0][t] = _mm512_dpbusd_epi32(acc[0][t], b, a0);
            acc[1][t] = _mm512_dpbusd_epi32(acc[1][t], b, a1);
        }
    }
    if (kk < k) {
        /* Zero bytes past K add nothing. */
        const __mmask64 mk = ((__mmask64)1 << (k - kk)) - 1;
        const __m512i a0 = _mm512_maskz_loadu_epi8(mk, w0 + kk), a1 = _mm512_maskz_loadu_epi8(mk, w1 + kk);
        for (int t = 0; t < T; t++) {
            const __m512i b = _mm512_maskz_loadu_epi8(mk, q + t * k + kk);
            acc[0][t] = _mm512_dpbusd_epi32(acc[0][t], b, a0);
            acc[1][t] = _mm512_dpbusd_epi32(acc[1][t], b, a1);
        }
    }
    for (int c = 0; c < 2; c++) for (int t = 0; t < T; t++) out[c][t] = _mm512_reduce_add_epi32(acc[c][t]);
}

VNNI void lseg_i8_vnni_linear_tail(const int8_t *w, const int32_t *wsum, const uint8_t *q, int64_t j0, int64_t count,
                                   int64_t k, int64_t i_begin, int64_t i_end, const lseg_i8_epilogue *ep) {
    for (int64_t t0 = 0; t0 < count; t0 += 4) {
        const int T = (int)(count - t0 < 4 ? count - t0 : 4);
        const uint8_t *qt = q + t0 * k;
        for (int64_t i = i_begin; i < i_end; i += 2) {
            int32_t raw[2][4];
            switch (T) {
            case 1: tail_dots(w, qt, k, i, 1, raw); break;
            case 2: tail_dots(w, qt, k, i, 2, raw); break;
            case 3: tail_dots(w, qt, k, i, 3, raw); break;
            default: tail_dots(w, qt, k, i, 4, raw); break;
            }
            /* The packed paths' epilogue, one value at a time: same int32, same float operations. */
            for (int c = 0; c < 2; c++) {
                const int64_t ch = i + c;
                const uint32_t off = (uint32_t)ep->zp_shift * (uint32_t)ep->rowsum[ch] - (uint32_t)wsum[ch] * 128u;
                const float sc = ep->scale[ch], bi = ep->bias ? ep->bias[ch] : 0.0f;
                for (int t = 0; t < T; t++) {
                    const float v = (float)(int32_t)((uint32_t)raw[c][t] + off);
                    ep->y[(j0 + t0 + t) * ep->ldy + ch] = v * sc + bi;
                }
            }
        }
    }
    if (ep->act != LSEG_ACT_NONE)
        lseg_bias_activation(ep->y + j0 * ep->ldy + i_begin, count, i_end - i_begin, ep->ldy, NULL, NULL, ep->act, ep->alpha);
}

/* Same rounding as the scalar quantize_shifted (division, half to even, NaN -> zp, clamp),
   without the shift: q in 0...255. */
VNNI static inline __m512i quantize16(__m512 x, __m512 scale, __m512 zp) {
    __m512 q = _mm512_add_ps(_mm512_roundscale_ps(_mm512_div_ps(x, scale), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), zp);
    q = _mm512_mask_mov_ps(q, _mm512_cmp_ps_mask(q, q, _CMP_UNORD_Q), zp);
    q = _mm512_min_ps(_mm512_max_ps(q, _mm512_setzero_ps()), _mm512_set1_ps(255.0f));
    return _mm512_cvtps_epi32(q);
}

static inline uint8_t quantize_unsigned(float v, float scale, int32_t zp) {
    float q = nearbyintf(v / scale) + (float)zp;
    if (q != q) q = (float)zp;
    if (q < 0.0f) q = 0.0f;
    if (q > 255.0f) q = 255.0f;
    return (uint8_t)(int32_t)q;
}

VNNI void lseg_i8_vnni_quantize_cols(const float *x, int64_t ldx, int64_t m, int64_t k, float scale, int32_t zp,
                                     int64_t panel_begin, int64_t panel_end, uint8_t *cols) {
    const int64_t kp = (k + 3) / 4 * 4, k16 = k / 16 * 16, width = LSEG_I8_VNNI_TOKENS;
    const __m512 vs = _mm512_set1_ps(scale), vz = _mm512_set1_ps((float)zp);
    const __m128i shifted_zero = _mm_set1_epi8((char)128);
    /* Four tokens at a time: their 16-value chunks (4 groups of 4 bytes each) are transposed so
       that each group row gets one 16-byte store of 4 consecutive tokens instead of four 4-byte
       stores (the stores were a third of the time). */
    for (int64_t pn = panel_begin; pn < panel_end; pn++) {
        uint8_t *panel = cols + pn * kp * width;
        for (int64_t t = 0; t < width; t += 4) {
            const int64_t j = pn * width + t;
            uint8_t *dst = panel + t * 4;
            const float *xr[4];
            for (int u = 0; u < 4; u++) xr[u] = j + u < m ? x + (j + u) * ldx : NULL;
            for (int64_t i = 0; i < k16; i += 16) {
                __m128i q[4];
                for (int u = 0; u < 4; u++)
                    q[u] = xr[u] ? _mm512_cvtepi32_epi8(quantize16(_mm512_loadu_ps(xr[u] + i), vs, vz)) : shifted_zero;
                /* q[u] = token u's groups g0..g3 (4 bytes each) -> row g: tokens 0..3 of group g. */
                const __m128i a = _mm_unpacklo_epi32(q[0], q[1]), b = _mm_unpackhi_epi32(q[0], q[1]);
                const __m128i c = _mm_unpacklo_epi32(q[2], q[3]), e = _mm_unpackhi_epi32(q[2], q[3]);
                uint8_t *d = dst + (i / 4) * width * 4;
                _mm_storeu_si128((__m128i *)d, _mm_unpacklo_epi64(a, c));
                _mm_storeu_si128((__m128i *)(d + width * 4), _mm_unpackhi_epi64(a, c));
                _mm_storeu_si128((__m128i *)(d + width * 8), _mm_unpacklo_epi64(b, e));
                _mm_storeu_si128((__m128i *)(d + width * 12), _mm_unpackhi_epi64(b, e));
            }
            for (int u = 0; u < 4; u++)
                for (int64_t i = k16; i < kp; i++)
                    dst[u * 4 + (i / 4) * width * 4 + i % 4] = xr[u] && i < k ? quantize_unsigned(xr[u][i], scale, zp) : 128;
        }
    }
}

VNNI void lseg_i8_vnni_quantize_tail(const float *x, int64_t ldx, int64_t count, int64_t k, float scale, int32_t zp,
                                     uint8_t *q) {
    const __m512 vs = _mm512_set1_ps(scale), vz = _mm512_set1_ps((float)zp);
    for (int64_t t = 0; t < count; t++) {
        const float *xr = x + t * ldx;
        uint8_t *d = q + t * k;
        for (int64_t i = 0; i < k; i += 16) {
            const __mmask16 m = k - i >= 16 ? 0xFFFF : (__mmask16)((1u << (k - i)) - 1);
            _mm512_mask_cvtepi32_storeu_epi8(d + i, m, quantize16(_mm512_maskz_loadu_ps(m, xr + i), vs, vz));
        }
    }
}

/* ---- direct convolution ---- */

typedef struct {
    int64_t c4, hp, wp, row, group, taps, kd;
} direct_geometry;

static direct_geometry direct_geom(const lseg_i8_window *w) {
    direct_geometry g;
    g.c4 = (w->channels + 3) / 4;
    const int64_t rows = w->out_height + (w->kernel_h - 1) * w->dilation_h;
    const int64_t cols = w->out_width + (w->kernel_w - 1) * w->dilation_w;
    g.hp = rows > w->height + w->pad_h ? rows : w->height + w->pad_h;
    g.wp = cols > w->width + w->pad_w ? cols : w->width + w->pad_w;
    /* Row-major [Hp][C/4][Wp][4]: a tile's channel groups for one input row lie within one
       row of C/4 * Wp * 4 bytes (a plane per group put them a whole plane apart, 64+ streams
       far apart for the prefetcher). */
    g.group = g.wp * 4;
    g.row = g.c4 * g.group;
    g.taps = w->kernel_h * w->kernel_w;
    g.kd = g.taps * g.c4;
    return g;
}

int lseg_i8_direct_supported(const lseg_i8_window *w) {
    return w->stride_h == 1 && w->stride_w == 1 && w->pad_h >= 0 && w->pad_w >= 0 && w->channels > 0
        && w->out_height > 0 && w->out_width > 0 && lseg_cpu_has_avx512_vnni();
}

/* The kernel reads up to 31 positions (124 bytes) past the last group of the last row. */
int64_t lseg_i8_direct_input_bytes(const lseg_i8_window *w) {
    const direct_geometry g = direct_geom(w);
    return g.hp * g.row + 256;
}

int64_t lseg_i8_direct_weights_bytes(int64_t cout, const lseg_i8_window *w) {
    const direct_geometry g = direct_geom(w);
    return (cout + 7) / 8 * g.kd * 32;
}

void lseg_i8_direct_pack_weights(const int8_t *w, int64_t cout, const lseg_i8_window *win, void *packed) {
    const direct_geometry g = direct_geom(win);
    const int64_t kk = g.taps, k = win->channels * kk;
    int8_t *d = (int8_t *)packed;
    memset(d, 0, (size_t)lseg_i8_direct_weights_bytes(cout, win));
    for (int64_t co = 0; co < cout; co++) {
        int8_t *blk = d + (co / 8) * g.kd * 32 + (co % 8) * 4;
        for (int64_t c = 0; c < win->channels; c++) {
            for (int64_t t = 0; t < kk; t++) blk[(t * g.c4 + c / 4) * 32 + c % 4] = w[co * k + c * kk + t];
        }
    }
}

VNNI void lseg_i8_direct_quantize_input(const float *x, const lseg_i8_window *w, float scale, int32_t zp,
                                        int64_t g_begin, int64_t g_end, uint8_t *xq) {
    const direct_geometry g = direct_geom(w);
    const int64_t H = w->height, W = w->width, C = w->channels;
    const uint32_t zp4 = (uint32_t)zp * 0x01010101u;
    const __m512 vs = _mm512_set1_ps(scale), vz = _mm512_set1_ps((float)zp);
    for (int64_t cg = g_begin; cg < g_end; cg++) {
        for (int64_t hp = 0; hp < g.hp; hp++) {
            uint32_t *row = (uint32_t *)(xq + hp * g.row + cg * g.group);
            const int64_t h = hp - w->pad_h;
            if (h < 0 || h >= H) {
                for (int64_t i = 0; i < g.wp; i++) row[i] = zp4;
                continue;
            }
            for (int64_t i = 0; i < w->pad_w; i++) row[i] = zp4;
            for (int64_t i = w->pad_w + W; i < g.wp; i++) row[i] = zp4;
            uint32_t *dst = row + w->pad_w;
            const float *src[4];
            for (int t = 0; t < 4; t++) src[t] = cg * 4 + t < C ? x + ((cg * 4 + t) * H + h) * W : NULL;
            for (int64_t i = 0; i < W; i += 16) {
                const int64_t n = W - i < 16 ? W - i : 16;
                const __mmask16 m = n == 16 ? 0xFFFF : (__mmask16)((1u << n) - 1);
                __m512i word = _mm512_setzero_si512();
                for (int t = 0; t < 4; t++) {
                    __m512i q = src[t] ? quantize16(_mm512_maskz_loadu_ps(m, src[t] + i), vs, vz) : _mm512_set1_epi32(zp);
                    word = _mm512_or_si512(word, _mm512_slli_epi32(q, 8 * t));
                }
                _mm512_mask_storeu_epi32(dst + i, m, word);
            }
        }
    }
    if (g_end == g.c4) memset(xq + g.hp * g.row, (int)zp, 256);
}

/* The epilogue of output row oh: y and the residual (if any) offset to that row. */
static inline lseg_i8_epilogue direct_row_epilogue(const lseg_i8_epilogue *ep, int64_t oh, int64_t OW) {
    lseg_i8_epilogue e = *ep;
    e.y = ep->y + oh * OW;
    if (ep->residual) e.residual = ep->residual + oh * OW;
    return e;
}

/* Inputs are q = shifted + 128: sum q w = raw + 128 * rowsum, as in the packed path; returns raw
   for output channel ch. */
VNNI static inline __m512i direct_unshift(__m512i acc, const lseg_i8_epilogue *ep, int64_t ch) {
    return _mm512_sub_epi32(acc, _mm512_set1_epi32((int32_t)((uint32_t)ep->rowsum[ch] * 128u)));
}

/* One tile of the direct convolution: 8 output channels (block blk) x V * 16 positions of
   output row oh from ow0 (nc of them stored). V = 3 on rows wide enough: 24 accumulators
   share each broadcast weight, fewer load and front-end slots per vpdpbusd than V = 2. */
#define DIRECT_TILE(NAME, V)                                                                              \
VNNI static inline void NAME(const uint8_t *xq, const int8_t *wb, const direct_geometry *g,                 \
                             const lseg_i8_window *w, int64_t oh, int64_t ow0, int64_t nc, int64_t blk,     \
                             int64_t cout, const lseg_i8_epilogue *ep) {                                    \
    __m512i acc[8][V];                                                                                     \
    for (int r = 0; r < 8; r++) for (int v = 0; v < V; v++) acc[r][v] = _mm512_setzero_si512();             \
    /* The tile's output lines, fetched for writing while the products run: a 1x1 tile's stores   \
       otherwise wait on them (96 x 96, 256 -> 256 channels: about 370 -> 400 GOP/s on one Zen 4  \
       core; a 3x3 tile is 9x longer and gains nothing measurable). */                              \
    for (int r = 0; r < 8 && blk * 8 + r < cout; r++)                                                      \
        for (int v = 0; v < V; v++)                                                                        \
            _mm_prefetch((const char *)(ep->y + (blk * 8 + r) * ep->ldy + oh * w->out_width + ow0 + 16 * v), _MM_HINT_ET0); \
    for (int64_t kh = 0; kh < w->kernel_h; kh++) {                                                         \
        for (int64_t kw = 0; kw < w->kernel_w; kw++) {                                                     \
            const uint8_t *src = xq + (oh + kh * w->dilation_h) * g->row + (ow0 + kw * w->dilation_w) * 4;  \
            const int8_t *wt = wb + (kh * w->kernel_w + kw) * g->c4 * 32;                                   \
            for (int64_t cg = 0; cg < g->c4; cg++) {                                                       \
                __m512i bv[V];                                                                             \
                for (int v = 0; v < V; v++) bv[v] = _mm512_loadu_si512(src + cg * g->group + 64 * v);      \
                for (int r = 0; r < 8; r++) {                                                              \
                    const __m512i av = _mm512_set1_epi32(load4(wt + cg * 32 + r * 4));                     \
                    for (int v = 0; v < V; v++) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], bv[v], av);    \
                }                                                                                          \
            }                                                                                              \
        }                                                                                                  \
    }                                                                                                      \
    const int64_t rows = cout - blk * 8 < 8 ? cout - blk * 8 : 8;                                          \
    const lseg_i8_epilogue e = direct_row_epilogue(ep, oh, w->out_width);                                  \
    /* Constant trip count, cut short by rows: fully unrolled, acc stays in registers (a loop to   \
       `rows` indexed acc at run time, so the compiler kept it on the stack and memset it per tile). */ \
    _Pragma("clang loop unroll(full)")                                                                     \
    for (int r = 0; r < 8; r++) {                                                                          \
        if (r >= rows) break;                                                                              \
        __m512i out[V];                                                                                    \
        for (int v = 0; v < V; v++) out[v] = direct_unshift(acc[r][v], ep, blk * 8 + r);                   \
        store_row(out[0], out[1], blk * 8 + r, ow0, nc < 32 ? nc : 32, &e, NULL, 0);                       \
        if (V == 3 && nc > 32) store_row(out[V - 1], out[V - 1], blk * 8 + r, ow0 + 32, nc - 32, &e, NULL, 0); \
    }                                                                                                      \
    if (!store_applies_act(ep))                                                                            \
        lseg_bias_activation(e.y + blk * 8 * ep->ldy + ow0, rows, nc, ep->ldy, NULL, NULL, ep->act, ep->alpha); \
}
DIRECT_TILE(direct_tile_32, 2)
DIRECT_TILE(direct_tile_48, 3)

/* Narrow outputs (OW <= 16, e.g. the 12 x 12 token grid of ViT-B/32 at 384): one tile is 8 output
   channels x three output rows from oh (`count` <= 3 of them real) x 16 positions, one vector per
   row, so a 12-wide row fills 12 of its 16 lanes rather than 12 of a 32-wide tile's 32. Lanes past
   OW read the next padded columns (or the next group's; the input's 256-byte tail covers the
   last) and are never stored. A missing row repeats row oh and is not stored. */
VNNI static void direct_tile_rows(const uint8_t *xq, const int8_t *wb, const direct_geometry *g, const lseg_i8_window *w,
                                  int64_t oh, int64_t count, int64_t blk, int64_t cout, const lseg_i8_epilogue *ep) {
    __m512i acc[8][3];
    for (int r = 0; r < 8; r++) for (int v = 0; v < 3; v++) acc[r][v] = _mm512_setzero_si512();
    for (int64_t kh = 0; kh < w->kernel_h; kh++) {
        for (int64_t kw = 0; kw < w->kernel_w; kw++) {
            const uint8_t *src[3];
            for (int v = 0; v < 3; v++)
                src[v] = xq + (oh + (v < count ? v : 0) + kh * w->dilation_h) * g->row + kw * w->dilation_w * 4;
            const int8_t *wt = wb + (kh * w->kernel_w + kw) * g->c4 * 32;
            for (int64_t cg = 0; cg < g->c4; cg++) {
                __m512i bv[3];
                for (int v = 0; v < 3; v++) bv[v] = _mm512_loadu_si512(src[v] + cg * g->group);
                for (int r = 0; r < 8; r++) {
                    const __m512i av = _mm512_set1_epi32(load4(wt + cg * 32 + r * 4));
                    for (int v = 0; v < 3; v++) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], bv[v], av);
                }
            }
        }
    }
    const int64_t rows = cout - blk * 8 < 8 ? cout - blk * 8 : 8, OW = w->out_width;
    /* Constant trip counts cut short at run time, fully unrolled: acc stays in registers. */
    _Pragma("clang loop unroll(full)")
    for (int v = 0; v < 3; v++) {
        if (v >= count) break;
        const lseg_i8_epilogue e = direct_row_epilogue(ep, oh + v, OW);
        _Pragma("clang loop unroll(full)")
        for (int r = 0; r < 8; r++) {
            if (r >= rows) break;
            const __m512i out = direct_unshift(acc[r][v], ep, blk * 8 + r);
            store_row(out, out, blk * 8 + r, 0, OW, &e, NULL, 0);
        }
        if (!store_applies_act(ep))
            lseg_bias_activation(e.y + blk * 8 * ep->ldy, rows, OW, ep->ldy, NULL, NULL, ep->act, ep->alpha);
    }
}

/* Outputs 17 to 24 wide (the 24 x 24 grid of ViT-B/32's second scale): one tile is 8 output
   channels x two output rows (oh, oh + 1; `count` of them real) as 48 consecutive positions in
   three vectors: v0 = row oh [0, 16), v1 = row oh [16, OW) then row oh + 1 [0, 32 - OW) (two loads
   and a blend), v2 = row oh + 1 [32 - OW, 48 - OW). A 24-wide row fills all 48 lanes where the
   32-wide tile filled 24 of 32. On store, row oh + 1 is put together from v1 and v2 by a lane
   permute. Loads left of row oh + 1's start read the row before it (valid memory). */
VNNI static void direct_tile_pair(const uint8_t *xq, const int8_t *wb, const direct_geometry *g, const lseg_i8_window *w,
                                  int64_t oh, int64_t count, int64_t blk, int64_t cout, const lseg_i8_epilogue *ep) {
    const int64_t OW = w->out_width, s = OW - 16;
    const __mmask16 second = (__mmask16)(0xFFFFu << s);
    const int64_t next = count > 1 ? 1 : 0;
    __m512i acc[8][3];
    for (int r = 0; r < 8; r++) for (int v = 0; v < 3; v++) acc[r][v] = _mm512_setzero_si512();
    for (int64_t kh = 0; kh < w->kernel_h; kh++) {
        for (int64_t kw = 0; kw < w->kernel_w; kw++) {
            const uint8_t *r0 = xq + (oh + kh * w->dilation_h) * g->row + kw * w->dilation_w * 4;
            const uint8_t *r1 = r0 + next * g->row;
            const int8_t *wt = wb + (kh * w->kernel_w + kw) * g->c4 * 32;
            for (int64_t cg = 0; cg < g->c4; cg++) {
                const int64_t o = cg * g->group;
                __m512i bv[3];
                bv[0] = _mm512_loadu_si512(r0 + o);
                bv[1] = _mm512_mask_blend_epi32(second, _mm512_loadu_si512(r0 + o + 64), _mm512_loadu_si512(r1 + o - 4 * s));
                bv[2] = _mm512_loadu_si512(r1 + o + 4 * (16 - s));
                for (int r = 0; r < 8; r++) {
                    const __m512i av = _mm512_set1_epi32(load4(wt + cg * 32 + r * 4));
                    for (int v = 0; v < 3; v++) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], bv[v], av);
                }
            }
        }
    }
    const int64_t rows = cout - blk * 8 < 8 ? cout - blk * 8 : 8;
    /* Row oh + 1, positions [0, 16) and [16, 32): lane L takes lane L + s of (v1, v2) and of v2. */
    const __m512i shift = _mm512_add_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                           _mm512_set1_epi32((int32_t)s));
    const lseg_i8_epilogue e0 = direct_row_epilogue(ep, oh, OW), e1 = direct_row_epilogue(ep, oh + 1, OW);
    _Pragma("clang loop unroll(full)")
    for (int r = 0; r < 8; r++) {
        if (r >= rows) break;
        const __m512i v0 = direct_unshift(acc[r][0], ep, blk * 8 + r), v1 = direct_unshift(acc[r][1], ep, blk * 8 + r);
        const __m512i v2 = direct_unshift(acc[r][2], ep, blk * 8 + r);
        store_row(v0, v1, blk * 8 + r, 0, OW, &e0, NULL, 0);
        if (count > 1)
            store_row(_mm512_permutex2var_epi32(v1, shift, v2), _mm512_permutex2var_epi32(v2, shift, v2), blk * 8 + r, 0, OW,
                      &e1, NULL, 0);
    }
    if (!store_applies_act(ep)) {
        lseg_bias_activation(e0.y + blk * 8 * ep->ldy, rows, OW, ep->ldy, NULL, NULL, ep->act, ep->alpha);
        if (count > 1) lseg_bias_activation(e1.y + blk * 8 * ep->ldy, rows, OW, ep->ldy, NULL, NULL, ep->act, ep->alpha);
    }
}

int64_t lseg_i8_direct_rows_per_tile(const lseg_i8_window *w) {
    return w->out_width <= 16 ? 3 : w->out_width <= 24 ? 2 : 1;
}

VNNI void lseg_i8_direct_conv(const uint8_t *xq, const void *packed, int64_t cout, const lseg_i8_window *w,
                              int64_t oh_begin, int64_t oh_end, const lseg_i8_epilogue *ep) {
    const direct_geometry g = direct_geom(w);
    const int64_t OW = w->out_width, blocks = (cout + 7) / 8;
    const int64_t step = lseg_i8_direct_rows_per_tile(w);
    if (step > 1) {
        /* Narrow outputs: tiles of `step` rows (count of them real at the end of the range). */
        void (*tile)(const uint8_t *, const int8_t *, const direct_geometry *, const lseg_i8_window *, int64_t, int64_t,
                     int64_t, int64_t, const lseg_i8_epilogue *) = step == 3 ? direct_tile_rows : direct_tile_pair;
        for (int64_t oh = oh_begin; oh < oh_end; oh += step) {
            const int64_t count = oh_end - oh < step ? oh_end - oh : step;
            for (int64_t blk = 0; blk < blocks; blk++)
                tile(xq, (const int8_t *)packed + blk * g.kd * 32, &g, w, oh, count, blk, cout, ep);
        }
        return;
    }
    for (int64_t oh = oh_begin; oh < oh_end; oh++) {
        for (int64_t ow0 = 0; ow0 < OW;) {
            /* 48-wide tiles while more than 32 positions remain, then one 32-wide. */
            const int64_t left = OW - ow0, width = left > 32 ? 48 : 32, nc = left < width ? left : width;
            for (int64_t blk = 0; blk < blocks; blk++) {
                const int8_t *wb = (const int8_t *)packed + blk * g.kd * 32;
                if (width == 48) direct_tile_48(xq, wb, &g, w, oh, ow0, nc, blk, cout, ep);
                else direct_tile_32(xq, wb, &g, w, oh, ow0, nc, blk, cout, ep);
            }
            ow0 += nc;
        }
    }
}

#else
/* Not x86: the VNNI path is never selected; these keep the symbols defined. */
void lseg_i8_vnni_tile(const int8_t *a, const int32_t *sums, const uint8_t *b, int64_t kp, int64_t i0,
                       int64_t lo, int64_t hi, int64_t j0, int64_t nc, const lseg_i8_epilogue *ep,
                       int32_t *c, int64_t ldc) {
    (void)a; (void)sums; (void)b; (void)kp; (void)i0; (void)lo; (void)hi; (void)j0; (void)nc; (void)ep; (void)c; (void)ldc;
}
void lseg_i8_vnni_linear(const int8_t *w, const int32_t *wsum, const uint8_t *cols, int64_t m, int64_t n,
                         int64_t k, int64_t i_begin, int64_t i_end, int64_t panel_begin, int64_t panel_end,
                         const lseg_i8_epilogue *ep) {
    (void)w; (void)wsum; (void)cols; (void)m; (void)n; (void)k; (void)i_begin; (void)i_end; (void)panel_begin;
    (void)panel_end; (void)ep;
}
void lseg_i8_vnni_quantize_cols(const float *x, int64_t ldx, int64_t m, int64_t k, float scale, int32_t zp,
                                int64_t panel_begin, int64_t panel_end, uint8_t *cols) {
    (void)x; (void)ldx; (void)m; (void)k; (void)scale; (void)zp; (void)panel_begin; (void)panel_end; (void)cols;
}
void lseg_i8_vnni_linear_tail(const int8_t *w, const int32_t *wsum, const uint8_t *q, int64_t j0, int64_t count,
                              int64_t k, int64_t i_begin, int64_t i_end, const lseg_i8_epilogue *ep) {
    (void)w; (void)wsum; (void)q; (void)j0; (void)count; (void)k; (void)i_begin; (void)i_end; (void)ep;
}
void lseg_i8_vnni_quantize_tail(const float *x, int64_t ldx, int64_t count, int64_t k, float scale, int32_t zp,
                                uint8_t *q) {
    (void)x; (void)ldx; (void)count; (void)k; (void)scale; (void)zp; (void)q;
}
int lseg_i8_direct_supported(const lseg_i8_window *w) { (void)w; return 0; }
int64_t lseg_i8_direct_rows_per_tile(const lseg_i8_window *w) { (void)w; return 1; }
int64_t lseg_i8_direct_input_bytes(const lseg_i8_window *w) { (void)w; return 0; }
int64_t lseg_i8_direct_weights_bytes(int64_t cout, const lseg_i8_window *w) { (void)cout; (void)w; return 0; }
void lseg_i8_direct_pack_weights(const int8_t *w, int64_t cout, const lseg_i8_window *win, void *packed) {
    (void)w; (void)cout; (void)win; (void)packed;
}
void lseg_i8_direct_quantize_input(const float *x, const lseg_i8_window *w, float scale, int32_t zp,
                                   int64_t g_begin, int64_t g_end, uint8_t *xq) {
    (void)x; (void)w; (void)scale; (void)zp; (void)g_begin; (void)g_end; (void)xq;
}
void lseg_i8_direct_conv(const uint8_t *xq, const void *packed, int64_t cout, const lseg_i8_window *w,
                         int64_t oh_begin, int64_t oh_end, const lseg_i8_epilogue *ep) {
    (void)xq; (void)packed; (void)cout; (void)w; (void)oh_begin; (void)oh_end; (void)ep;
}
#endif
