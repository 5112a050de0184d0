/* Fused self-attention over a packed qkv tensor (ViT image tower): per head and block of query
   rows, scores = scale * q K^T stay in a small scratch block, softmax is taken per row and the
   weighted sum P V is written straight into the [B, N, C] output, so neither the [H, N, N] scores
   nor per-head copies of q, k, v are ever materialised. The products go through
   lseg_small_matmul_f32_variant (portable, AVX2, AVX-512 chosen at run time); the softmax body is
   compiled once per target below. */
#include "CKernels.h"
#include "basic_math.h"

/* Query rows per block: a [rows, N] scores block of 577 tokens is 74 KB and stays in L2. */
#define ATTN_ROWS 32
#define ATTN_LANES 16

size_t lseg_attention_workspace_floats(size_t tokens, size_t head_dim) {
    /* K^T (padded to whole 32-token panels for the AVX-512 path), V, a scores block, 1 / sums. */
    const size_t padded = (tokens + 31) / 32 * 32;
    size_t floats = head_dim * padded + head_dim * tokens + ATTN_ROWS * tokens + ATTN_ROWS;
    return (floats + 15) / 16 * 16;
}

/* Scales a row of scores in place and returns its maximum (lane l takes elements i % 16). */
LSEG_INLINE float scale_row_max(float *x, size_t n, float scale) {
    float mx[ATTN_LANES];
    for (int l = 0; l < ATTN_LANES; l++) mx[l] = -__builtin_inff();
    size_t i = 0;
    for (; i + ATTN_LANES <= n; i += ATTN_LANES)
        for (int l = 0; l < ATTN_LANES; l++) {
            float v = x[i + l] * scale;
            x[i + l] = v;
            mx[l] = v > mx[l] ? v : mx[l];
        }
    for (size_t l = 0; i + l < n; l++) {
        float v = x[i + l] * scale;
        x[i + l] = v;
        mx[l] = v > mx[l] ? v : mx[l];
    }
    float m = mx[0];
    for (int l = 1; l < ATTN_LANES; l++) m = mx[l] > m ? mx[l] : m;
    return m;
}

/* Scales a row of scores, exponentiates it against its maximum and returns the sum (unnormalised
   softmax). Every lane of the sum takes elements i % 16 in order and the lanes are combined in one
   fixed order, so every target sums alike. NaN or infinite scores give a NaN sum (ONNX Runtime
   gives a NaN row there too), which the caller's scaling spreads over the output row. */
LSEG_INLINE float softmax_unnormalised_body(float *x, size_t n, float scale) {
    const float m = scale_row_max(x, n, scale);
    size_t i;
    float acc[ATTN_LANES];
    for (int l = 0; l < ATTN_LANES; l++) acc[l] = 0.0f;
    i = 0;
    /* Four vectors of exponentials before they are added in order: the same sums, with four
       exp dependency chains in flight instead of one. */
    for (; i + 4 * ATTN_LANES <= n; i += 4 * ATTN_LANES) {
        float e[4 * ATTN_LANES];
        for (int l = 0; l < 4 * ATTN_LANES; l++) e[l] = lseg_exp_approx(x[i + l] - m);
        for (int l = 0; l < 4 * ATTN_LANES; l++) x[i + l] = e[l];
        for (int q = 0; q < 4; q++)
            for (int l = 0; l < ATTN_LANES; l++) acc[l] += e[q * ATTN_LANES + l];
    }
    for (; i + ATTN_LANES <= n; i += ATTN_LANES)
        for (int l = 0; l < ATTN_LANES; l++) {
            float e = lseg_exp_approx(x[i + l] - m);
            x[i + l] = e;
            acc[l] += e;
        }
    for (size_t l = 0; i + l < n; l++) {
        float e = lseg_exp_approx(x[i + l] - m);
        x[i + l] = e;
        acc[l] += e;
    }
    float s = 0.0f;
    for (int l = 0; l < ATTN_LANES; l += 4) s += (acc[l] + acc[l + 1]) + (acc[l + 2] + acc[l + 3]);
    return s;
}

/* Copies a [rows, cols] block with row stride ld into contiguous memory, transposed when asked. */
LSEG_INLINE void pack_panel(const float *src, size_t ld, size_t rows, size_t cols, int transpose, float *dst) {
    if (transpose) {
        for (size_t j = 0; j < rows; j++)
            for (size_t d = 0; d < cols; d++) dst[d * rows + j] = src[j * ld + d];
    } else {
        for (size_t j = 0; j < rows; j++) memcpy(dst + j * cols, src + j * ld, cols * sizeof(float));
    }
}

/* Rows row0..<row1 of one (batch, head) pair: K^T and V of the head are packed once, then each
   block of query rows runs scores -> softmax -> P V -> 1 / sum. */
LSEG_INLINE void attention_body(int variant, const float *qkv, float *out, size_t tokens, size_t heads,
                                size_t head_dim, float scale, size_t batch, size_t head, size_t row0, size_t row1,
                                float *ws, float (*softmax_row)(float *, size_t, float)) {
    const size_t n = tokens, d = head_dim, c = heads * head_dim, ld = 3 * c;
    const float *base = qkv + batch * n * ld;
    const float *q = base + head * d, *k = base + c + head * d, *v = base + 2 * c + head * d;
    float *o = out + batch * n * c + head * d;
    float *kt = ws, *vp = ws + d * n, *scores = ws + 2 * d * n, *inv = scores + ATTN_ROWS * n;
    pack_panel(k, ld, n, d, 1, kt);
    pack_panel(v, ld, n, d, 0, vp);
    for (size_t r0 = row0; r0 < row1; r0 += ATTN_ROWS) {
        const size_t rows = row1 - r0 < ATTN_ROWS ? row1 - r0 : ATTN_ROWS;
        lseg_small_matmul_f32_variant(variant, q + r0 * ld, ld, kt, n, scores, n, rows, d, n);
        for (size_t r = 0; r < rows; r++) inv[r] = 1.0f / softmax_row(scores + r * n, n, scale);
        lseg_small_matmul_f32_variant(variant, scores, n, vp, d, o + r0 * c, c, rows, n, d);
        for (size_t r = 0; r < rows; r++) {
            float *orow = o + (r0 + r) * c;
            const float f = inv[r];
            for (size_t j = 0; j < d; j++) orow[j] *= f;
        }
    }
}

static float softmax_row_portable(float *x, size_t n, float scale) { return softmax_unnormalised_body(x, n, scale); }
static void attention_portable(const float *qkv, float *out, size_t tokens, size_t heads, size_t head_dim, float scale,
                               size_t batch, size_t head, size_t row0, size_t row1, float *ws) {
    attention_body(0, qkv, out, tokens, heads, head_dim, scale, batch, head, row0, row1, ws, softmax_row_portable);
}
#if LSEG_X86
LSEG_AVX2 static float softmax_row_avx2(float *x, size_t n, float scale) { return softmax_unnormalised_body(x, n, scale); }
LSEG_AVX2 static void attention_avx2(const float *qkv, float *out, size_t tokens, size_t heads, size_t head_dim,
                                     float scale, size_t batch, size_t head, size_t row0, size_t row1, float *ws) {
    attention_body(1, qkv, out, tokens, heads, head_dim, scale, batch, head, row0, row1, ws, softmax_row_avx2);
}
#define LSEG_ATTN_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))
#include <immintrin.h>

/* The AVX-512 path computes the same values as the shared body (each product a plain k-ordered
   chain of fused multiply-adds from zero, the same softmax arithmetic), but arranged for the
   caches: K^T packed in 32-column panels (one aligned 128-byte row per k step), every panel of
   scores computed for all query rows of the block while it is in L1, P V in depth chunks that
   stay in L1 across the row blocks (partial sums go through the output and back, exactly), and
   the softmax body compiled for AVX-512. On vitl16's 577 tokens (one core, best of 6) this went
   from 21.0 to 19.7 ms per layer; both are far from the GEMM rate (about 65 of 150 GFLOP/s). */
#define ATTN_PANEL 32
#define ATTN_DEPTH_CHUNK 128

/* acc (8 rows x 32 columns, masked to cols) over k steps of a[r * lda + p] * b[p * ldb + j],
   starting from zero or from c (accumulate), stored to c for the first `rows` rows. */
LSEG_ATTN_AVX512 static inline void attn_tile(const float *a, size_t lda, const float *b, size_t ldb, size_t k,
                                              float *c, size_t ldc, size_t rows, size_t cols, int accumulate) {
    const __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
    const __mmask16 m1 = cols <= 16 ? 0 : cols >= 32 ? 0xFFFF : (__mmask16)((1u << (cols - 16)) - 1);
    const float *a0 = a, *a1 = a + (1 < rows ? 1 : rows - 1) * lda, *a2 = a + (2 < rows ? 2 : rows - 1) * lda,
                *a3 = a + (3 < rows ? 3 : rows - 1) * lda, *a4 = a + (4 < rows ? 4 : rows - 1) * lda,
                *a5 = a + (5 < rows ? 5 : rows - 1) * lda, *a6 = a + (6 < rows ? 6 : rows - 1) * lda,
                *a7 = a + (7 < rows ? 7 : rows - 1) * lda;
    __m512 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51, c60, c61, c70, c71;
    if (accumulate) {
#define LOADROW(R, X0, X1) X0 = R < rows ? _mm512_maskz_loadu_ps(m0, c + R * ldc) : _mm512_setzero_ps(); \
                           X1 = R < rows ? _mm512_maskz_loadu_ps(m1, c + R * ldc + 16) : _mm512_setzero_ps();
        LOADROW(0, c00, c01) LOADROW(1, c10, c11) LOADROW(2, c20, c21) LOADROW(3, c30, c31)
        LOADROW(4, c40, c41) LOADROW(5, c50, c51) LOADROW(6, c60, c61) LOADROW(7, c70, c71)
#undef LOADROW
    } else {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = _mm512_setzero_ps();
        c40 = c41 = c50 = c51 = c60 = c61 = c70 = c71 = _mm512_setzero_ps();
    }
    for (size_t p = 0; p < k; p++) {
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, b + p * ldb), b1 = _mm512_maskz_loadu_ps(m1, b + p * ldb + 16);
        __m512 s;
        s = _mm512_set1_ps(a0[p]); c00 = _mm512_fmadd_ps(s, b0, c00); c01 = _mm512_fmadd_ps(s, b1, c01);
        s = _mm512_set1_ps(a1[p]); c10 = _mm512_fmadd_ps(s, b0, c10); c11 = _mm512_fmadd_ps(s, b1, c11);
        s = _mm512_set1_ps(a2[p]); c20 = _mm512_fmadd_ps(s, b0, c20); c21 = _mm512_fmadd_ps(s, b1, c21);
        s = _mm512_set1_ps(a3[p]); c30 = _mm512_fmadd_ps(s, b0, c30); c31 = _mm512_fmadd_ps(s, b1, c31);
        s = _mm512_set1_ps(a4[p]); c40 = _mm512_fmadd_ps(s, b0, c40); c41 = _mm512_fmadd_ps(s, b1, c41);
        s = _mm512_set1_ps(a5[p]); c50 = _mm512_fmadd_ps(s, b0, c50); c51 = _mm512_fmadd_ps(s, b1, c51);
        s = _mm512_set1_ps(a6[p]); c60 = _mm512_fmadd_ps(s, b0, c60); c61 = _mm512_fmadd_ps(s, b1, c61);
        s = _mm512_set1_ps(a7[p]); c70 = _mm512_fmadd_ps(s, b0, c70); c71 = _mm512_fmadd_ps(s, b1, c71);
    }
#define STOREROW(R, X0, X1) if (R < rows) { _mm512_mask_storeu_ps(c + R * ldc, m0, X0); _mm512_mask_storeu_ps(c + R * ldc + 16, m1, X1); }
    STOREROW(0, c00, c01) STOREROW(1, c10, c11) STOREROW(2, c20, c21) STOREROW(3, c30, c31)
    STOREROW(4, c40, c41) STOREROW(5, c50, c51) STOREROW(6, c60, c61) STOREROW(7, c70, c71)
#undef STOREROW
}

LSEG_ATTN_AVX512 static float softmax_row_avx512(float *x, size_t n, float scale) {
    return softmax_unnormalised_body(x, n, scale);
}

LSEG_ATTN_AVX512 static void attention_avx512(const float *qkv, float *out, size_t tokens, size_t heads,
                                              size_t head_dim, float scale, size_t batch, size_t head, size_t row0,
                                              size_t row1, float *ws) {
    const size_t n = tokens, d = head_dim, c = heads * head_dim, ld = 3 * c;
    const size_t panels = (n + ATTN_PANEL - 1) / ATTN_PANEL;
    const float *base = qkv + batch * n * ld;
    const float *q = base + head * d, *k = base + c + head * d, *v = base + 2 * c + head * d;
    float *o = out + batch * n * c + head * d;
    float *ktp = ws, *vp = ktp + panels * ATTN_PANEL * d, *scores = vp + d * n, *inv = scores + ATTN_ROWS * n;
    /* K^T in panels: ktp[panel][p][j] = k[panel * 32 + j][p], zero past the last token. Written
       in order, reading the panel's 32 token rows (L1 after the first p); scalar on purpose:
       vectorized, either order became a slow gather or scatter. */
    for (size_t pn = 0; pn < panels; pn++) {
        float *dst = ktp + pn * d * ATTN_PANEL;
        const size_t j0 = pn * ATTN_PANEL, width = n - j0 < ATTN_PANEL ? n - j0 : ATTN_PANEL;
        const float *src = k + j0 * ld;
        for (size_t p = 0; p < d; p++, dst += ATTN_PANEL) {
#if defined(__clang__)
#pragma clang loop vectorize(disable)
#endif
            for (size_t j = 0; j < width; j++) dst[j] = src[j * ld + p];
            for (size_t j = width; j < ATTN_PANEL; j++) dst[j] = 0.0f;
        }
    }
    pack_panel(v, ld, n, d, 0, vp);
    for (size_t r0 = row0; r0 < row1; r0 += ATTN_ROWS) {
        const size_t rows = row1 - r0 < ATTN_ROWS ? row1 - r0 : ATTN_ROWS;
        /* Scores: panel outer, so its 32 x d block of K^T serves every row block from L1. */
        for (size_t pn = 0; pn < panels; pn++) {
            const size_t j0 = pn * ATTN_PANEL, cols = n - j0 < ATTN_PANEL ? n - j0 : ATTN_PANEL;
            for (size_t i = 0; i < rows; i += 8)
                attn_tile(q + (r0 + i) * ld, ld, ktp + pn * d * ATTN_PANEL, ATTN_PANEL, d, scores + i * n + j0, n,
                          rows - i < 8 ? rows - i : 8, cols, 0);
        }
        for (size_t r = 0; r < rows; r++) inv[r] = 1.0f / softmax_row_avx512(scores + r * n, n, scale);
        /* P V: output columns, then depth chunks, then row blocks. */
        for (size_t j0 = 0; j0 < d; j0 += ATTN_PANEL) {
            const size_t cols = d - j0 < ATTN_PANEL ? d - j0 : ATTN_PANEL;
            for (size_t p0 = 0; p0 < n; p0 += ATTN_DEPTH_CHUNK) {
                const size_t kc = n - p0 < ATTN_DEPTH_CHUNK ? n - p0 : ATTN_DEPTH_CHUNK;
                for (size_t i = 0; i < rows; i += 8)
                    attn_tile(scores + i * n + p0, n, vp + p0 * d + j0, d, kc, o + (r0 + i) * c + j0, c,
                              rows - i < 8 ? rows - i : 8, cols, p0 > 0);
            }
        }
        for (size_t r = 0; r < rows; r++) {
            float *orow = o + (r0 + r) * c;
            const float f = inv[r];
            for (size_t j = 0; j < d; j++) orow[j] *= f;
        }
    }
}
#endif

void lseg_attention_f32_variant(int variant, const float *qkv, float *out, size_t tokens, size_t heads,
                                size_t head_dim, float scale, size_t batch, size_t head, size_t row0, size_t row1,
                                float *workspace) {
    if (row1 > tokens) row1 = tokens;
    if (row0 >= row1 || head_dim == 0) return;
#if LSEG_X86
    /* The VNNI probe also checks that the OS saves the AVX-512 state (as the small matmul does). */
    if (variant >= 2 && lseg_cpu_has_avx512_vnni()) {
        attention_avx512(qkv, out, tokens, heads, head_dim, scale, batch, head, row0, row1, workspace);
        return;
    }
    if (variant >= 1 && lseg_basic_use_avx2()) {
        attention_avx2(qkv, out, tokens, heads, head_dim, scale, batch, head, row0, row1, workspace);
        return;
    }
#endif
    (void)variant;
    attention_portable(qkv, out, tokens, heads, head_dim, scale, batch, head, row0, row1, workspace);
}

void lseg_attention_f32(const float *qkv, float *out, size_t tokens, size_t heads, size_t head_dim, float scale,
                        size_t batch, size_t head, size_t row0, size_t row1, float *workspace) {
    lseg_attention_f32_variant(2, qkv, out, tokens, heads, head_dim, scale, batch, head, row0, row1, workspace);
}
