/* int8 GEMM kernels (scalar, AVX2, NEON, NEON dotprod) for QLinear and QConv; see kernels_int8.h. */
#include "kernels_int8.h"
#include "kernels_heavy.h"
#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LSEG_I8_X86 1
int lseg_cpu_has_avx2(void);
#include "int8_vnni.h"
#endif
#if defined(__aarch64__)
#include <arm_neon.h>
#define LSEG_I8_ARM 1
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#elif defined(__APPLE__)
#include <sys/sysctl.h>
#endif
#if defined(__clang__)
#define LSEG_DOTPROD __attribute__((target("dotprod")))
#else
#define LSEG_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#endif
#endif

#define NR_MAX 32
#define MR_MAX 8

/* ---- feature detection and layout ---- */

#if defined(LSEG_I8_ARM)
static int dotprod_supported(void) {
#if defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__APPLE__)
    int v = 0; size_t len = sizeof v;
    if (sysctlbyname("hw.optional.arm.FEAT_DotProd", &v, &len, NULL, 0) != 0) return 0;
    return v != 0;
#else
    return 0;
#endif
}
#endif

int lseg_i8_path_available(int path) {
    switch (path) {
    case LSEG_I8_SCALAR: return 1;
#if defined(LSEG_I8_X86)
    case LSEG_I8_AVX2: return lseg_cpu_has_avx2();
    case LSEG_I8_AVX512_VNNI: return lseg_cpu_has_avx512_vnni();
#endif
#if defined(LSEG_I8_ARM)
    case LSEG_I8_NEON: return 1;
    case LSEG_I8_NEON_DOT: return dotprod_supported();
#endif
    default: return 0;
    }
}

int lseg_i8_best_path(void) {
    /* Benign race: every thread computes the same value. */
    static volatile int cached = -1;
    int p = cached;
    if (p < 0) {
        p = LSEG_I8_SCALAR;
        if (lseg_i8_path_available(LSEG_I8_NEON_DOT)) p = LSEG_I8_NEON_DOT;
        else if (lseg_i8_path_available(LSEG_I8_NEON)) p = LSEG_I8_NEON;
        else if (lseg_i8_path_available(LSEG_I8_AVX512_VNNI)) p = LSEG_I8_AVX512_VNNI;
        else if (lseg_i8_path_available(LSEG_I8_AVX2)) p = LSEG_I8_AVX2;
        cached = p;
    }
    return p;
}

const char *lseg_i8_path_name(int path) {
    switch (path) {
    case LSEG_I8_AVX2: return "avx2";
    case LSEG_I8_AVX512_VNNI: return "avx512-vnni";
    case LSEG_I8_NEON: return "neon";
    case LSEG_I8_NEON_DOT: return "neon-dotprod";
    default: return "scalar";
    }
}

int lseg_i8_mr(int path) {
    switch (path) {
    case LSEG_I8_AVX2: return 6;
    case LSEG_I8_NEON_DOT: return 8;
    case LSEG_I8_AVX512_VNNI: return 8;
    default: return 4;
    }
}

int lseg_i8_nr(int path) { return path == LSEG_I8_AVX512_VNNI ? 32 : 8; }

/* AVX2 keeps operands widened to int16 so vpmaddwd needs no extension in the inner loop. */
int lseg_i8_esize(int path) { return path == LSEG_I8_AVX2 ? 2 : 1; }

int64_t lseg_i8_kp(int64_t k) { return (k + 3) / 4 * 4; }

static inline int64_t rows_padded(int path, int64_t m) {
    const int64_t mr = lseg_i8_mr(path);
    return (m + mr - 1) / mr * mr;
}

int64_t lseg_i8_rows_bytes(int path, int64_t m, int64_t k) {
    const int64_t mp = rows_padded(path, m);
    /* VNNI: the row sums follow the rows (the kernel removes the +128 of the unsigned columns). */
    return mp * lseg_i8_kp(k) * lseg_i8_esize(path) + (path == LSEG_I8_AVX512_VNNI ? mp * 4 : 0);
}

int64_t lseg_i8_cols_bytes(int path, int64_t n, int64_t k) {
    const int64_t nr = lseg_i8_nr(path);
    return (n + nr - 1) / nr * nr * lseg_i8_kp(k) * lseg_i8_esize(path);
}

/* Where the VNNI row sums live inside a rows buffer of m rows, depth k. */
static inline int32_t *rows_sums(int path, void *rows, int64_t m, int64_t k) {
    return (int32_t *)((char *)rows + rows_padded(path, m) * lseg_i8_kp(k));
}

/* Stores one column element: int16 for AVX2, unsigned (v + 128, i.e. v ^ 0x80) for VNNI. */
static inline void put_col(int path, void *base, int64_t index, int8_t v) {
    if (path == LSEG_I8_AVX2) ((int16_t *)base)[index] = v;
    else if (path == LSEG_I8_AVX512_VNNI) ((uint8_t *)base)[index] = (uint8_t)v ^ 0x80;
    else ((int8_t *)base)[index] = v;
}

static inline void put(void *base, int64_t index, int es, int8_t v) {
    if (es == 2) ((int16_t *)base)[index] = v;
    else ((int8_t *)base)[index] = v;
}

/* Index of element (j, k) inside the cols format. */
static inline int64_t cols_index(int64_t j, int64_t kk, int64_t kp, int64_t nr) {
    return (j / nr) * kp * nr + (kk / 4) * (4 * nr) + (j % nr) * 4 + (kk % 4);
}

/* ---- quantization and packing ---- */

static inline int8_t quantize_shifted(float v, float scale, int32_t zp) {
    float q = nearbyintf(v / scale) + (float)zp;
    if (q != q) q = (float)zp;
    if (q < 0.0f) q = 0.0f;
    if (q > 255.0f) q = 255.0f;
    return (int8_t)((int32_t)q - 128);
}

void lseg_i8_quantize(const float *x, int64_t count, float scale, int32_t zp, int8_t *q) {
    for (int64_t i = 0; i < count; i++) q[i] = quantize_shifted(x[i], scale, zp);
}

void lseg_i8_quantize_rows(int path, const float *x, int64_t ldx, int64_t m, int64_t k, float scale, int32_t zp,
                           int64_t r_begin, int64_t r_end, void *rows) {
    const int es = lseg_i8_esize(path);
    const int64_t kp = lseg_i8_kp(k);
    for (int64_t r = r_begin; r < r_end; r++) {
        const float *xr = x + r * ldx;
        if (es == 2) {
            int16_t *d = (int16_t *)rows + r * kp;
            for (int64_t i = 0; i < k; i++) d[i] = quantize_shifted(xr[i], scale, zp);
            for (int64_t i = k; i < kp; i++) d[i] = 0;
        } else {
            int8_t *d = (int8_t *)rows + r * kp;
            int32_t sum = 0;
            for (int64_t i = 0; i < k; i++) { d[i] = quantize_shifted(xr[i], scale, zp); sum += d[i]; }
            for (int64_t i = k; i < kp; i++) d[i] = 0;
            if (path == LSEG_I8_AVX512_VNNI) rows_sums(path, rows, m, k)[r] = sum;
        }
    }
}

void lseg_i8_pack_rows(int path, const int8_t *src, int64_t ld, int64_t m, int64_t k,
                       int64_t r_begin, int64_t r_end, void *rows) {
    const int es = lseg_i8_esize(path);
    const int64_t kp = lseg_i8_kp(k);
    for (int64_t r = r_begin; r < r_end; r++) {
        int32_t sum = 0;
        for (int64_t i = 0; i < kp; i++) {
            const int8_t v = (r < m && i < k) ? src[r * ld + i] : 0;
            put(rows, r * kp + i, es, v);
            sum += v;
        }
        if (path == LSEG_I8_AVX512_VNNI) rows_sums(path, rows, m, k)[r] = sum;
    }
}

void lseg_i8_pack_cols(int path, const int8_t *src, int64_t stride_j, int64_t stride_k, int64_t n,
                       int64_t k, int64_t panel_begin, int64_t panel_end, void *cols) {
    const int64_t kp = lseg_i8_kp(k), nr = lseg_i8_nr(path);
    for (int64_t pn = panel_begin; pn < panel_end; pn++) {
        for (int64_t t = 0; t < nr; t++) {
            int64_t j = pn * nr + t;
            for (int64_t i = 0; i < kp; i++) {
                int8_t v = (j < n && i < k) ? src[j * stride_j + i * stride_k] : 0;
                put_col(path, cols, cols_index(j, i, kp, nr), v);
            }
        }
    }
}

void lseg_i8_im2col_pack(int path, const int8_t *x, const lseg_i8_window *w, int8_t pad,
                         int64_t p_begin, int64_t p_end, int64_t panel_begin, int64_t panel_end, void *cols) {
    const int64_t n = p_end - p_begin, nr = lseg_i8_nr(path);
    const int64_t kk = w->kernel_h * w->kernel_w, k = w->channels * kk, kp = lseg_i8_kp(k);
    const int64_t H = w->height, W = w->width;
    for (int64_t pn = panel_begin; pn < panel_end; pn++) {
        /* Top-left input corner of each column's window (columns past n are zero). */
        int64_t top[NR_MAX], left[NR_MAX];
        for (int64_t t = 0; t < nr; t++) {
            int64_t j = pn * nr + t, p = p_begin + j;
            top[t] = (p / w->out_width) * w->stride_h - w->pad_h;
            left[t] = (p % w->out_width) * w->stride_w - w->pad_w;
        }
        const int64_t valid = n - pn * nr < nr ? n - pn * nr : nr;
        int64_t row = 0;
        for (int64_t c = 0; c < w->channels; c++) {
            const int8_t *xc = x + c * H * W;
            for (int64_t i = 0; i < w->kernel_h; i++) {
                for (int64_t jj = 0; jj < w->kernel_w; jj++, row++) {
                    int64_t base = cols_index(pn * nr, row, kp, nr);
                    for (int64_t t = 0; t < nr; t++) {
                        int8_t v = 0;
                        if (t < valid) {
                            int64_t ih = top[t] + i * w->dilation_h, iw = left[t] + jj * w->dilation_w;
                            v = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? xc[ih * W + iw] : pad;
                        }
                        put_col(path, cols, base + t * 4, v);
                    }
                }
            }
        }
        for (; row < kp; row++) {
            int64_t base = cols_index(pn * nr, row, kp, nr);
            for (int64_t t = 0; t < nr; t++) put_col(path, cols, base + t * 4, 0);
        }
    }
}

void lseg_i8_row_sums(const int8_t *w, int64_t ld, int64_t n, int64_t k, int32_t *sums) {
    for (int64_t r = 0; r < n; r++) {
        int32_t s = 0;
        for (int64_t i = 0; i < k; i++) s += w[r * ld + i];
        sums[r] = s;
    }
}

/* ---- micro-kernels: one MR x NR tile over the whole depth ---- */

#define NR 8
static void kernel_scalar(const int8_t *a, const int8_t *b, int64_t kp, int32_t tile[MR_MAX][NR]) {
    enum { MR = 4 };
    int32_t acc[MR][NR] = {{0}};
    for (int64_t g = 0; g < kp / 4; g++) {
        const int8_t *bg = b + g * 4 * NR;
        for (int r = 0; r < MR; r++) {
            const int8_t *ar = a + r * kp + g * 4;
            for (int t = 0; t < NR; t++) {
                acc[r][t] += ar[0] * bg[t * 4] + ar[1] * bg[t * 4 + 1] + ar[2] * bg[t * 4 + 2] + ar[3] * bg[t * 4 + 3];
            }
        }
    }
    for (int r = 0; r < MR; r++) for (int t = 0; t < NR; t++) tile[r][t] = acc[r][t];
}

#if defined(LSEG_I8_X86)
/* Operands are int16: per group of 4 k, b0/b1 hold columns 0-3 / 4-7 (4 k each), a holds one row's
   4 k broadcast; vpmaddwd sums k pairs exactly into int32, leaving two partial sums per column. */
__attribute__((target("avx2,fma")))
static void kernel_avx2(const int16_t *a, const int16_t *b, int64_t kp, int32_t tile[MR_MAX][NR]) {
    enum { MR = 6 };
    __m256i acc[MR][2];
    for (int r = 0; r < MR; r++) { acc[r][0] = _mm256_setzero_si256(); acc[r][1] = _mm256_setzero_si256(); }
    for (int64_t g = 0; g < kp / 4; g++) {
        const __m256i b0 = _mm256_loadu_si256((const __m256i *)(b + g * 4 * NR));
        const __m256i b1 = _mm256_loadu_si256((const __m256i *)(b + g * 4 * NR + 16));
        for (int r = 0; r < MR; r++) {
            int64_t four;
            memcpy(&four, a + r * kp + g * 4, sizeof four);
            const __m256i av = _mm256_set1_epi64x(four);
            acc[r][0] = _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(b0, av));
            acc[r][1] = _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(b1, av));
        }
    }
    for (int r = 0; r < MR; r++) {
        /* [c0 c0 c1 c1 | c2 c2 c3 c3] + [c4 c4 c5 c5 | c6 c6 c7 c7] -> [c0 c1 c4 c5 | c2 c3 c6 c7] -> in order. */
        __m256i h = _mm256_hadd_epi32(acc[r][0], acc[r][1]);
        h = _mm256_permute4x64_epi64(h, 0xD8);
        _mm256_storeu_si256((__m256i *)tile[r], h);
    }
}
#endif

#if defined(LSEG_I8_ARM)
/* vmull_s8 + vmlal_s8 put two products in each int16 lane (|sum| <= 2 * 128 * 127 fits), vpadal
   folds pairs into int32; each int32 lane then holds half a column, summed at the end. */
static void kernel_neon(const int8_t *a, const int8_t *b, int64_t kp, int32_t tile[MR_MAX][NR]) {
    enum { MR = 4 };
    int32x4_t acc[MR][4];
    for (int r = 0; r < MR; r++) for (int q = 0; q < 4; q++) acc[r][q] = vdupq_n_s32(0);
    const int64_t groups = kp / 4;
    int64_t g = 0;
    for (; g + 1 < groups; g += 2) {
        const int8x16_t b0 = vld1q_s8(b + g * 4 * NR), b1 = vld1q_s8(b + g * 4 * NR + 16);
        const int8x16_t c0 = vld1q_s8(b + (g + 1) * 4 * NR), c1 = vld1q_s8(b + (g + 1) * 4 * NR + 16);
        for (int r = 0; r < MR; r++) {
            int32_t f0, f1;
            memcpy(&f0, a + r * kp + g * 4, 4);
            memcpy(&f1, a + r * kp + g * 4 + 4, 4);
            const int8x16_t a0 = vreinterpretq_s8_s32(vdupq_n_s32(f0)), a1 = vreinterpretq_s8_s32(vdupq_n_s32(f1));
            int16x8_t p0 = vmull_s8(vget_low_s8(b0), vget_low_s8(a0));
            int16x8_t p1 = vmull_high_s8(b0, a0);
            int16x8_t p2 = vmull_s8(vget_low_s8(b1), vget_low_s8(a0));
            int16x8_t p3 = vmull_high_s8(b1, a0);
            p0 = vmlal_s8(p0, vget_low_s8(c0), vget_low_s8(a1));
            p1 = vmlal_high_s8(p1, c0, a1);
            p2 = vmlal_s8(p2, vget_low_s8(c1), vget_low_s8(a1));
            p3 = vmlal_high_s8(p3, c1, a1);
            acc[r][0] = vpadalq_s16(acc[r][0], p0);
            acc[r][1] = vpadalq_s16(acc[r][1], p1);
            acc[r][2] = vpadalq_s16(acc[r][2], p2);
            acc[r][3] = vpadalq_s16(acc[r][3], p3);
        }
    }
    for (; g < groups; g++) {
        const int8x16_t b0 = vld1q_s8(b + g * 4 * NR), b1 = vld1q_s8(b + g * 4 * NR + 16);
        for (int r = 0; r < MR; r++) {
            int32_t f0;
            memcpy(&f0, a + r * kp + g * 4, 4);
            const int8x16_t a0 = vreinterpretq_s8_s32(vdupq_n_s32(f0));
            acc[r][0] = vpadalq_s16(acc[r][0], vmull_s8(vget_low_s8(b0), vget_low_s8(a0)));
            acc[r][1] = vpadalq_s16(acc[r][1], vmull_high_s8(b0, a0));
            acc[r][2] = vpadalq_s16(acc[r][2], vmull_s8(vget_low_s8(b1), vget_low_s8(a0)));
            acc[r][3] = vpadalq_s16(acc[r][3], vmull_high_s8(b1, a0));
        }
    }
    for (int r = 0; r < MR; r++) {
        vst1q_s32(tile[r], vpaddq_s32(acc[r][0], acc[r][1]));
        vst1q_s32(tile[r] + 4, vpaddq_s32(acc[r][2], acc[r][3]));
    }
}

/* sdot: each int32 lane accumulates one column's 4-k dot product with the broadcast row group. */
LSEG_DOTPROD
static void kernel_neon_dot(const int8_t *a, const int8_t *b, int64_t kp, int32_t tile[MR_MAX][NR]) {
    enum { MR = 8 };
    int32x4_t acc[MR][2];
    for (int r = 0; r < MR; r++) { acc[r][0] = vdupq_n_s32(0); acc[r][1] = vdupq_n_s32(0); }
    for (int64_t g = 0; g < kp / 4; g++) {
        const int8x16_t b0 = vld1q_s8(b + g * 4 * NR), b1 = vld1q_s8(b + g * 4 * NR + 16);
        for (int r = 0; r < MR; r++) {
            int32_t f;
            memcpy(&f, a + r * kp + g * 4, 4);
            const int8x16_t av = vreinterpretq_s8_s32(vdupq_n_s32(f));
            acc[r][0] = vdotq_s32(acc[r][0], b0, av);
            acc[r][1] = vdotq_s32(acc[r][1], b1, av);
        }
    }
    for (int r = 0; r < MR; r++) { vst1q_s32(tile[r], acc[r][0]); vst1q_s32(tile[r] + 4, acc[r][1]); }
}
#endif

static void run_kernel(int path, const void *a, const void *b, int64_t kp, int32_t tile[MR_MAX][NR]) {
    switch (path) {
#if defined(LSEG_I8_X86)
    case LSEG_I8_AVX2: kernel_avx2((const int16_t *)a, (const int16_t *)b, kp, tile); return;
#endif
#if defined(LSEG_I8_ARM)
    case LSEG_I8_NEON: kernel_neon((const int8_t *)a, (const int8_t *)b, kp, tile); return;
    case LSEG_I8_NEON_DOT: kernel_neon_dot((const int8_t *)a, (const int8_t *)b, kp, tile); return;
#endif
    default: kernel_scalar((const int8_t *)a, (const int8_t *)b, kp, tile); return;
    }
}

static void store_tile(int32_t tile[MR_MAX][NR], int64_t i0, int64_t j0, int64_t rows, int64_t cols,
                       const lseg_i8_epilogue *ep, int32_t *c, int64_t ldc) {
    if (!ep) {
        for (int64_t r = 0; r < rows; r++) for (int64_t t = 0; t < cols; t++) c[(i0 + r) * ldc + j0 + t] = tile[r][t];
        return;
    }
    for (int64_t r = 0; r < rows; r++) {
        float *y = ep->y + (i0 + r) * ep->ldy + j0;
        for (int64_t t = 0; t < cols; t++) {
            const int64_t ch = ep->channel_axis == 0 ? i0 + r : j0 + t;
            const int64_t v = (int64_t)tile[r][t] + (int64_t)ep->zp_shift * ep->rowsum[ch];
            y[t] = (float)v * ep->scale[ch] + (ep->bias ? ep->bias[ch] : 0.0f);
        }
    }
    if (ep->act != LSEG_ACT_NONE) lseg_bias_activation(ep->y + i0 * ep->ldy + j0, rows, cols, ep->ldy, NULL, NULL, ep->act, ep->alpha);
}

void lseg_i8_gemm(int path, const void *rows, const void *cols, int64_t m, int64_t n, int64_t k,
                  int64_t i_begin, int64_t i_end, int64_t panel_begin, int64_t panel_end,
                  const lseg_i8_epilogue *ep, int32_t *c, int64_t ldc) {
    const int64_t kp = lseg_i8_kp(k), es = lseg_i8_esize(path), mr = lseg_i8_mr(path);
    if (i_end > m) i_end = m;
#if defined(LSEG_I8_X86)
    if (path == LSEG_I8_AVX512_VNNI) {
        const int32_t *sums = rows_sums(path, (void *)rows, m, k);
        for (int64_t pn = panel_begin; pn < panel_end; pn++) {
            const uint8_t *b = (const uint8_t *)cols + pn * kp * 32;
            const int64_t j0 = pn * 32, nc = n - j0 < 32 ? n - j0 : 32;
            for (int64_t i = i_begin / 8 * 8; i < i_end; i += 8) {
                const int64_t lo = i < i_begin ? i_begin : i, hi = i + 8 < i_end ? i + 8 : i_end;
                lseg_i8_vnni_tile((const int8_t *)rows + i * kp, sums + i, b, kp, i, lo, hi, j0, nc, ep, c, ldc);
            }
        }
        return;
    }
#endif
    int32_t tile[MR_MAX][NR];
    for (int64_t pn = panel_begin; pn < panel_end; pn++) {
        const char *b = (const char *)cols + pn * kp * NR * es;
        const int64_t j0 = pn * NR, nc = n - j0 < NR ? n - j0 : NR;
        /* Tiles start at multiples of MR so they never read past the padded rows. */
        for (int64_t i = i_begin / mr * mr; i < i_end; i += mr) {
            run_kernel(path, (const char *)rows + i * kp * es, b, kp, tile);
            const int64_t lo = i < i_begin ? i_begin : i, hi = i + mr < i_end ? i + mr : i_end;
            store_tile(tile + (lo - i), lo, j0, hi - lo, nc, ep, c, ldc);
        }
    }
}

void lseg_i8_gemm_reference(const int8_t *a, int64_t lda, const int8_t *b, int64_t ldb,
                            int64_t m, int64_t n, int64_t k, int32_t *c, int64_t ldc) {
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            int32_t s = 0;
            for (int64_t t = 0; t < k; t++) s += (int32_t)a[i * lda + t] * (int32_t)b[j * ldb + t];
            c[i * ldc + j] = s;
        }
    }
}
