/* fp32 Linear on weights packed once per model in panels of 32 output columns (the runtime's
   PanelLinearRewrite stores them that way at load on AVX-512 machines): y = x W for row-major
   x [m, k]. Per call the rows of x are packed into tiles of 14 (k-major inside a tile, so a tile's
   14 values for one k are one contiguous group), shared by all threads; each thread then takes
   groups of panels and runs a 14 x 32 register tile over them (28 accumulators, two weight
   vectors and 14 broadcasts per k step).

   Every output is one chain of fused multiply-adds over k in order, starting from zero (between
   depth blocks the partial sum goes through y and back, exactly), so the AVX-512 kernel and the
   scalar reference give the same bits, and a row's outputs do not depend on m or on the row's
   position in its tile (causal truncation of the text tower stays bit-exact). */
#include "CKernels.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define COLS LSEG_PANEL_COLUMNS
#define ROWS LSEG_PANEL_ROWS
/* Depth per pass over a tile: a 14 x 1024 slice of packed rows (56 KB) and the group's weight
   slices (128 KB per panel) stay in L2 while every tile of rows passes over them. */
#define DEPTH_BLOCK 1024
/* Panels per group: each slice of packed rows is used against this many panels before the
   next tile (measured on 577 x 1024 x 4096: 2 best, 1 and 4 within 2 %). */
#define GROUP 2

size_t lseg_panel_weight_floats(size_t k, size_t n) { return (n + COLS - 1) / COLS * k * COLS; }

void lseg_panel_pack_weights(const float *w, int trans_b, size_t k, size_t n, size_t panel0, size_t panel1,
                             float *dst) {
    for (size_t pn = panel0; pn < panel1; pn++) {
        const size_t j0 = pn * COLS, width = n - j0 < COLS ? n - j0 : COLS;
        for (size_t p = 0; p < k; p++) {
            float *row = dst + (pn * k + p) * COLS;
            /* w is [n, k] (column j of the panel is row j0 + j of w) or [k, n] (a run of row p). */
            if (trans_b)
                for (size_t j = 0; j < width; j++) row[j] = w[(j0 + j) * k + p];
            else
                memcpy(row, w + p * n + j0, width * sizeof(float));
            if (width < COLS) memset(row + width, 0, (COLS - width) * sizeof(float));
        }
    }
}

size_t lseg_panel_row_floats(size_t m, size_t k) { return (m + ROWS - 1) / ROWS * ROWS * k; }

#if defined(__x86_64__)
#define LSEG_PL_AVX512 __attribute__((target("avx512f,fma")))

/* r[0..15] transposed in place (r[j] becomes column j): unpacks, in-lane shuffles, then two
   rounds of 128-bit lane shuffles. */
LSEG_PL_AVX512 static inline void transpose16(__m512 r[16]) {
    __m512 t[16], u[16], v[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        u[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int h = 0; h < 2; h++)
        for (int q = 0; q < 4; q++) {
            v[8 * h + q] = _mm512_shuffle_f32x4(u[8 * h + q], u[8 * h + 4 + q], 0x88);
            v[8 * h + 4 + q] = _mm512_shuffle_f32x4(u[8 * h + q], u[8 * h + 4 + q], 0xDD);
        }
    for (int q = 0; q < 8; q++) {
        r[q] = _mm512_shuffle_f32x4(v[q], v[8 + q], 0x88);
        r[8 + q] = _mm512_shuffle_f32x4(v[q], v[8 + q], 0xDD);
    }
}

/* Depth steps [0, p_end) (a multiple of 16) of one whole tile of 14 rows: 16 steps of every row
   are loaded, transposed, and each step's 14 values stored as one run (the scalar loop spent
   about 3 cycles per value, 7 % of a 577 x 4096 -> 1024 product). */
LSEG_PL_AVX512 static void pack_tile_avx512(const float *src, size_t k, size_t p_end, float *out) {
    for (size_t p = 0; p < p_end; p += 16) {
        __m512 r[16];
        for (int i = 0; i < ROWS; i++) r[i] = _mm512_loadu_ps(src + i * k + p);
        for (int i = ROWS; i < 16; i++) r[i] = _mm512_setzero_ps();
        transpose16(r);
        for (int j = 0; j < 16; j++) _mm512_mask_storeu_ps(out + (p + j) * ROWS, (__mmask16)((1u << ROWS) - 1), r[j]);
    }
}
#endif

void lseg_panel_pack_rows(const float *x, size_t m, size_t k, size_t tile0, size_t tile1, float *dst) {
    for (size_t t = tile0; t < tile1; t++) {
        float *out = dst + t * k * ROWS;
        const size_t r0 = t * ROWS, rows = m - r0 < ROWS ? m - r0 : ROWS;
        size_t p = 0;
#if defined(__x86_64__)
        if (rows == ROWS && lseg_cpu_has_avx512f()) {
            p = k / 16 * 16;
            pack_tile_avx512(x + r0 * k, k, p, out);
        }
#endif
        /* 4 depth steps of every row at a time: short runs along each source row. */
        for (; p + 4 <= k; p += 4)
            for (size_t r = 0; r < rows; r++) {
                const float *src = x + (r0 + r) * k + p;
                out[p * ROWS + r] = src[0];
                out[(p + 1) * ROWS + r] = src[1];
                out[(p + 2) * ROWS + r] = src[2];
                out[(p + 3) * ROWS + r] = src[3];
            }
        for (; p < k; p++)
            for (size_t r = 0; r < rows; r++) out[p * ROWS + r] = x[(r0 + r) * k + p];
        if (rows < ROWS)
            for (size_t q = 0; q < k; q++) memset(out + q * ROWS + rows, 0, (ROWS - rows) * sizeof(float));
    }
}

/* The reference tile: c[r][j] (+)= sum over depth of a[p][r] * b[p][j], one fmaf chain per output. */
static void tile_scalar(const float *a, const float *b, size_t depth, float *c, size_t ldc, size_t rows,
                        size_t cols, int accumulate) {
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < cols; j++) {
            float acc = accumulate ? c[r * ldc + j] : 0.0f;
            for (size_t p = 0; p < depth; p++) acc = fmaf(a[p * ROWS + r], b[p * COLS + j], acc);
            c[r * ldc + j] = acc;
        }
}

#if defined(__x86_64__)
LSEG_PL_AVX512 static void tile_avx512(const float *a, const float *b, size_t depth, float *c, size_t ldc,
                                       size_t rows, size_t cols, int accumulate) {
    const __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
    const __mmask16 m1 = cols <= 16 ? 0 : cols >= 32 ? 0xFFFF : (__mmask16)((1u << (cols - 16)) - 1);
    __m512 lo[ROWS], hi[ROWS];
    for (int r = 0; r < ROWS; r++) {
        if (accumulate && (size_t)r < rows) {
            lo[r] = _mm512_maskz_loadu_ps(m0, c + r * ldc);
            hi[r] = _mm512_maskz_loadu_ps(m1, c + r * ldc + 16);
        } else {
            lo[r] = _mm512_setzero_ps();
            hi[r] = _mm512_setzero_ps();
        }
    }
    for (size_t p = 0; p < depth; p++, a += ROWS, b += COLS) {
        const __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        _mm_prefetch((const char *)(b + 16 * COLS), _MM_HINT_T0);
#pragma clang loop unroll(full)
        for (int r = 0; r < ROWS; r++) {
            const __m512 s = _mm512_set1_ps(a[r]);
            lo[r] = _mm512_fmadd_ps(s, b0, lo[r]);
            hi[r] = _mm512_fmadd_ps(s, b1, hi[r]);
        }
    }
    for (int r = 0; r < ROWS; r++)
        if ((size_t)r < rows) {
            _mm512_mask_storeu_ps(c + r * ldc, m0, lo[r]);
            _mm512_mask_storeu_ps(c + r * ldc + 16, m1, hi[r]);
        }
}
#endif

void lseg_panel_linear(int fast, const float *xp, size_t m, size_t k, const float *wp, size_t n, size_t panel0,
                       size_t panel1, float *y, size_t ldy, const float *bias, int act, float alpha) {
    void (*tile)(const float *, const float *, size_t, float *, size_t, size_t, size_t, int) = tile_scalar;
#if defined(__x86_64__)
    if (fast && lseg_cpu_has_avx512f()) tile = tile_avx512;
#endif
    (void)fast;
    const size_t tiles = (m + ROWS - 1) / ROWS;
    const int epilogue = bias != NULL || act != LSEG_ACT_NONE;
    /* The last depth block of a tile goes through this contiguous copy when there is a bias or
       an activation: lseg_bias_activation then runs over 14 x 32 values in one span (its GELU
       loop interleaves four vectors; over 64-column row pieces of y it ran 1.5x slower). */
    float staged[ROWS * COLS];
    for (size_t g0 = panel0; g0 < panel1; g0 += GROUP) {
        const size_t g1 = g0 + GROUP < panel1 ? g0 + GROUP : panel1;
        for (size_t p0 = 0; p0 < k || p0 == 0; p0 += DEPTH_BLOCK) {
            const size_t depth = k - p0 < DEPTH_BLOCK ? k - p0 : DEPTH_BLOCK;
            const int last = p0 + DEPTH_BLOCK >= k;
            for (size_t t = 0; t < tiles; t++) {
                const size_t rows = m - t * ROWS < ROWS ? m - t * ROWS : ROWS;
                for (size_t pn = g0; pn < g1; pn++) {
                    const size_t j0 = pn * COLS, cols = n - j0 < COLS ? n - j0 : COLS;
                    float *c = y + t * ROWS * ldy + j0;
                    const float *a = xp + t * k * ROWS + p0 * ROWS, *b = wp + pn * k * COLS + p0 * COLS;
                    if (!(last && epilogue)) {
                        tile(a, b, depth, c, ldy, rows, cols, p0 > 0);
                        continue;
                    }
                    if (p0 > 0)
                        for (size_t r = 0; r < rows; r++) memcpy(staged + r * cols, c + r * ldy, cols * sizeof(float));
                    tile(a, b, depth, staged, cols, rows, cols, p0 > 0);
                    lseg_bias_activation(staged, (int64_t)rows, (int64_t)cols, (int64_t)cols, bias ? bias + j0 : NULL,
                                         NULL, act, alpha);
                    for (size_t r = 0; r < rows; r++) memcpy(c + r * ldy, staged + r * cols, cols * sizeof(float));
                }
            }
        }
    }
}
