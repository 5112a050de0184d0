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
    size_t floats = (2 * head_dim + ATTN_ROWS) * tokens + ATTN_ROWS;
    return (floats + 15) / 16 * 16;
}

/* Scales a row of scores, exponentiates it against its maximum and returns the sum (unnormalised
   softmax). Every lane of the sum takes elements i % 16 in order and the lanes are combined in one
   fixed order, so every target sums alike. NaN or infinite scores give a NaN sum (ONNX Runtime
   gives a NaN row there too), which the caller's scaling spreads over the output row. */
LSEG_INLINE float softmax_unnormalised_body(float *x, size_t n, float scale) {
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
    float acc[ATTN_LANES];
    for (int l = 0; l < ATTN_LANES; l++) acc[l] = 0.0f;
    i = 0;
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
LSEG_ATTN_AVX512 static float softmax_row_avx512(float *x, size_t n, float scale) {
    return softmax_unnormalised_body(x, n, scale);
}
LSEG_ATTN_AVX512 static void attention_avx512(const float *qkv, float *out, size_t tokens, size_t heads,
                                              size_t head_dim, float scale, size_t batch, size_t head, size_t row0,
                                              size_t row1, float *ws) {
    attention_body(2, qkv, out, tokens, heads, head_dim, scale, batch, head, row0, row1, ws, softmax_row_avx512);
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
