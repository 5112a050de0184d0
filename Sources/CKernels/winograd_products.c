#include "CKernels.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

/* The batched products of a Winograd convolution: for every point xi of the transformed tile,
   m_xi (K x cols) = U_xi (K x C) v_xi (C x cols), all points in one call. The filters are packed
   once per model in panels of 8 output channels (c-major inside a panel), so a micro-kernel reads
   its 8 filter values for channel c as one contiguous group and broadcasts them against rows of v.
   Unlike an sgemm per point, nothing is packed per call. */

#define PANEL LSEG_WINOGRAD_PANEL

/* Accumulators for 8 rows x (NV * vector width) columns over all C channels, then stored. Each
   variant keeps its accumulators in registers: AVX-512 8 x 32 (16 zmm), AVX2 4 x 16 twice
   (8 ymm), NEON 8 x 8 (16 q). */

static void panel_scalar(const float *u, const float *v, int64_t ld, int64_t C, float *m, int64_t ldm, int64_t cols,
                         int accumulate) {
    float acc[PANEL][16];
    for (int64_t t0 = 0; t0 < cols; t0 += 16) {
        for (int r = 0; r < PANEL; r++) {
            if (accumulate) memcpy(acc[r], m + r * ldm + t0, sizeof(acc[r]));
            else memset(acc[r], 0, sizeof(acc[r]));
        }
        for (int64_t c = 0; c < C; c++) {
            const float *vc = v + c * ld + t0, *uc = u + c * PANEL;
            for (int r = 0; r < PANEL; r++)
                for (int t = 0; t < 16; t++) acc[r][t] = fmaf(uc[r], vc[t], acc[r][t]);
        }
        for (int r = 0; r < PANEL; r++) memcpy(m + r * ldm + t0, acc[r], sizeof(acc[r]));
    }
}

#if defined(__x86_64__)
#define LSEG_WP_AVX512 __attribute__((target("avx512f,fma")))
#define LSEG_WP_AVX2 __attribute__((target("avx2,fma")))

/* 8 x 32, then 8 x 16 for an odd 16-column tail. The filter panels stream from L3 (all 36
   points' filters are read once per tile block): prefetched a few channels ahead. */
#ifndef PREFETCH_AHEAD
#define PREFETCH_AHEAD 64
#endif
LSEG_WP_AVX512 static void panel_avx512(const float *u, const float *v, int64_t ld, int64_t C, float *m, int64_t ldm,
                                        int64_t cols, int accumulate) {
    int64_t t0 = 0;
    for (; t0 + 32 <= cols; t0 += 32) {
        __m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        __m512 a40 = a00, a41 = a00, a50 = a00, a51 = a00, a60 = a00, a61 = a00, a70 = a00, a71 = a00;
        if (accumulate) {
            const float *o = m + t0;
            a00 = _mm512_loadu_ps(o); a01 = _mm512_loadu_ps(o + 16); o += ldm;
            a10 = _mm512_loadu_ps(o); a11 = _mm512_loadu_ps(o + 16); o += ldm;
            a20 = _mm512_loadu_ps(o); a21 = _mm512_loadu_ps(o + 16); o += ldm;
            a30 = _mm512_loadu_ps(o); a31 = _mm512_loadu_ps(o + 16); o += ldm;
            a40 = _mm512_loadu_ps(o); a41 = _mm512_loadu_ps(o + 16); o += ldm;
            a50 = _mm512_loadu_ps(o); a51 = _mm512_loadu_ps(o + 16); o += ldm;
            a60 = _mm512_loadu_ps(o); a61 = _mm512_loadu_ps(o + 16); o += ldm;
            a70 = _mm512_loadu_ps(o); a71 = _mm512_loadu_ps(o + 16);
        }
        const float *vc = v + t0, *uc = u;
        for (int64_t c = 0; c < C; c++, vc += ld, uc += PANEL) {
            _mm_prefetch((const char *)(uc + PREFETCH_AHEAD), _MM_HINT_T0);
            const __m512 x0 = _mm512_loadu_ps(vc), x1 = _mm512_loadu_ps(vc + 16);
            __m512 w;
            w = _mm512_set1_ps(uc[0]); a00 = _mm512_fmadd_ps(w, x0, a00); a01 = _mm512_fmadd_ps(w, x1, a01);
            w = _mm512_set1_ps(uc[1]); a10 = _mm512_fmadd_ps(w, x0, a10); a11 = _mm512_fmadd_ps(w, x1, a11);
            w = _mm512_set1_ps(uc[2]); a20 = _mm512_fmadd_ps(w, x0, a20); a21 = _mm512_fmadd_ps(w, x1, a21);
            w = _mm512_set1_ps(uc[3]); a30 = _mm512_fmadd_ps(w, x0, a30); a31 = _mm512_fmadd_ps(w, x1, a31);
            w = _mm512_set1_ps(uc[4]); a40 = _mm512_fmadd_ps(w, x0, a40); a41 = _mm512_fmadd_ps(w, x1, a41);
            w = _mm512_set1_ps(uc[5]); a50 = _mm512_fmadd_ps(w, x0, a50); a51 = _mm512_fmadd_ps(w, x1, a51);
            w = _mm512_set1_ps(uc[6]); a60 = _mm512_fmadd_ps(w, x0, a60); a61 = _mm512_fmadd_ps(w, x1, a61);
            w = _mm512_set1_ps(uc[7]); a70 = _mm512_fmadd_ps(w, x0, a70); a71 = _mm512_fmadd_ps(w, x1, a71);
        }
        float *o = m + t0;
        _mm512_storeu_ps(o, a00); _mm512_storeu_ps(o + 16, a01); o += ldm;
        _mm512_storeu_ps(o, a10); _mm512_storeu_ps(o + 16, a11); o += ldm;
        _mm512_storeu_ps(o, a20); _mm512_storeu_ps(o + 16, a21); o += ldm;
        _mm512_storeu_ps(o, a30); _mm512_storeu_ps(o + 16, a31); o += ldm;
        _mm512_storeu_ps(o, a40); _mm512_storeu_ps(o + 16, a41); o += ldm;
        _mm512_storeu_ps(o, a50); _mm512_storeu_ps(o + 16, a51); o += ldm;
        _mm512_storeu_ps(o, a60); _mm512_storeu_ps(o + 16, a61); o += ldm;
        _mm512_storeu_ps(o, a70); _mm512_storeu_ps(o + 16, a71);
    }
    if (t0 < cols) {
        __m512 a[PANEL];
        for (int r = 0; r < PANEL; r++) a[r] = accumulate ? _mm512_loadu_ps(m + r * ldm + t0) : _mm512_setzero_ps();
        const float *vc = v + t0, *uc = u;
        for (int64_t c = 0; c < C; c++, vc += ld, uc += PANEL) {
            const __m512 x0 = _mm512_loadu_ps(vc);
            for (int r = 0; r < PANEL; r++) a[r] = _mm512_fmadd_ps(_mm512_set1_ps(uc[r]), x0, a[r]);
        }
        for (int r = 0; r < PANEL; r++) _mm512_storeu_ps(m + r * ldm + t0, a[r]);
    }
}

/* 4 rows x 16 columns (8 ymm accumulators), run for both halves of the panel. */
LSEG_WP_AVX2 static void panel_avx2(const float *u, const float *v, int64_t ld, int64_t C, float *m, int64_t ldm,
                                    int64_t cols, int accumulate) {
    for (int64_t t0 = 0; t0 < cols; t0 += 16) {
        for (int half = 0; half < 2; half++) {
            __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            if (accumulate) {
                const float *o = m + 4 * half * ldm + t0;
                a00 = _mm256_loadu_ps(o); a01 = _mm256_loadu_ps(o + 8); o += ldm;
                a10 = _mm256_loadu_ps(o); a11 = _mm256_loadu_ps(o + 8); o += ldm;
                a20 = _mm256_loadu_ps(o); a21 = _mm256_loadu_ps(o + 8); o += ldm;
                a30 = _mm256_loadu_ps(o); a31 = _mm256_loadu_ps(o + 8);
            }
            const float *vc = v + t0, *uc = u + 4 * half;
            for (int64_t c = 0; c < C; c++, vc += ld, uc += PANEL) {
                const __m256 x0 = _mm256_loadu_ps(vc), x1 = _mm256_loadu_ps(vc + 8);
                __m256 w;
                w = _mm256_broadcast_ss(uc + 0); a00 = _mm256_fmadd_ps(w, x0, a00); a01 = _mm256_fmadd_ps(w, x1, a01);
                w = _mm256_broadcast_ss(uc + 1); a10 = _mm256_fmadd_ps(w, x0, a10); a11 = _mm256_fmadd_ps(w, x1, a11);
                w = _mm256_broadcast_ss(uc + 2); a20 = _mm256_fmadd_ps(w, x0, a20); a21 = _mm256_fmadd_ps(w, x1, a21);
                w = _mm256_broadcast_ss(uc + 3); a30 = _mm256_fmadd_ps(w, x0, a30); a31 = _mm256_fmadd_ps(w, x1, a31);
            }
            float *o = m + 4 * half * ldm + t0;
            _mm256_storeu_ps(o, a00); _mm256_storeu_ps(o + 8, a01); o += ldm;
            _mm256_storeu_ps(o, a10); _mm256_storeu_ps(o + 8, a11); o += ldm;
            _mm256_storeu_ps(o, a20); _mm256_storeu_ps(o + 8, a21); o += ldm;
            _mm256_storeu_ps(o, a30); _mm256_storeu_ps(o + 8, a31);
        }
    }
}

#endif

#if defined(__aarch64__)
/* 8 rows x 8 columns: the 8 filter values in two q registers, multiplied by lane. */
static void panel_neon(const float *u, const float *v, int64_t ld, int64_t C, float *m, int64_t ldm, int64_t cols,
                       int accumulate) {
    for (int64_t t0 = 0; t0 < cols; t0 += 8) {
        float32x4_t a[PANEL][2];
        for (int r = 0; r < PANEL; r++) {
            a[r][0] = accumulate ? vld1q_f32(m + r * ldm + t0) : vdupq_n_f32(0.0f);
            a[r][1] = accumulate ? vld1q_f32(m + r * ldm + t0 + 4) : vdupq_n_f32(0.0f);
        }
        const float *vc = v + t0, *uc = u;
        for (int64_t c = 0; c < C; c++, vc += ld, uc += PANEL) {
            const float32x4_t x0 = vld1q_f32(vc), x1 = vld1q_f32(vc + 4);
            const float32x4_t w0 = vld1q_f32(uc), w1 = vld1q_f32(uc + 4);
            a[0][0] = vfmaq_laneq_f32(a[0][0], x0, w0, 0); a[0][1] = vfmaq_laneq_f32(a[0][1], x1, w0, 0);
            a[1][0] = vfmaq_laneq_f32(a[1][0], x0, w0, 1); a[1][1] = vfmaq_laneq_f32(a[1][1], x1, w0, 1);
            a[2][0] = vfmaq_laneq_f32(a[2][0], x0, w0, 2); a[2][1] = vfmaq_laneq_f32(a[2][1], x1, w0, 2);
            a[3][0] = vfmaq_laneq_f32(a[3][0], x0, w0, 3); a[3][1] = vfmaq_laneq_f32(a[3][1], x1, w0, 3);
            a[4][0] = vfmaq_laneq_f32(a[4][0], x0, w1, 0); a[4][1] = vfmaq_laneq_f32(a[4][1], x1, w1, 0);
            a[5][0] = vfmaq_laneq_f32(a[5][0], x0, w1, 1); a[5][1] = vfmaq_laneq_f32(a[5][1], x1, w1, 1);
            a[6][0] = vfmaq_laneq_f32(a[6][0], x0, w1, 2); a[6][1] = vfmaq_laneq_f32(a[6][1], x1, w1, 2);
            a[7][0] = vfmaq_laneq_f32(a[7][0], x0, w1, 3); a[7][1] = vfmaq_laneq_f32(a[7][1], x1, w1, 3);
        }
        for (int r = 0; r < PANEL; r++) {
            vst1q_f32(m + r * ldm + t0, a[r][0]);
            vst1q_f32(m + r * ldm + t0 + 4, a[r][1]);
        }
    }
}
#endif

typedef void (*panel_fn)(const float *, const float *, int64_t, int64_t, float *, int64_t, int64_t, int);

static panel_fn panel_for(int path) {
    switch (path) {
    case LSEG_WINOGRAD_SCALAR: return panel_scalar;
#if defined(__x86_64__)
    case LSEG_WINOGRAD_AVX2: return lseg_cpu_has_avx2() ? panel_avx2 : NULL;
    case LSEG_WINOGRAD_AVX512: return lseg_cpu_has_avx512f() ? panel_avx512 : NULL;
#endif
#if defined(__aarch64__)
    case LSEG_WINOGRAD_NEON: return panel_neon;
#endif
    default: return NULL;
    }
}

int lseg_winograd_path_supported(int path) { return panel_for(path) != NULL; }

int lseg_winograd_best_path(void) {
    static volatile int cached = -1; /* benign race: every thread computes the same value */
    if (cached >= 0) return cached;
    int best = LSEG_WINOGRAD_SCALAR;
#if defined(__x86_64__)
    if (lseg_cpu_has_avx512f()) best = LSEG_WINOGRAD_AVX512;
    else if (lseg_cpu_has_avx2()) best = LSEG_WINOGRAD_AVX2;
#elif defined(__aarch64__)
    best = LSEG_WINOGRAD_NEON;
#endif
    cached = best;
    return best;
}

int lseg_winograd_products(int path, const float *up, int64_t K, int64_t C, const float *v, int64_t ld,
                           int64_t plane_v, float *m, int64_t plane_m, int64_t cols, int64_t points,
                           int64_t panel_begin, int64_t panel_end) {
    panel_fn panel = panel_for(path);
    if (!panel) return 0;
    const int64_t panels = (K + PANEL - 1) / PANEL;
    /* Blocks of (channels x columns) of v outer, filter panels inner: a block of COLS_BLOCK x
       C_BLOCK floats (16 KB) stays in L1 while the point's filter panels stream past it. Partial
       sums continue from m, so the summation order (and result) does not depend on the blocking. */
    enum { COLS_BLOCK = 32, C_BLOCK = 128 };
    for (int64_t xi = 0; xi < points; xi++) {
        const float *ux = up + xi * panels * C * PANEL, *vx = v + xi * plane_v;
        float *mx = m + xi * plane_m;
        for (int64_t t0 = 0; t0 < cols; t0 += COLS_BLOCK) {
            const int64_t w = cols - t0 < COLS_BLOCK ? cols - t0 : COLS_BLOCK;
            for (int64_t c0 = 0; c0 < C; c0 += C_BLOCK) {
                const int64_t cn = C - c0 < C_BLOCK ? C - c0 : C_BLOCK;
                for (int64_t p = panel_begin; p < panel_end && p < panels; p++)
                    panel(ux + (p * C + c0) * PANEL, vx + c0 * ld + t0, ld, cn, mx + p * PANEL * ld + t0, ld, w, c0 > 0);
            }
        }
    }
    return 1;
}

